"""engine/tiling.py, the one planner of tiles and bands, against brute force.

Every check here is computed independently of the planner: which output
pixels a set of tiles covers (counted one by one), which padded cells a
tile's windows touch (enumerated window by window, padded with numpy.pad),
what a window read from a file reader gives (a correlation by explicit
loops on numpy.pad's whole padded image), the rows a chain of stages needs
for a band (sets of rows walked back stage by stage), and what a chain of
strided stages reaches.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from convcli.arithmetic.geometry import Geometry
from convcli.engine.tiling import Tiling, band_height, bands, boxes, chain_band, chain_halo
from convcli.errors import ConvcliError

#: convcli's pad modes and numpy.pad's names for them (docs/CONVENTIONS)
NUMPY_MODE = {
    "zeros": "constant",
    "replicate": "edge",
    "symmetric": "symmetric",
    "reflect": "reflect",
    "circular": "wrap",
}

paddings = st.one_of(st.sampled_from(["same", "valid", "full"]), st.integers(0, 4))


@st.composite
def tilings(draw):
    """A valid geometry on a small image, a pad mode and a tile size."""
    h, w = draw(st.integers(1, 14)), draw(st.integers(1, 14))
    k = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = draw(paddings)
    try:
        geo = Geometry.resolve((h, w), k, stride=stride, padding=padding, dilation=dilation)
        assume(min(geo.output_shape) >= 1)
    except ConvcliError:
        assume(False)
    mode = draw(st.sampled_from(sorted(NUMPY_MODE)))
    tile = (draw(st.integers(1, 6)), draw(st.integers(1, 6)))
    return geo, mode, tile


def padded_positions(geo: Geometry, axis: int, a: int, b: int) -> list[int]:
    """Every padded position the windows of outputs [a, b) touch along ``axis``, one by one."""
    s, d, k = geo.stride[axis], geo.dilation[axis], geo.kernel[axis]
    return sorted({r * s + i * d for r in range(a, b) for i in range(k)})


def oracle_map(n: int, before: int, after: int, mode: str) -> np.ndarray:
    """numpy.pad of the indices 0..n-1: the input index each padded position copies (-1: 0)."""
    if mode == "zeros":
        return np.pad(np.arange(n), (before, after), mode="constant", constant_values=-1)
    return np.pad(np.arange(n), (before, after), mode=NUMPY_MODE[mode])


def correlate_loops(padded: np.ndarray, geo: Geometry, weights: np.ndarray) -> np.ndarray:
    """Correlation of an already padded image by explicit loops over outputs and taps."""
    (sh, sw), (dh, dw), (kh, kw) = geo.stride, geo.dilation, geo.kernel
    oh = (padded.shape[0] - geo.span[0]) // sh + 1
    ow = (padded.shape[1] - geo.span[1]) // sw + 1
    out = np.zeros((oh, ow))
    for y in range(oh):
        for x in range(ow):
            for i in range(kh):
                for j in range(kw):
                    out[y, x] += weights[i, j] * padded[y * sh + i * dh, x * sw + j * dw]
    return out


@settings(max_examples=150, deadline=None)
@given(tilings())
def test_tiles_cover_every_output_once_and_read_exactly_their_windows(case):
    """Tiles cover each output pixel exactly once; each reads the padded cells its windows touch."""
    geo, mode, (th, tw) = case
    tiling = Tiling(geo, mode)
    (top, bottom), (left, right) = geo.padding
    rows_oracle = oracle_map(geo.size[0], top, bottom, mode)
    cols_oracle = oracle_map(geo.size[1], left, right, mode)
    counts = np.zeros(geo.output_shape, int)
    for rs, cs, rows, cols, _ in tiling.tiles(th, tw):
        counts[rs, cs] += 1
        touched_r = padded_positions(geo, 0, rs.start, rs.stop)
        touched_c = padded_positions(geo, 1, cs.start, cs.stop)
        # the map covers the touched positions from the first to the last, no more
        np.testing.assert_array_equal(rows, rows_oracle[touched_r[0] : touched_r[-1] + 1])
        np.testing.assert_array_equal(cols, cols_oracle[touched_c[0] : touched_c[-1] + 1])
    assert (counts == 1).all(), counts


@settings(max_examples=120, deadline=None)
@given(tilings(), st.integers(0, 2**32 - 1))
def test_a_window_read_from_a_file_reader_gives_the_whole_images_outputs(case, seed):
    """Outputs computed from Tiling.window (read rectangle by rectangle) equal the whole image's."""
    geo, mode, (th, tw) = case
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, geo.size).astype(np.float64)
    weights = rng.standard_normal(geo.kernel)
    (top, bottom), (left, right) = geo.padding
    np_mode = NUMPY_MODE[mode]
    padded = np.pad(image, ((top, bottom), (left, right)), mode=np_mode)
    whole = correlate_loops(padded, geo, weights)
    assert whole.shape == geo.output_shape
    reads = []

    def read(r: slice, c: slice) -> np.ndarray:
        assert 0 <= r.start < r.stop <= geo.size[0] and 0 <= c.start < c.stop <= geo.size[1]
        reads.append((r, c))
        return image[r, c]

    tiling = Tiling(geo, mode)
    out = np.full(geo.output_shape, np.nan)
    for r0, r1, c0, c1 in boxes(geo.output_shape, th, tw):
        window = tiling.window(read, r0, r1, c0, c1)
        out[r0:r1, c0:c1] = correlate_loops(window, geo, weights)
    np.testing.assert_allclose(out, whole, rtol=1e-12, atol=1e-9)


@given(st.integers(0, 40), st.integers(1, 9), st.integers(0, 40))
def test_bands_cut_a_range_into_consecutive_pieces(stop, size, start):
    """bands() covers [start, stop) in order, each piece `size` long but the last."""
    cuts = list(bands(stop, size, start))
    covered = [i for a, b in cuts for i in range(a, b)]
    assert covered == list(range(start, stop))
    assert all(b - a == size for a, b in cuts[:-1])
    assert all(0 < b - a <= size for a, b in cuts)


def test_a_band_of_no_rows_is_refused():
    """A band size of 0 would loop forever: a ParameterError instead."""
    with pytest.raises(ConvcliError, match="at least 1"):
        list(bands(5, 0))


@st.composite
def chains(draw):
    """An image height, a chain of 'same' stride-1 stages (kernel height, dilation), a band."""
    h = draw(st.integers(1, 40))
    stages = draw(st.lists(st.tuples(st.integers(1, 7), st.integers(1, 3)), min_size=1, max_size=4))
    r0 = draw(st.integers(0, h - 1))
    r1 = draw(st.integers(r0 + 1, h))
    return h, stages, r0, r1


@settings(max_examples=200, deadline=None)
@given(chains())
def test_chain_band_needs_exactly_the_rows_the_windows_reach(case):
    """Walking back stage by stage over sets of rows gives the band's rows and edge padding."""
    h, stages, r0, r1 = case
    splits = []
    for k, d in stages:  # 'same': d(k-1) split with the extra cell after (CONVENTIONS)
        total = d * (k - 1)
        splits.append((total // 2, total - total // 2))
    plan = chain_band(h, splits, r0, r1)
    needed = set(range(r0, r1))
    expected = []
    for (k, d), (top, _) in reversed(list(zip(stages, splits, strict=True))):
        positions = {r - top + j * d for r in needed for j in range(k)}
        lo, hi = max(0, min(positions)), min(h, max(positions) + 1)
        pad = (max(0, -min(positions)), max(0, max(positions) + 1 - h))
        expected.append(((lo, hi), pad))
        needed = set(range(lo, hi))
    expected.reverse()
    assert plan == expected
    # each stage, padded as planned, produces exactly the rows the next stage holds
    outs = [lo_hi for lo_hi, _ in plan[1:]] + [(r0, r1)]
    for ((lo, hi), (pt, pb)), (k, d), (a, b) in zip(plan, stages, outs, strict=True):
        assert (hi - lo) + pt + pb - d * (k - 1) == b - a


@st.composite
def strided_chains(draw):
    """A chain of stages (kernel, stride, dilation, padding) on one axis, sized to be valid."""
    size = draw(st.integers(8, 60))
    geos = []
    for _ in range(draw(st.integers(1, 3))):
        k, s, d = draw(st.integers(1, 5)), draw(st.integers(1, 3)), draw(st.integers(1, 2))
        try:
            geo = Geometry.resolve((size, size), k, stride=s, padding=draw(paddings), dilation=d)
            assume(min(geo.output_shape) >= 1)
        except ConvcliError:
            assume(False)
        geos.append(geo)
        size = geo.output_shape[0]
    return geos


@settings(max_examples=200, deadline=None)
@given(strided_chains(), st.integers(0, 5), st.integers(1, 5))
def test_chain_halo_is_what_the_windows_reach(geos, r0, n):
    """The halo of a chain, against the rows a block's windows reach, walked back stage by stage."""
    r1 = r0 + n
    positions = set(range(r0, r1))
    scale = 1
    for geo in reversed(geos):
        (top, _), s, d, k = geo.padding[0], geo.stride[0], geo.dilation[0], geo.kernel[0]
        positions = {r * s - top + j * d for r in positions for j in range(k)}
        scale *= s
    exact_top = r0 * scale - min(positions)
    exact_bottom = max(positions) + 1 - r1 * scale
    top, bottom, left, right = chain_halo(geos)
    assert top == left == exact_top
    assert bottom == right >= max(0, exact_bottom)
    if all(geo.span[0] - geo.stride[0] - geo.padding[0][0] >= 0 for geo in geos):
        # exact unless a stage's windows end before its own cells (a stride over the
        # span, or a padding above a short kernel): then that stage adds 0, not less
        assert bottom == exact_bottom


def test_band_height_follows_the_budget_and_the_reach():
    """A band holds budget/share bytes of rows, at least reach + 1, and cuts only tall images."""
    assert band_height(1000, 4, 100, 16 * 100 * 50) == 50
    assert band_height(1000, 80, 100, 16 * 100 * 50) == 81  # never thinner than the reach
    assert band_height(99, 4, 100, 16 * 100 * 50) is None  # shorter than two bands
    assert band_height(100, 4, 100, 16 * 100 * 50) == 50
