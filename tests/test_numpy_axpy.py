"""The scipy-free path of the ``direct`` and ``separable`` strategies (issue 13).

A small call updates its tiles with :func:`convcli.engine.strategies.numpy_axpy`
instead of scipy's BLAS ``axpy``. In this test process scipy is loaded (the
oracles use it), so the cost model would always take BLAS; here it is made
to take numpy, and the results are checked against the plain-loop oracle of
tests/reference.py, through the tiled path and the interior-band path, with
stride, dilation, padding modes and several channels.
"""

from __future__ import annotations

import numpy as np
import pytest
from reference import conv2d_loop

from convcli.engine import costs, strategies, tilekit
from convcli.engine.convolution import conv2d, filter2d


@pytest.fixture(params=[False, True], ids=["numpy", "blas"])
def blas(request, monkeypatch):
    """Force the axpy the cost model picks; record which one the kernels were made with."""
    made: list[bool] = []

    def forced(problem, strategy, weight, factors=None):
        return request.param if strategy in ("direct", "separable") else False

    for name in ("make_direct", "make_separable"):
        original = getattr(strategies, name)

        def wrapper(*args, _original=original, **kwargs):
            made.append(kwargs.get("blas", True))
            return _original(*args, **kwargs)

        monkeypatch.setattr(strategies, name, wrapper)
    monkeypatch.setattr(costs, "blas_repays", forced)
    yield request.param, made


def test_numpy_axpy_matches_the_definition():
    """y += a * x[off : off + n], across several chunks, and nothing beyond n touched."""
    rng = np.random.default_rng(1)
    for dtype in (np.float32, np.float64):
        n = 3 * tilekit.AXPY_CHUNK + 17
        x = rng.standard_normal(n + 40).astype(dtype)
        y = rng.standard_normal(n + 5).astype(dtype)
        expected = y.astype(np.float64)
        expected[:n] += 0.75 * x[9 : 9 + n].astype(np.float64)
        strategies.numpy_axpy(x, y, n=n, a=0.75, offx=9)
        tol = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(y, expected, rtol=tol, atol=tol)
    empty = np.ones(3)
    strategies.numpy_axpy(np.ones(3), empty, n=0, a=2.0)
    assert empty.tolist() == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("strategy", ["direct", "separable"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    ("size", "stride", "dilation", "pad", "mode"),
    [
        ((37, 41), (1, 1), (1, 1), (1, 1, 1, 1), "reflect"),  # interior band path
        ((30, 23), (2, 1), (1, 2), (2, 2, 2, 2), "zeros"),
        ((64, 64), (1, 1), (2, 2), (0, 3, 1, 2), "replicate"),
    ],
)
def test_filter2d_through_either_axpy_matches_the_loop(
    blas, strategy, dtype, size, stride, dilation, pad, mode
):
    rng = np.random.default_rng(7)
    x = rng.standard_normal(size)
    col, row = rng.standard_normal(3), rng.standard_normal(3)
    k = np.outer(col, row)  # rank 1, for separable
    if strategy == "direct":
        k[1, 1] = 0.0  # a zero tap, which direct skips
    got = filter2d(
        x,
        k,
        stride=stride,
        dilation=dilation,
        padding=((pad[0], pad[1]), (pad[2], pad[3])),
        pad_mode=mode,
        dtype=dtype,
        strategy=strategy,
        memory_budget=1 << 16,  # many tiles
    )
    want = conv2d_loop(x[None, None], k[None, None], None, stride, pad, dilation, 1, mode)[0, 0]
    tol = 1e-4 if dtype == "float32" else 1e-10
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    use, made = blas
    assert made and set(made) == {use}


def test_conv2d_many_channels_still_right(blas):
    """Several channel pairs: direct uses gemm (scipy) whatever the axpy; still right."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4, 12, 13))
    w = rng.standard_normal((6, 2, 3, 3))
    got = conv2d(x, w, padding=1, groups=2, strategy="direct", dtype="float64")
    want = conv2d_loop(x, w, None, (1, 1), (1, 1, 1, 1), (1, 1), 2, "zeros")
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
