"""Conv layers (many channels in and out, batches) through im2col's matrix products,
against explicit loops, scipy and PyTorch; BLAS's threads; the memory budget; the note
on a forced slow BLAS kernel (engine/blasinfo.py)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
from reference import SCIPY_MODE, conv2d_loop, conv2d_windows
from scipy import ndimage as ndi

from convcli import conv2d
from convcli.engine import blasinfo


def _blas_libraries() -> list[dict]:
    """The BLAS numpy brings: the one the layer's ``np.matmul`` products run on.

    Other packages' own BLAS libraries (scipy's, OpenCV's, loaded by earlier
    tests) say nothing about those products' threads.
    """
    from threadpoolctl import threadpool_info

    blas = [i for i in threadpool_info() if i["user_api"] == "blas"]
    ours = [i for i in blas if os.path.basename(os.path.dirname(i["filepath"])).startswith("numpy")]
    return ours or blas


@pytest.fixture
def blas_seen(monkeypatch):
    """The BLAS thread count threadpoolctl reports at each np.matmul of the engine."""
    if not _blas_libraries():
        pytest.skip("threadpoolctl sees no BLAS library")
    seen: list[int] = []
    real = np.matmul

    def spy(*args, **kwargs):
        seen.append(max(i["num_threads"] for i in _blas_libraries()))
        return real(*args, **kwargs)

    monkeypatch.setattr(np, "matmul", spy)
    return seen


CASES = [
    # (N, C_in, C_out, groups, H, W, kernel, stride, padding, dilation, mode)
    (1, 6, 8, 1, 13, 11, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), "zeros"),
    (3, 4, 6, 2, 12, 9, (3, 2), (2, 1), (1, 0, 2, 1), (1, 2), "reflect"),
    (2, 6, 6, 3, 10, 14, (2, 3), (1, 2), (0, 1, 1, 1), (2, 1), "symmetric"),
    (2, 4, 8, 4, 9, 9, (3, 3), (3, 3), (2, 2, 2, 2), (1, 1), "replicate"),
    (1, 3, 5, 1, 11, 12, (5, 3), (1, 1), (2, 2, 3, 1), (1, 3), "circular"),
]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("case", CASES)
def test_layers_match_the_explicit_loop(case, threads):
    """Every output of an im2col layer is the sum of its window times its kernel, over
    channels, groups, batches, strides, dilations and every pad mode."""
    n, c_in, c_out, groups, h, w_, k, s, pad, d, mode = case
    rng = np.random.default_rng(40)
    x = rng.standard_normal((n, c_in, h, w_)).astype(np.float32)
    w = rng.standard_normal((c_out, c_in // groups, *k)).astype(np.float32)
    b = rng.standard_normal(c_out).astype(np.float32)
    got = conv2d(x, w, b, s, pad, d, groups, mode, strategy="im2col", threads=threads)
    expected = conv2d_loop(x, w, b, s, pad, d, groups, mode)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("mode", ["zeros", "reflect", "symmetric", "replicate", "circular"])
def test_layer_matches_scipy_per_channel_pair(mode):
    """A 4 -> 3 channel layer is the sum over input channels of scipy.ndimage.correlate,
    on a float64 batch read through a non-contiguous view."""
    rng = np.random.default_rng(41)
    base = rng.standard_normal((2, 8, 19, 30))
    x = base[:, ::2, :, ::2]  # (2, 4, 19, 15), strided in channels and columns
    assert not x.flags.c_contiguous
    w = rng.standard_normal((3, 4, 3, 3))
    got = conv2d(x, w, padding=1, pad_mode=mode, strategy="im2col", threads=2)
    expected = np.zeros((2, 3, 19, 15))
    for i in range(2):
        for o in range(3):
            for c in range(4):
                expected[i, o] += ndi.correlate(x[i, c], w[o, c], mode=SCIPY_MODE[mode])
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("n", [1, 3])
def test_a_wide_layer_by_default_matches_torch(n):
    """A 16 -> 24 layer on a 72x72 batch, no option given, equals
    torch.nn.functional.conv2d (skipped without torch)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(42)
    x = rng.standard_normal((n, 16, 72, 72)).astype(np.float32)
    w = rng.standard_normal((24, 16, 3, 3)).astype(np.float32)
    b = rng.standard_normal(24).astype(np.float32)
    got = conv2d(x, w, b, padding=1)
    with torch.no_grad():
        expected = torch.nn.functional.conv2d(
            torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), padding=1
        ).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    ("stride", "dilation", "groups"), [(1, 1, 1), (2, 1, 2), ((1, 2), (2, 1), 4)]
)
def test_layers_match_torch(stride, dilation, groups):
    """Strided, dilated and grouped layers equal torch's (skipped without torch)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(43)
    x = rng.standard_normal((2, 8, 23, 17)).astype(np.float32)
    w = rng.standard_normal((12, 8 // groups, 3, 3)).astype(np.float32)
    got = conv2d(x, w, None, stride, 2, dilation, groups, strategy="im2col", threads=2)
    with torch.no_grad():
        expected = torch.nn.functional.conv2d(
            torch.from_numpy(x),
            torch.from_numpy(w),
            stride=stride,
            padding=2,
            dilation=dilation,
            groups=groups,
        ).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_one_thread_holds_blas_to_one_core(blas_seen):
    """threads=1 means one core: the layer's matrix products run with BLAS held to one
    thread (BLAS ran on all its threads before), as they do beside two tile threads;
    the limit is lifted afterwards."""
    default = max(i["num_threads"] for i in _blas_libraries())
    rng = np.random.default_rng(44)
    x = rng.standard_normal((1, 16, 72, 72)).astype(np.float32)
    w = rng.standard_normal((24, 16, 3, 3)).astype(np.float32)
    expected = conv2d_windows(x, w, ((1, 1), (1, 1)))
    for threads in (1, 2):
        blas_seen.clear()
        got = conv2d(x, w, padding=1, strategy="im2col", threads=threads)
        assert blas_seen and set(blas_seen) == {1}, threads
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    assert max(i["num_threads"] for i in _blas_libraries()) == default


def test_a_single_tile_leaves_blas_its_threads(blas_seen):
    """When two threads are asked for but the output is one tile (one row), BLAS keeps
    its own threads: the product is the only place the second core can work."""
    default = max(i["num_threads"] for i in _blas_libraries())
    rng = np.random.default_rng(46)
    x = rng.standard_normal((1, 2, 3, 20000)).astype(np.float32)
    w = rng.standard_normal((2, 2, 3, 3)).astype(np.float32)
    got = conv2d(x, w, strategy="im2col", threads=2)  # 1 x 19998 outputs
    assert blas_seen and set(blas_seen) == {default}
    np.testing.assert_allclose(got, conv2d_windows(x, w, ((0, 0), (0, 0))), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("budget", [60_000, 300_000, 6_000_000])
def test_layer_keeps_the_memory_budget(budget, threads):
    """From a budget of a few rows of patches to one that holds the whole layer, the
    call's allocations stay within output + budget and the result is the windowed sum."""
    rng = np.random.default_rng(45)
    x = rng.standard_normal((2, 8, 80, 61)).astype(np.float32)
    w = rng.standard_normal((16, 8, 3, 3)).astype(np.float32)

    def call():
        return conv2d(
            x,
            w,
            padding=1,
            pad_mode="reflect",
            memory_budget=budget,
            strategy="im2col",
            threads=threads,
        )

    call()  # warm up: imports are not working memory
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        out = call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= out.nbytes + budget, (peak, out.nbytes, budget)
    expected = conv2d_windows(x, w, ((1, 1), (1, 1)), mode="reflect")
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------ the BLAS kernel note


def test_blas_note_names_a_forced_older_kernel():
    """A forced SSE or AVX kernel on an AVX2 CPU is named; the CPU's own kernel, an unset
    variable, or a library other than OpenBLAS is not."""
    prescott = [{"internal_api": "openblas", "architecture": "Prescott", "prefix": "libopenblas"}]
    haswell = [{"internal_api": "openblas", "architecture": "Haswell", "prefix": "libopenblas"}]
    mkl = [{"internal_api": "mkl", "architecture": None, "prefix": "libmkl_rt"}]
    note = blasinfo.blas_note(prescott, {"OPENBLAS_CORETYPE": "prescott"}, tier=2)
    assert note is not None
    assert note.startswith("OPENBLAS_CORETYPE=prescott makes libopenblas run its Prescott kernel")
    assert "\n" not in note
    sandy = [{"internal_api": "openblas", "architecture": "Sandybridge", "prefix": "libopenblas"}]
    assert blasinfo.blas_note(sandy, {"OPENBLAS_CORETYPE": "Sandybridge"}, tier=2) is not None
    assert blasinfo.blas_note(haswell, {"OPENBLAS_CORETYPE": "Haswell"}, tier=2) is None
    assert blasinfo.blas_note(prescott, {}, tier=2) is None
    assert blasinfo.blas_note(prescott, {"OPENBLAS_CORETYPE": "Prescott"}, tier=0) is None
    assert blasinfo.blas_note(mkl, {"OPENBLAS_CORETYPE": "Prescott"}, tier=2) is None


def test_blas_note_in_a_process_where_the_variable_forces_an_old_kernel():
    """In a fresh Python with OPENBLAS_CORETYPE=Prescott numpy's OpenBLAS runs an SSE
    kernel, and the note says so; without the variable there is no note."""
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip("OpenBLAS core types are x86 names")
    if (blasinfo.cpu_tier() or 0) < 1:
        pytest.skip("this CPU has no AVX: an SSE kernel is its own")
    code = "from convcli.engine.blasinfo import blas_note; print(blas_note())"
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    plain = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.strip() == "None"
    env["OPENBLAS_CORETYPE"] = "Prescott"
    code = "import numpy\n" + code  # OpenBLAS is loaded with numpy
    forced = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert forced.returncode == 0, forced.stderr
    from threadpoolctl import threadpool_info

    if not any(i["internal_api"] == "openblas" for i in threadpool_info()):
        pytest.skip("numpy does not use OpenBLAS here")
    assert forced.stdout.startswith("OPENBLAS_CORETYPE=Prescott makes "), forced.stdout


def test_a_small_layer_runs_in_the_calling_thread(monkeypatch):
    """A layer of fewer than 32 768 outputs is one tile in the caller's thread: two tile
    threads would start a pool and, beside BLAS's own threads, outnumber the cores."""
    import threading

    callers: set[int] = set()
    real = np.matmul

    def spy(*args, **kwargs):
        callers.add(threading.get_ident())
        return real(*args, **kwargs)

    monkeypatch.setattr(np, "matmul", spy)
    rng = np.random.default_rng(47)
    x = rng.standard_normal((1, 32, 16, 16)).astype(np.float32)
    w = rng.standard_normal((64, 32, 3, 3)).astype(np.float32)  # 64 x 16 x 16 outputs
    got = conv2d(x, w, padding=1, strategy="im2col", threads=2)
    assert callers == {threading.get_ident()}
    np.testing.assert_allclose(got, conv2d_windows(x, w, ((1, 1), (1, 1))), rtol=1e-4, atol=1e-4)
