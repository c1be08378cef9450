"""The native core (convcli.engine._native) against independent oracles, on every variant.

Oracles: an explicit sum over taps on an array padded by ``numpy.pad`` (with
the pad mode translated by CONVENTIONS.md's table), ``scipy.ndimage.correlate``,
and the numpy strategies. Index maps are built here from ``numpy.pad`` of
``arange``, not by convcli. Each variant this CPU runs is forced in turn;
a variant it lacks is skipped (and refused: see the status tests).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import convcli
from convcli.engine import native
from convcli.errors import LimitError, ParameterError, ShapeError

_native = pytest.importorskip("convcli.engine._native", reason="native extension not built")

VARIANTS = ("generic", "avx2", "avx512")
#: convcli pad mode -> numpy.pad mode (CONVENTIONS.md)
NUMPY_MODES = {
    "zeros": "constant",
    "replicate": "edge",
    "symmetric": "symmetric",
    "reflect": "reflect",
    "circular": "wrap",
}
#: convcli pad mode -> scipy.ndimage mode
SCIPY_MODES = {
    "zeros": "constant",
    "replicate": "nearest",
    "symmetric": "reflect",
    "reflect": "mirror",
    "circular": "wrap",
}


@pytest.fixture
def native_engine(variant):
    """``variant``, for tests through the engine: skipped when it runs on numpy."""
    if native.module() is None:
        pytest.skip(f"the native engine is off: {native.status().reason}")
    return variant


def index_map(n: int, before: int, after: int, mode: str) -> np.ndarray:
    """Padded position -> source index (-1: the constant), from numpy.pad of arange."""
    if mode == "zeros":
        return np.pad(np.arange(n), (before, after), constant_values=-1).astype(np.int64)
    return np.pad(np.arange(n), (before, after), mode=NUMPY_MODES[mode]).astype(np.int64)


def oracle(x, w, pads, stride, dilation, mode, value=0.0):
    """Explicit correlation in float64: numpy.pad, then one shifted slice per tap."""
    (top, bottom), (left, right) = pads
    kw = {"constant_values": value} if mode == "zeros" else {}
    p = np.pad(x.astype(np.float64), ((top, bottom), (left, right)), mode=NUMPY_MODES[mode], **kw)
    kh, kwid = w.shape
    (sh, sw), (dh, dw) = stride, dilation
    oh = (p.shape[0] - dh * (kh - 1) - 1) // sh + 1
    ow = (p.shape[1] - dw * (kwid - 1) - 1) // sw + 1
    out = np.zeros((oh, ow))
    for i in range(kh):
        for j in range(kwid):
            r, c = i * dh, j * dw
            out += w[i, j] * p[r : r + (oh - 1) * sh + 1 : sh, c : c + (ow - 1) * sw + 1 : sw]
    return out


def tolerance(dtype, w, x):
    eps = np.finfo(dtype).eps
    return 8 * eps * max(w.size, 4) * float(np.abs(w).max()) * max(float(np.abs(x).max()), 1.0)


@st.composite
def problems(draw):
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    h, w = draw(st.integers(1, 40)), draw(st.integers(1, 90))
    kh, kw = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    sh, sw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dh, dw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    mode = draw(st.sampled_from(sorted(NUMPY_MODES)))
    pads = [draw(st.integers(0, 6)) for _ in range(4)]
    # the padded input must hold the dilated kernel
    pads[1] += max(0, dh * (kh - 1) + 1 - (h + pads[0] + pads[1]))
    pads[3] += max(0, dw * (kw - 1) + 1 - (w + pads[2] + pads[3]))
    seed = draw(st.integers(0, 2**32 - 1))
    view = draw(st.sampled_from(["contiguous", "transposed", "strided", "reversed"]))
    return dtype, (h, w), (kh, kw), (sh, sw), (dh, dw), mode, pads, seed, view


def make_source(shape, dtype, seed, view):
    """A (h, w) array, laid out as ``view`` says (each a valid non-contiguous view)."""
    rng = np.random.default_rng(seed)
    h, w = shape
    if view == "transposed":
        return np.asarray(rng.standard_normal((w, h)), dtype=dtype).T
    if view == "strided":
        return np.asarray(rng.standard_normal((2 * h, 3 * w)), dtype=dtype)[::2, ::3]
    if view == "reversed":
        return np.asarray(rng.standard_normal((h, w)), dtype=dtype)[::-1, ::-1]
    return np.asarray(rng.standard_normal((h, w)), dtype=dtype)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(problems(), st.booleans())
def test_correlate_matches_the_explicit_sum(variant, case, separable):
    """Every entry point, any size, stride, dilation, pad mode, dtype and memory layout,
    gives the explicit sum over taps of the numpy.pad-ed input."""
    dtype, shape, (kh, kw), stride, dilation, mode, pads, seed, view = case
    x = make_source(shape, dtype, seed, view)
    rng = np.random.default_rng(seed + 1)
    col, row = rng.standard_normal(kh).astype(dtype), rng.standard_normal(kw).astype(dtype)
    w = (
        np.outer(col, row).astype(dtype)
        if separable
        else rng.standard_normal((kh, kw)).astype(dtype)
    )
    top, bottom, left, right = pads
    value = 0.5 if mode == "zeros" else 0.0
    expected = oracle(x, w, ((top, bottom), (left, right)), stride, dilation, mode, value)
    rows = index_map(shape[0], top, bottom, mode)
    cols = index_map(shape[1], left, right, mode)
    out = np.full(expected.shape, np.nan, dtype=dtype)
    if separable:
        _native.correlate_separable(
            x, rows, cols, col, row, out, stride, dilation, value, 0, out.shape[0], False
        )
    else:
        _native.correlate(x, rows, cols, w, out, stride, dilation, value, 0, out.shape[0], False)
    np.testing.assert_allclose(out, expected, rtol=0, atol=tolerance(dtype, w, x))


@pytest.mark.parametrize("kh", [3, 5, 7, 9, 11])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tall_kernels_summed_row_by_row_match_the_explicit_sum(variant, kh, dtype):
    """Kernels of 3 to 11 rows (stride and dilation 1 down) take the path that loads each
    padded row once for every output row it feeds; with columns of zeros, a column
    stride and dilation across, whole and partial blocks of rows and columns."""
    rng = np.random.default_rng(kh)
    for kw, (sw, dw), zero_cols in ((kh, (1, 1), ()), (2, (2, 3), (0,)), (kh + 2, (1, 1), (1, 3))):
        x = make_source((4 * kh + 3, 157), dtype, kh + kw, "strided")
        w = rng.standard_normal((kh, kw)).astype(dtype)
        w[:, list(zero_cols)] = 0
        pads = ((kh // 2, kh // 2), (kw // 2, kw // 2))
        expected = oracle(x, w, pads, (1, sw), (1, dw), "reflect")
        rows = index_map(x.shape[0], *pads[0], "reflect")
        cols = index_map(x.shape[1], *pads[1], "reflect")
        out = np.full(expected.shape, np.nan, dtype=dtype)
        _native.correlate(x, rows, cols, w, out, (1, sw), (1, dw), 0.0, 0, out.shape[0], False)
        np.testing.assert_allclose(out, expected, rtol=0, atol=tolerance(dtype, w, x))


@pytest.mark.parametrize("kh", [3, 5, 11])
@pytest.mark.parametrize("width", [16, 24, 48, 63, 64, 65, 97])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tall_kernels_store_every_way_the_output_is_laid_out(variant, kh, width, dtype):
    """The row-by-row path of kernels of 3 to 11 rows stores a block straight from its
    sums into a contiguous output it overwrites, else one cell at a time: both give
    the explicit sum at widths around whole blocks of columns, overwriting or adding to
    a contiguous output and into a strided one, with bands that end mid-block."""
    rng = np.random.default_rng(kh * width)
    x = make_source((2 * kh + 9, width), dtype, width, "contiguous")
    w = rng.standard_normal((kh, kh)).astype(dtype)
    pads = ((kh // 2, kh // 2), (kh // 2, kh // 2))
    expected = oracle(x, w, pads, (1, 1), (1, 1), "reflect")
    rows = index_map(x.shape[0], *pads[0], "reflect")
    cols = index_map(width, *pads[1], "reflect")
    prior = rng.standard_normal(expected.shape).astype(dtype)
    wide = np.full((expected.shape[0], 2 * width), np.nan, dtype)
    for out, accumulate in ((prior.copy(), False), (prior.copy(), True), (wide[:, ::2], False)):
        for r0, r1 in ((0, 5), (5, out.shape[0])):
            _native.correlate(x, rows, cols, w, out, (1, 1), (1, 1), 0.0, r0, r1, accumulate)
        want = expected + prior if accumulate else expected
        np.testing.assert_allclose(out, want, rtol=0, atol=tolerance(dtype, w, x) * 4)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.sampled_from([np.float32, np.float64]),
    st.integers(1, 30),
    st.integers(1, 150),
    st.integers(1, 7),
    st.integers(1, 3),
    st.integers(1, 2),
    st.sampled_from(sorted(NUMPY_MODES)),
    st.integers(0, 7),
    st.sampled_from(["contiguous", "transposed", "strided", "reversed"]),
    st.integers(0, 2**32 - 1),
)
def test_three_row_kernels_match_the_explicit_sum(
    variant, dtype, h, w, kw, sw, dw, mode, zero_column, view, seed
):
    """Kernels of 3 rows with stride and dilation 1 down take their own loop (each
    padded row loaded once for the 3 output rows it feeds); with a column of zeros,
    any width, stride and dilation across, bands that end mid-block and bands of one."""
    x = make_source((h, w), dtype, seed, view)
    rng = np.random.default_rng(seed + 1)
    wt = rng.standard_normal((3, kw)).astype(dtype)
    wt[:, zero_column % kw] = 0 if kw > 1 else wt[:, 0]
    pads = ((1, 1), (kw // 2 * dw, kw // 2 * dw + 1))
    value = 0.5 if mode == "zeros" else 0.0
    expected = oracle(x, wt, pads, (1, sw), (1, dw), mode, value)
    rows = index_map(h, 1, 1, mode)
    cols = index_map(w, *pads[1], mode)
    out = np.full(expected.shape, np.nan, dtype=dtype)
    cut = int(rng.integers(0, out.shape[0] + 1))
    for r0, r1 in ((0, cut), (cut, out.shape[0])):
        _native.correlate(x, rows, cols, wt, out, (1, sw), (1, dw), value, r0, r1, False)
    np.testing.assert_allclose(out, expected, rtol=0, atol=tolerance(dtype, wt, x))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(problems(), st.booleans(), st.sampled_from(["none", "nan", "inf", "-inf"]))
def test_the_fused_scan_reads_every_source_row_the_outputs_read(variant, case, separable, bad):
    """correlate(..., scan=True) returns max|x| over the whole rows the outputs read
    (numpy's max over those rows is the oracle), and finite=False for any NaN or
    infinity among them; the outputs are those of a call without it."""
    dtype, shape, (kh, kw), stride, dilation, mode, pads, seed, view = case
    x = make_source(shape, dtype, seed, view)
    rng = np.random.default_rng(seed + 2)
    if bad != "none":
        x[tuple(int(rng.integers(0, n)) for n in shape)] = float(bad)
    top, bottom, left, right = pads
    rows = index_map(shape[0], top, bottom, mode)
    cols = index_map(shape[1], left, right, mode)
    oh = (len(rows) - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (len(cols) - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    read = rows[(np.arange(oh)[:, None] * stride[0] + np.arange(kh) * dilation[0]).ravel()]
    used = x[np.unique(read[read >= 0])]
    col, row = rng.standard_normal(kh).astype(dtype), rng.standard_normal(kw).astype(dtype)
    out, plain = np.empty((oh, ow), dtype), np.empty((oh, ow), dtype)
    args = (stride, dilation, 0.5, 0, oh, False)
    if separable:
        found = _native.correlate_separable(x, rows, cols, col, row, out, *args, True)
        _native.correlate_separable(x, rows, cols, col, row, plain, *args)
    else:
        w = np.outer(col, row)
        found = _native.correlate(x, rows, cols, w, out, *args, True)
        _native.correlate(x, rows, cols, w, plain, *args)
    np.testing.assert_array_equal(out, plain)
    finite = bool(np.isfinite(used).all())
    assert found[1] is finite
    if finite:
        assert found[0] == (float(np.abs(used).max()) if used.size else 0.0)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(problems(), st.sampled_from(["direct", "separable", "pool"]), st.sampled_from(["u1", "u2"]))
def test_integer_pixels_are_converted_as_rows_are_gathered(variant, case, kind, pixels):
    """A uint8 or uint16 source (any view) gives what its float copy gives, bit for bit,
    through every entry point: the cells are converted as each row is gathered."""
    dtype, shape, (kh, kw), stride, dilation, mode, pads, seed, view = case
    rng = np.random.default_rng(seed)
    top = 255 if pixels == "u1" else 65535
    x = make_source(shape, np.float64, seed, view)
    x = (np.abs(x) * top / 4).clip(0, top).astype(pixels)  # a view of the same layout
    as_float = x.astype(dtype)
    rows = index_map(shape[0], pads[0], pads[1], mode)
    cols = index_map(shape[1], pads[2], pads[3], mode)
    if kind == "pool":
        oh = (len(rows) - kh) // stride[0] + 1
        ow = (len(cols) - kw) // stride[1] + 1
    else:
        oh = (len(rows) - dilation[0] * (kh - 1) - 1) // stride[0] + 1
        ow = (len(cols) - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    if oh < 1 or ow < 1:
        return
    got, expected = np.empty((oh, ow), dtype), np.empty((oh, ow), dtype)
    col, row = rng.standard_normal(kh).astype(dtype), rng.standard_normal(kw).astype(dtype)
    for src, out in ((x, got), (as_float, expected)):
        if kind == "pool":
            _native.pool(src, rows, cols, out, (kh, kw), stride, "max", 7.0, 0, oh)
        elif kind == "separable":
            _native.correlate_separable(
                src, rows, cols, col, row, out, stride, dilation, 7.0, 0, oh, False
            )
        else:
            w = np.outer(col, row)
            _native.correlate(src, rows, cols, w, out, stride, dilation, 7.0, 0, oh, False)
    np.testing.assert_array_equal(got, expected)
    with pytest.raises(ValueError, match="`scan` reads float sources only"):
        _native.correlate(x, rows, cols, np.ones((1, 1), dtype), got, (1, 1), (1, 1), 0, 0, 1, 0, 1)


def test_filter2d_reads_uint8_pixels_as_they_are(native_engine, monkeypatch):
    """An RGB uint8 image goes to the native core as it is (no float copy of it is made)
    and gives scipy.ndimage's result per channel."""
    from scipy import ndimage

    x = np.random.default_rng(8).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    k = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1.5]], np.float32)
    copies = []
    real = np.ascontiguousarray

    def spy(a, *args, **kwargs):
        if getattr(a, "shape", None) == (3, 37, 53):
            copies.append(a.dtype)
        return real(a, *args, **kwargs)

    monkeypatch.setattr(np, "ascontiguousarray", spy)
    got = convcli.filter2d(x, k)
    assert copies == []
    for c in range(3):
        expected = ndimage.correlate(x[..., c].astype(np.float64), k, mode="mirror")
        np.testing.assert_allclose(got[..., c], expected, rtol=0, atol=1e-3)


@pytest.mark.parametrize("stride", [1, 4])
@pytest.mark.parametrize("where", [(0, 0), (38, 17), (39, 50)])
@pytest.mark.parametrize("bad", [np.nan, np.inf, 1e38])
def test_filter2d_refuses_bad_input_found_while_it_filters(native_engine, stride, where, bad):
    """Through filter2d on the native core, a NaN, an infinity or a magnitude that
    would overflow float32 is refused by name wherever it is, whether the core finds
    it as it reads the rows (stride 1) or the input is read first (stride 4 skips rows)."""
    x = np.random.default_rng(4).standard_normal((40, 51)).astype(np.float32)
    x[where] = bad
    k = np.full((3, 3), 2.0, np.float32)
    words = "reaches 1e" if bad == 1e38 else re.escape(f"non-finite value ({bad}) at index {where}")
    for threads in (1, 2):
        with pytest.raises(ShapeError, match=words):
            convcli.filter2d(x, k, stride=stride, strategy="native", threads=threads)
    x[where] = 1.0
    expected = convcli.filter2d(x, k, stride=stride, strategy="direct")
    got = convcli.filter2d(x, k, stride=stride, strategy="native")
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bands_and_accumulate_compose(variant, dtype):
    """Rows computed in bands, into a strided output, adding to what is there, equal one
    whole call plus the prior contents (the engine sums channels this way)."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((33, 70)).astype(dtype)
    w = rng.standard_normal((5, 3)).astype(dtype)
    rows, cols = index_map(33, 2, 2, "reflect"), index_map(70, 1, 1, "reflect")
    whole = np.empty((33, 70), dtype)
    _native.correlate(x, rows, cols, w, whole, (1, 1), (1, 1), 0.0, 0, 33, False)
    big = rng.standard_normal((33, 140)).astype(dtype)
    out = big[:, ::2]  # a strided output view
    prior = out.copy()
    for r0 in range(0, 33, 7):
        _native.correlate(x, rows, cols, w, out, (1, 1), (1, 1), 0.0, r0, min(r0 + 7, 33), True)
    np.testing.assert_allclose(out, prior + whole, rtol=0, atol=tolerance(dtype, w, x) * 4)


@pytest.mark.parametrize("mode", sorted(SCIPY_MODES))
def test_filter2d_native_matches_scipy(native_engine, mode):
    """filter2d with the native strategy equals scipy.ndimage.correlate (odd kernel,
    'same' padding), for every pad mode, in float32 and float64."""
    from scipy import ndimage

    rng = np.random.default_rng(5)
    x = rng.standard_normal((61, 83))
    w = rng.standard_normal((5, 7))
    expected = ndimage.correlate(x, w, mode=SCIPY_MODES[mode], cval=0.0)
    for dtype in ("float32", "float64"):
        got = convcli.filter2d(x, w, pad_mode=mode, dtype=dtype, strategy="native")
        np.testing.assert_allclose(got, expected, rtol=0, atol=tolerance(np.dtype(dtype), w, x))


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.sampled_from(["uint8", "float32", "float64"]),
    st.integers(1, 3),
    st.integers(1, 4),
    st.integers(1, 2),
    st.sampled_from([1, 2]),
    st.sampled_from([1, 2]),
    st.sampled_from(sorted(NUMPY_MODES)),
    st.sampled_from([1 << 12, 1 << 16, 1 << 30]),
    st.booleans(),
    st.integers(0, 2**32 - 1),
)
def test_conv2d_native_matches_the_numpy_strategies(
    native_engine, in_dtype, c_in_g, c_out_g, groups, stride, dilation, mode, budget, rank_one, seed
):
    """conv2d(strategy='native') equals the numpy 'direct' strategy, with channels and
    groups, strides, dilations, pad modes, integer inputs (converted a band at a time),
    tiny and huge memory budgets, rank-1 kernels (the separable form) and threads."""
    rng = np.random.default_rng(seed)
    c_in, c_out = c_in_g * groups, c_out_g * groups
    if in_dtype == "uint8":
        x = rng.integers(0, 256, (2, c_in, 23, 31)).astype(np.uint8)
    else:
        x = rng.standard_normal((2, c_in, 23, 31)).astype(in_dtype)
    if rank_one:
        w = np.einsum(
            "oci,ocj->ocij",
            rng.standard_normal((c_out, c_in_g, 3)),
            rng.standard_normal((c_out, c_in_g, 3)),
        )
    else:
        w = rng.standard_normal((c_out, c_in_g, 3, 3))
    kwargs = dict(stride=stride, padding="same", dilation=dilation, groups=groups, pad_mode=mode)
    expected = convcli.conv2d(x, w, strategy="direct", **kwargs)
    try:
        got = convcli.conv2d(x, w, strategy="native", memory_budget=budget, threads=2, **kwargs)
    except LimitError:
        assert budget == 1 << 12  # only a tiny budget may refuse
        return
    scale = float(np.abs(x).max()) if x.size else 1.0
    atol = 1e-4 * scale * c_in_g * 9 if expected.dtype == np.float32 else 1e-10 * scale * c_in_g * 9
    np.testing.assert_allclose(got, expected, rtol=0, atol=atol)
    assert got.dtype == expected.dtype


def test_auto_takes_native_for_a_small_kernel_and_matches(native_engine):
    """auto picks the native core for a 5x5 kernel on a photo-sized image (it wins the
    cost model), and the result equals scipy's."""
    from scipy import ndimage

    from convcli.arithmetic.geometry import Geometry
    from convcli.engine.costs import choose_strategy
    from convcli.engine.tiling import Problem

    problem = Problem.of(Geometry.resolve((512, 512), 5, padding="same"), 1, 1, 1, 1)
    w = np.random.default_rng(1).standard_normal((5, 5))
    assert choose_strategy(problem, w[None, None], np.dtype(np.float32), 1 << 28, 2) == "native"
    x = np.random.default_rng(2).standard_normal((512, 512)).astype(np.float32)
    got = convcli.filter2d(x, w)
    np.testing.assert_allclose(
        got, ndimage.correlate(x.astype(np.float64), w, mode="mirror"), atol=1e-4
    )


# ------------------------------------------------------------------ bad calls raise


def _args(**change):
    x = np.zeros((10, 12), np.float32)
    args = dict(
        src=x,
        rows=index_map(10, 1, 1, "zeros"),
        cols=index_map(12, 1, 1, "zeros"),
        weight=np.ones((3, 3), np.float32),
        out=np.zeros((10, 12), np.float32),
        stride=(1, 1),
        dilation=(1, 1),
        pad_value=0.0,
        r0=0,
        r1=10,
        accumulate=False,
    )
    args.update(change)
    return tuple(args.values())


@pytest.mark.parametrize(
    ("change", "error", "words"),
    [
        ({"rows": np.zeros(5, np.int64)}, ValueError, "`rows` has 5 entries; the call needs 12"),
        ({"cols": index_map(12, 1, 0, "zeros")}, ValueError, "`cols` has 13 entries"),
        ({"rows": np.full(12, 10, np.int64)}, IndexError, "`rows`[0] = 10 is outside [-1, 10)"),
        ({"cols": np.full(14, -2, np.int64)}, IndexError, "`cols`[0] = -2"),
        ({"rows": np.zeros(12, np.int32)}, TypeError, "contiguous int64"),
        ({"rows": np.zeros(24, np.int64)[::2]}, TypeError, "contiguous int64"),
        ({"src": np.zeros((10, 12), np.float64)}, TypeError, "`src` must hold float32"),
        ({"src": np.zeros((10, 12), np.int32)}, TypeError, "`src` must hold float32"),
        ({"out": np.zeros((10, 12), np.int16)}, TypeError, "`out` must hold float32 or float64"),
        ({"weight": np.ones((3, 3), np.float64)}, TypeError, "`weight` must hold float32"),
        ({"weight": np.ones((3, 6), np.float32)[:, ::2]}, ValueError, "C-contiguous"),
        ({"src": np.zeros((10, 12, 1), np.float32)}, ValueError, "`src` must have 2 dimension"),
        ({"src": np.zeros((0, 12), np.float32)}, ValueError, "`src` is empty"),
        ({"src": [[1.0]]}, TypeError, "`src` must be a buffer"),
        ({"out": np.zeros((10, 12), np.float32).copy().view()}, None, ""),
        ({"stride": (-1, 1)}, ValueError, "`stride` must be a pair of positive integers"),
        ({"dilation": (1, 0)}, ValueError, "`dilation` must be a pair"),
        ({"stride": (2**50, 1)}, ValueError, "up to 2**40"),
        ({"r0": -1}, IndexError, "output rows [-1, 10)"),
        ({"r1": 11}, IndexError, "output rows [0, 11)"),
        ({"r0": 5, "r1": 4}, IndexError, "output rows [5, 4)"),
        ({"out": np.broadcast_to(np.zeros(12, np.float32), (10, 12))}, TypeError, "writable"),
    ],
)
def test_bad_calls_raise(change, error, words):
    """Each wrong buffer, size, dtype, stride, index or row range is an exception naming it."""
    if error is None:
        _native.correlate(*_args(**change))  # the control: a valid call passes
        return
    with pytest.raises(error) as info:
        _native.correlate(*_args(**change))
    assert words in str(info.value)


def test_a_read_only_output_and_bad_variants_are_refused():
    """A read-only output is a TypeError; an unknown variant a ValueError naming the known."""
    out = np.zeros((10, 12), np.float32)
    out.flags.writeable = False
    with pytest.raises(TypeError, match="writable"):
        _native.correlate(*_args(out=out))
    with pytest.raises(ValueError, match="unknown native variant 'sse9'"):
        _native.use("sse9")
    with pytest.raises(TypeError):
        _native.correlate(1, 2)


def test_separable_bad_calls_raise():
    """The separable entry checks its two factors too."""
    x = np.zeros((10, 12), np.float32)
    rows, cols = index_map(10, 1, 1, "zeros"), index_map(12, 1, 1, "zeros")
    out = np.zeros((10, 12), np.float32)
    good = np.ones(3, np.float32)
    with pytest.raises(TypeError, match="`row_taps` must hold float32"):
        _native.correlate_separable(
            x, rows, cols, good, np.ones(3), out, (1, 1), (1, 1), 0.0, 0, 10, False
        )
    with pytest.raises(ValueError, match="contiguous"):
        _native.correlate_separable(
            x, rows, cols, np.ones(6, np.float32)[::2], good, out, (1, 1), (1, 1), 0.0, 0, 10, False
        )
    with pytest.raises(ValueError, match="`rows` has 12 entries; the call needs 14"):
        _native.correlate_separable(
            x, rows, cols, np.ones(5, np.float32), good, out, (1, 1), (1, 1), 0.0, 0, 10, False
        )


def test_the_workspace_is_priced_and_overflow_refused():
    """workspace_bytes grows with the kernel and refuses sizes that overflow."""
    small = _native.workspace_bytes(3, 3, (1, 1), (1, 1), 512, 4, False)
    large = _native.workspace_bytes(31, 31, (1, 1), (1, 1), 512, 4, False)
    assert 0 < small < large
    with pytest.raises((OverflowError, ValueError)):
        _native.workspace_bytes(2**40, 2**40, (2**40, 1), (2**40, 1), 2**40, 8, True)


def test_a_budget_below_the_workspace_is_a_limit_error(native_engine):
    """strategy='native' with a budget its workspace cannot fit raises LimitError."""
    x = np.zeros((64, 64), np.float32)
    with pytest.raises(LimitError, match="native core needs"):
        convcli.filter2d(x, np.ones((3, 3)), strategy="native", memory_budget=1000)


# ------------------------------------------------------------------ which engine runs


def test_numpy_engine_turns_native_off(numpy_engine):
    """CONVCLI_ENGINE=numpy: auto never picks native, and asking for it is refused."""
    assert native.module() is None
    assert native.describe() == "engine: numpy (CONVCLI_ENGINE=numpy)"
    with pytest.raises(ParameterError, match="strategy 'native' is not available"):
        convcli.filter2d(np.zeros((8, 8)), np.ones((3, 3)), strategy="native")


@pytest.mark.parametrize("name", VARIANTS)
def test_a_forced_variant_runs_or_is_refused(monkeypatch, name):
    """CONVCLI_NATIVE_ISA forces a variant this CPU runs, and refuses one it lacks,
    naming the ones it runs."""
    monkeypatch.setenv("CONVCLI_NATIVE_ISA", name)
    monkeypatch.delenv("CONVCLI_ENGINE", raising=False)
    native.reset()
    try:
        if name in _native.supported():
            assert native.describe() == f"engine: native {name} (forced by CONVCLI_NATIVE_ISA)"
            assert _native.isa() == name
        else:
            with pytest.raises(ParameterError, match=f"CONVCLI_NATIVE_ISA={name}: this CPU"):
                convcli.filter2d(np.zeros((8, 8)), np.ones((3, 3)))
    finally:
        monkeypatch.undo()
        native.reset()
        native.status()  # back to the default variant


def _fastest_variant_of_this_cpu() -> str:
    """The variant a regular build picks here, from the kernel's CPU flags (not the
    extension's own detection): avx512 needs AVX-512F, AVX2 and FMA; avx2 needs both."""
    import platform

    if platform.machine().lower() not in ("x86_64", "amd64"):
        return "generic"
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        pytest.skip("no /proc/cpuinfo to read the CPU's flags from")
    flags = set()
    for line in cpuinfo.read_text().splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    if {"avx2", "fma"} <= flags:
        return "avx512" if "avx512f" in flags else "avx2"
    return "generic"


def test_version_names_the_engine_from_the_installed_command(tmp_path):
    """`convcli --version` says which engine runs, and CONVCLI_ENGINE=numpy says why not."""
    import os

    from terminal import convcli_executable

    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVCLI_")}
    proc = subprocess.run(
        [convcli_executable(), "--version"], capture_output=True, text=True, cwd=tmp_path, env=env
    )
    assert proc.returncode == 0
    # the installed command is a regular build, whatever this test process imported
    # (the sanitizer step's build runs the avx512 variant lowered to AVX2 on any AVX2
    # CPU), so the CPU's own flags say which variant it must name
    assert proc.stdout.splitlines()[1] == (
        f"engine: native {_fastest_variant_of_this_cpu()} (the fastest variant this CPU runs)"
    )
    env["CONVCLI_ENGINE"] = "numpy"
    proc = subprocess.run(
        [convcli_executable(), "--version"], capture_output=True, text=True, cwd=tmp_path, env=env
    )
    assert proc.stdout.splitlines()[1] == "engine: numpy (CONVCLI_ENGINE=numpy)"


def test_the_native_calls_release_the_gil(native_engine):
    """Two threads filtering at once both finish with the one-thread result (the C side
    runs without the GIL; a crash or a wrong band would show here)."""
    import threading

    x = np.random.default_rng(9).standard_normal((300, 400)).astype(np.float32)
    w = np.random.default_rng(10).standard_normal((7, 7))
    expected = convcli.filter2d(x, w, strategy="native", threads=1)
    results = []
    threads = [
        threading.Thread(
            target=lambda: results.append(convcli.filter2d(x, w, strategy="native", threads=2))
        )
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 3
    for r in results:
        np.testing.assert_array_equal(r, expected)


def test_importing_the_extension_alone_is_cheap(tmp_path):
    """The extension imports without numpy (the buffer protocol only).

    Run from another folder: from the source tree, ``python -c`` would import
    the sources, which hold no built extension under a non-editable install."""
    code = "import sys, convcli.engine._native as m; print(m.isa()); print('numpy' in sys.modules)"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert proc.stdout.split()[1] == "False"


# ------------------------------------------------------------------ pooling windows


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.sampled_from([np.float32, np.float64]),
    st.integers(1, 30),
    st.integers(1, 80),
    st.integers(1, 5),
    st.integers(1, 5),
    st.integers(1, 4),
    st.integers(1, 4),
    st.sampled_from(["max", "min", "sum"]),
    st.sampled_from(["contiguous", "transposed", "strided", "reversed"]),
    st.integers(0, 2**32 - 1),
)
def test_pool_matches_explicit_windows(variant, dtype, h, w, kh, kw, sh, sw, op, view, seed):
    """pool() gives each window's max, min or sum, padded cells reading the fill value."""
    x = make_source((h, w), dtype, seed, view)
    fill = {"max": -np.inf, "min": np.inf, "sum": 0.0}[op]
    top, left = kh // 2, kw // 2
    bottom, right = kh - 1 - top + 1, kw - 1 - left  # an extra row: a ceil-mode overhang
    p = np.pad(x.astype(np.float64), ((top, bottom), (left, right)), constant_values=fill)
    oh, ow = (p.shape[0] - kh) // sh + 1, (p.shape[1] - kw) // sw + 1
    reduce = {"max": np.max, "min": np.min, "sum": np.sum}[op]
    expected = np.array(
        [
            [reduce(p[r * sh : r * sh + kh, c * sw : c * sw + kw]) for c in range(ow)]
            for r in range(oh)
        ]
    )
    rows = np.pad(np.arange(h), (top, bottom), constant_values=-1).astype(np.int64)
    cols = np.pad(np.arange(w), (left, right), constant_values=-1).astype(np.int64)
    out = np.full((oh, ow), np.nan, dtype=dtype)
    _native.pool(x, rows, cols, out, (kh, kw), (sh, sw), op, fill, 0, oh)
    atol = 0 if op != "sum" else 8 * np.finfo(dtype).eps * kh * kw * max(float(np.abs(x).max()), 1)
    np.testing.assert_allclose(out, expected, rtol=0, atol=atol)


@pytest.mark.parametrize("mode", ["max", "min", "avg"])
def test_pool2d_native_matches_the_numpy_path(native_engine, numpy_engine_result, mode):
    """pool2d on float planes (the native path) equals the numpy path, ceil mode and
    padding included."""
    got, expected = numpy_engine_result(mode)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


@pytest.fixture
def numpy_engine_result(monkeypatch):
    """(native, numpy) results of one pool2d call, the second under CONVCLI_ENGINE=numpy."""

    def both(mode):
        x = np.random.default_rng(4).standard_normal((2, 3, 29, 41)).astype(np.float32)
        kwargs = dict(stride=2, padding=1, mode=mode, ceil_mode=True, count_include_pad=False)
        got = convcli.pool2d(x, 3, threads=2, **kwargs)
        monkeypatch.setenv("CONVCLI_ENGINE", "numpy")
        native.reset()
        try:
            expected = convcli.pool2d(x, 3, **kwargs)
        finally:
            monkeypatch.delenv("CONVCLI_ENGINE")
            native.reset()
        return got, expected

    return both


def test_pool_bad_calls_raise():
    """pool() refuses an unknown op, a bad window, and a short index map."""
    x = np.zeros((10, 12), np.float32)
    rows, cols = index_map(10, 0, 0, "zeros"), index_map(12, 0, 0, "zeros")
    out = np.zeros((5, 6), np.float32)
    with pytest.raises(ValueError, match="`op` must be 'max', 'min' or 'sum', got 'mean'"):
        _native.pool(x, rows, cols, out, (2, 2), (2, 2), "mean", 0.0, 0, 5)
    with pytest.raises(ValueError, match="`size` must be a pair of positive integers"):
        _native.pool(x, rows, cols, out, (0, 2), (2, 2), "max", 0.0, 0, 5)
    with pytest.raises(ValueError, match="`rows` has 10 entries; the call needs 11"):
        _native.pool(x, rows, cols, out, (3, 2), (2, 2), "max", 0.0, 0, 5)


def test_the_cost_model_prices_native_per_kernel_slice(native_engine):
    """A depthwise layer (32 groups of one channel) goes native: each slice's 9 taps are
    one pass (not 32 x 288); a 64 -> 128 layer stays with im2col's matrix product."""
    from convcli.arithmetic.geometry import Geometry
    from convcli.engine.costs import choose_strategy
    from convcli.engine.tiling import Problem

    geo = Geometry.resolve((112, 112), 3, padding=1)
    rng = np.random.default_rng(6)
    f32 = np.dtype(np.float32)
    depthwise = Problem.of(geo, 1, 32, 32, 32)
    assert (
        choose_strategy(depthwise, rng.standard_normal((32, 1, 3, 3)), f32, 1 << 28, 2) == "native"
    )
    wide = Problem.of(geo, 1, 64, 128, 1)
    assert choose_strategy(wide, rng.standard_normal((128, 64, 3, 3)), f32, 1 << 28, 2) == "im2col"
