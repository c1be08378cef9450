"""The engine's per-call overheads (issue 20): the one-pass input scan and the kept threads.

The scan: :func:`convcli.engine.arrays.check_magnitude` and
:func:`~convcli.engine.arrays.check_finite` read a float array once through
the native core where they read it twice through numpy; they must refuse
exactly what numpy's reading refuses, with the same words. Oracles:
``numpy.isfinite`` and ``numpy.abs(x).max()`` for the values, and the numpy
reading itself (``CONVCLI_ENGINE=numpy``) for the messages.

The threads: :func:`convcli.engine.threads.run_parallel` keeps its worker
threads between calls; results are the same call after call, no thread is
leaked, concurrent and nested calls each get their threads, an error still
stops a call, and a forked child runs in parallel too.
"""

from __future__ import annotations

import os
import threading
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import convcli
from convcli.engine import arrays, native
from convcli.engine.threads import _POOL, run_parallel
from convcli.errors import ShapeError

_native = pytest.importorskip("convcli.engine._native", reason="native extension not built")


def _numpy_reading(monkeypatch):
    """Make the checks read through numpy (the reference), for a comparison."""
    monkeypatch.setenv("CONVCLI_ENGINE", "numpy")
    native.reset()


def _outcome(f, *args):
    """What a check did: its value, or the type and words of its error."""
    try:
        return ("ok", f(*args))
    except ShapeError as exc:
        return ("refused", str(exc))


SPECIALS32 = np.array(
    [
        np.nan,
        -np.nan,
        np.inf,
        -np.inf,
        np.finfo(np.float32).max,
        -np.finfo(np.float32).max,
        np.finfo(np.float32).tiny,
        1e-45,  # the smallest subnormal
        -0.0,
        0.0,
    ],
    dtype=np.float32,
)
# NaNs numpy would not write itself: a signalling NaN and a negative quiet one, by bits
ODD_NANS32 = np.array([0x7F800001, 0xFFC00000, 0x7FFFFFFF, 0xFF800001], dtype=np.uint32).view(
    np.float32
)
ODD_NANS64 = np.array(
    [0x7FF0000000000001, 0xFFF8000000000000, 0x7FFFFFFFFFFFFFFF], dtype=np.uint64
).view(np.float64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 1000])
def test_scan_finds_each_special_value_at_every_place(variant, dtype, n):
    odd = ODD_NANS32 if dtype == np.float32 else ODD_NANS64
    rng = np.random.default_rng(n)
    base = (rng.standard_normal(n) * 3).astype(dtype)
    for value in [*SPECIALS32.astype(dtype), *odd]:
        for at in sorted({0, n // 2, n - 1, max(n - 8, 0)}):
            x = base.copy()
            x[at] = value
            largest, finite = _native.scan(x)
            assert finite == bool(np.isfinite(x).all())
            if finite:
                assert largest == float(np.abs(x).max())


@settings(max_examples=200, deadline=None)
@given(
    x=hnp.arrays(
        st.sampled_from([np.float32, np.float64]),
        hnp.array_shapes(min_dims=1, max_dims=3, max_side=40),
        elements=st.floats(allow_nan=True, allow_infinity=True, width=32),
    )
)
def test_scan_agrees_with_numpy_on_any_array(x):
    largest, finite = _native.scan(x)
    assert finite == bool(np.isfinite(x).all())
    if finite:
        assert largest == (float(np.abs(x).max()) if x.size else 0.0)


def test_scan_refuses_what_it_cannot_read():
    with pytest.raises(TypeError, match="float32 or float64"):
        _native.scan(np.zeros(4, dtype=np.int32))
    with pytest.raises(TypeError, match="C-contiguous"):
        _native.scan(np.zeros((4, 4), dtype=np.float32)[:, ::2])
    with pytest.raises(TypeError, match="C-contiguous"):
        _native.scan([1.0, 2.0])


def _adversarial_arrays():
    rng = np.random.default_rng(20)
    big32 = np.finfo(np.float32).max
    cases = []
    for dtype in (np.float32, np.float64):
        x = rng.standard_normal((37, 53)).astype(dtype)
        cases.append(x)
        for value in (np.nan, -np.inf, np.inf):
            for at in ((0, 0), (36, 52), (20, 9)):
                y = x.copy()
                y[at] = value
                cases.append(y)
        y = x.copy()
        y[3, 4], y[30, 40] = np.nan, np.inf  # two: the first is named
        cases.append(y)
        cases.append(np.full((5, 5), 1e30, dtype=dtype))  # overflows a 3x3 in float32
        cases.append(np.full((5, 5), -1e30, dtype=dtype))
        cases.append(np.zeros((4, 4), dtype=dtype))
        cases.append(x[:, ::3])  # not contiguous: numpy's reading either way
        cases.append(np.asfortranarray(x))
        cases.append(rng.standard_normal((9, 8, 3)).astype(dtype) * 1e37)
    cases.append(np.full((3, 3), big32, dtype=np.float32))
    cases.append(np.full((3, 3), big32, dtype=np.float64))
    cases.append(np.arange(12, dtype=np.int64).reshape(3, 4) - 6)
    cases.append(np.full((3, 3), 1e30, dtype=np.float32).astype(">f4"))  # byte-swapped
    return cases


@pytest.mark.parametrize("k", range(len(_adversarial_arrays())))
def test_checks_refuse_exactly_what_numpy_reading_refuses(monkeypatch, k):
    x = _adversarial_arrays()[k]
    weights = np.full((1, 1, 3, 3), 1e9)
    fast = [
        _outcome(arrays.check_finite, x, "image"),
        _outcome(arrays.check_magnitude, x, weights, np.dtype(np.float32), "image"),
        _outcome(arrays.check_magnitude, x, weights[..., :1, :1], np.dtype(np.float64), "x"),
    ]
    _numpy_reading(monkeypatch)
    try:
        reference = [
            _outcome(arrays.check_finite, x, "image"),
            _outcome(arrays.check_magnitude, x, weights, np.dtype(np.float32), "image"),
            _outcome(arrays.check_magnitude, x, weights[..., :1, :1], np.dtype(np.float64), "x"),
        ]
    finally:
        monkeypatch.delenv("CONVCLI_ENGINE")
        native.reset()
    assert fast == reference
    # and against the values themselves
    finite = x.dtype.kind != "f" or bool(np.isfinite(x).all())
    assert (fast[0][0] == "ok") == finite


def test_filter2d_still_names_the_first_nan():
    img = np.ones((64, 64), dtype=np.float32)
    img[10, 20] = np.nan
    img[40, 2] = np.inf
    with pytest.raises(ShapeError, match=r"`image` holds a non-finite value \(nan\) at index "):
        convcli.filter2d(img, np.ones((3, 3)))
    with pytest.raises(ShapeError, match=r"at index \(10, 20\)"):
        convcli.filter2d(img, np.ones((3, 3)))


# ---------------------------------------------------------------- the kept threads


def test_a_kept_pool_gives_the_same_results_and_leaks_no_thread():
    rng = np.random.default_rng(1)
    img = rng.standard_normal((300, 200)).astype(np.float32)
    w = rng.standard_normal((5, 5))
    first = convcli.filter2d(img, w, threads=2)
    before = threading.active_count()
    started = _POOL.started
    for _ in range(30):
        np.testing.assert_array_equal(convcli.filter2d(img, w, threads=2), first)
    # the second call onwards starts no thread: the first call's are reused
    assert _POOL.started == started
    assert threading.active_count() == before


def test_each_call_runs_on_its_threads_count():
    seen: list[int] = []
    barrier = threading.Barrier(3, timeout=10)

    def work(_: int) -> None:
        barrier.wait()  # all three items in flight at once: three threads, or a timeout
        seen.append(threading.get_ident())

    run_parallel(work, iter(range(3)), 3)
    assert len(set(seen)) == 3
    assert threading.get_ident() not in seen


def test_concurrent_and_nested_calls_each_get_their_threads():
    results: dict[int, list[int]] = {}

    def outer(k: int) -> None:
        got: list[int] = []
        lock = threading.Lock()

        def inner(i: int) -> None:
            with lock:
                got.append(i * k)

        run_parallel(inner, iter(range(50)), 2)  # nested, from a pool thread
        results[k] = sorted(got)

    callers = [
        threading.Thread(target=run_parallel, args=(outer, iter(range(j, 40, 4)), 2))
        for j in range(4)
    ]
    for t in callers:
        t.start()
    for t in callers:
        t.join(30)
    assert sorted(results) == list(range(40))
    for k, got in results.items():
        assert got == [i * k for i in range(50)]


def test_an_error_stops_the_call_and_the_threads_stay_usable():
    ran: list[int] = []

    def work(i: int) -> None:
        if i == 3:
            raise ValueError("item 3")
        ran.append(i)

    with pytest.raises(ValueError, match="item 3"):
        run_parallel(work, iter(range(10_000)), 2)
    assert len(ran) < 10_000
    done: list[int] = []
    run_parallel(done.append, iter(range(100)), 2)
    assert sorted(done) == list(range(100))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
def test_a_forked_child_runs_in_parallel_on_threads_of_its_own():
    run_parallel(lambda _: None, iter(range(4)), 2)  # the parent keeps idle threads
    assert _POOL.idle_count() >= 1
    rng = np.random.default_rng(2)
    img = rng.standard_normal((200, 150)).astype(np.float32)
    w = rng.standard_normal((3, 3))
    expected = convcli.filter2d(img, w, threads=1)
    with warnings.catch_warnings():
        # Python 3.12+ warns that forking a process with threads may deadlock the child:
        # that is the case this test makes (the child must not wait on the parent's threads)
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: the parent's threads do not exist here
        code = 1
        try:
            if _POOL.idle_count() == 0:
                got = convcli.filter2d(img, w, threads=2)
                code = 0 if np.array_equal(got, expected) else 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


# ---------------------------------------------------------------- remembered factors


def test_remembered_factors_follow_the_kernel_and_are_the_callers_own():
    from convcli.engine.strategies import separable_factors

    w = np.outer([1.0, 2.0, 1.0], [-1.0, 0.0, 1.0])[None, None].copy()
    cols, rows = separable_factors(w, np.dtype(np.float64))
    np.testing.assert_allclose(cols[0, 0][:, None] * rows[0, 0][None, :], w[0, 0])
    cols[...] = 99.0  # the caller's copy: the next caller is not affected
    again = separable_factors(w, np.dtype(np.float64))
    np.testing.assert_allclose(again[0][0, 0][:, None] * again[1][0, 0][None, :], w[0, 0])
    w[0, 0, 1, 1] = 5.0  # the same array, changed in place: rank 2 now
    assert separable_factors(w, np.dtype(np.float64)) is None
    img = np.random.default_rng(3).standard_normal((40, 30))
    # the same kernel's result, before and after it is remembered, against scipy
    from scipy import ndimage

    for _ in range(2):
        got = convcli.filter2d(img, w[0, 0], pad_mode="symmetric", dtype="float64")
        np.testing.assert_allclose(got, ndimage.correlate(img, w[0, 0], mode="reflect"), atol=1e-12)


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_scan_in_parts_finds_what_one_pass_finds(monkeypatch, threads, dtype):
    monkeypatch.setattr(arrays, "_CHUNK", 64)  # parts of a small array, on several threads
    rng = np.random.default_rng(threads)
    x = rng.standard_normal((31, 29)).astype(dtype)
    assert arrays._bounds(x, "x", threads) == float(np.abs(x).max())
    for at in (0, 450, x.size - 1):  # in the first, a middle and the last part
        y = x.copy()
        y.flat[at] = 1e6
        assert arrays._bounds(y, "x", threads) == 1e6
        y.flat[at] = np.nan
        with pytest.raises(ShapeError, match=rf"non-finite value \(nan\) at index \({at // 29}, "):
            arrays._bounds(y, "x", threads)
    with pytest.raises(ShapeError, match="beyond float32's largest number"):
        arrays.check_magnitude(
            x * 1e30, np.ones((1, 1, 9, 9)) * 1e8, np.dtype(np.float32), threads=threads
        )


def test_idle_threads_end_after_a_while_and_the_cache_still_works(monkeypatch):
    import time

    from convcli.engine import threads

    cache = threads._WorkerCache()
    cache.idle_seconds = 0.05
    monkeypatch.setattr(threads, "_POOL", cache)
    used: set[int] = set()
    barrier = threading.Barrier(3, timeout=10)

    def work(_: int) -> None:
        barrier.wait()
        used.add(threading.get_ident())

    run_parallel(work, iter(range(3)), 3)
    assert len(used) == 3 and cache.started == 3
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (
        cache.idle_count() or used & {t.ident for t in threading.enumerate()}
    ):
        time.sleep(0.02)
    assert cache.idle_count() == 0
    assert not used & {t.ident for t in threading.enumerate()}  # those threads ended
    done: list[int] = []
    run_parallel(done.append, iter(range(20)), 2)  # new threads again
    assert sorted(done) == list(range(20))
    assert cache.started == 5


def test_at_most_max_idle_threads_are_kept(monkeypatch):
    from convcli.engine import threads

    cache = threads._WorkerCache()
    cache.max_idle = 2
    monkeypatch.setattr(threads, "_POOL", cache)
    barrier = threading.Barrier(5, timeout=10)
    run_parallel(lambda _: barrier.wait(), iter(range(5)), 5)
    assert cache.started == 5
    assert cache.idle_count() == 2
