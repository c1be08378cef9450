"""The rank-1 test costs O(kh * kw): no SVD, the same decisions as the singular values."""

from __future__ import annotations

import numpy as np
import pytest
from terminal import run_piped

from convcli import KernelError, get_kernel
from convcli.engine.strategies import rank_one_factors


@pytest.fixture
def no_svd(monkeypatch):
    """Any SVD (or other cubic-cost decomposition) of the kernel fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("rank_one_factors must not decompose the kernel")

    for name in ("svd", "matrix_rank", "qr", "eig", "eigh", "lstsq"):
        monkeypatch.setattr(np.linalg, name, refuse)


def test_no_decomposition_for_huge_kernels(no_svd):
    """A 3000² box and a large Gaussian split without an SVD; a large rank-2 kernel is refused."""
    col, row = rank_one_factors(np.ones((3000, 3000)))
    assert np.all(col == 1) and np.all(row == 1) and col.shape == (3000,)
    g = get_kernel("gaussian:sigma=300").weights
    col, row = rank_one_factors(g)
    np.testing.assert_allclose(np.outer(col, row), g, rtol=0, atol=1e-15 * g.max())
    rank_two = np.ones((2000, 2000))
    rank_two[1000:, 1000:] = 2.0  # [[1, 1], [1, 2]] in blocks: rank 2
    assert rank_one_factors(rank_two) is None


def test_kernels_show_uses_no_svd(no_svd):
    """`kernels show` of a big box asks Kernel.is_separable, which needs no decomposition."""
    assert get_kernel("box:1500").is_separable


def _svd_says_rank_one(k: np.ndarray, dtype) -> bool:
    """The old rule, as an oracle: second singular value <= 10 max(kh, kw) eps * first."""
    s = np.linalg.svd(k, compute_uv=False)
    return bool(s[1] <= 10 * max(k.shape) * np.finfo(dtype).eps * s[0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(3, 3), (7, 5), (1, 9), (9, 1), (31, 17), (64, 64)])
def test_same_decisions_as_the_singular_values(shape, dtype):
    """Rank-1 kernels perturbed well below the tolerance are split, well above it refused,
    exactly as the SVD rule decides; random full-rank kernels are never split."""
    rng = np.random.default_rng(sum(shape))
    tol = 10 * max(shape) * np.finfo(dtype).eps
    for trial in range(20):
        u = rng.standard_normal(shape[0])
        v = rng.standard_normal(shape[1])
        k = np.outer(u, v)
        noise = rng.standard_normal(shape)
        noise *= np.linalg.norm(k) / np.linalg.norm(noise)
        small = k + noise * tol / 100
        got = rank_one_factors(small, dtype)
        assert got is not None, (trial, "small perturbation refused")
        np.testing.assert_allclose(np.outer(*got), small, rtol=0, atol=tol * np.abs(k).max())
        if min(shape) > 1:
            large = k + noise * tol * 100
            assert _svd_says_rank_one(small, dtype) and not _svd_says_rank_one(large, dtype)
            assert rank_one_factors(large, dtype) is None, (trial, "large perturbation split")
            assert rank_one_factors(rng.standard_normal(shape), dtype) is None


def test_zero_kernel_and_single_nonzero():
    """All zeros splits into zeros; one nonzero tap splits with that tap in the row."""
    col, row = rank_one_factors(np.zeros((4, 5)))
    assert not col.any() and not row.any()
    k = np.zeros((3, 4))
    k[1, 2] = -5.0
    col, row = rank_one_factors(k)
    np.testing.assert_array_equal(np.outer(col, row), k)
    assert col[1] > 0


def test_non_finite_kernels_are_not_split():
    """NaN or inf anywhere: not rank 1 (the caller reports the bad weights)."""
    for bad in (np.nan, np.inf, -np.inf):
        k = np.ones((5, 5))
        k[4, 0] = bad
        assert rank_one_factors(k) is None


def table_rows(text: str) -> list[list[str]]:
    """The rows of a kernel's table, its blocks of columns (one box each) joined back."""
    blocks: list[list[list[str]]] = []
    for line in text.splitlines():
        if line.startswith("┌"):
            blocks.append([])
        elif blocks and line.startswith("│"):
            blocks[-1].append([c.strip() for c in line.strip("│").split("│")])
    return [[cell for part in parts for cell in part] for parts in zip(*blocks, strict=True)]


def test_kernels_show_prints_the_corners_of_a_huge_kernel(tmp_path):
    """`convcli kernels show box:3000` (the installed command) prints a table of its corners,
    17 rows of 17 cells (8, a gap, 8) with every value 1/3000², and says so."""
    code, out, err = run_piped(["kernels", "show", "box:3000"], tmp_path, timeout=60)
    assert code == 0, err
    text = out.decode()
    assert "3000×3000, sum 1, separable" in text
    assert "corners of 3000×3000; --format text has every value" in text
    body = table_rows(text)
    assert len(body) == 17
    cells = body[0]
    assert cells == ["1.11e-07"] * 8 + ["…"] + ["1.11e-07"] * 8
    assert float(cells[0]) == pytest.approx(1 / 3000**2, rel=1e-2)


def test_kernels_show_keeps_every_cell_of_a_small_kernel(tmp_path):
    """Up to 32 a side, every value is shown (no corners note)."""
    code, out, err = run_piped(["kernels", "show", "box:32"], tmp_path)
    assert code == 0, err
    text = out.decode()
    assert "corners" not in text and "…" not in text
    rows = table_rows(text)
    assert len(rows) == 32 and {len(row) for row in rows} == {32}


def test_gaussian_by_sigma_is_bounded_like_by_size():
    """A Gaussian is bounded by its factors' taps (issue 21 item 15: gaussian:sigma=1000,
    8001 a side, was refused as 8001² taps); the unsharp mask, not separable, by its
    2-D taps."""
    assert get_kernel("gaussian:sigma=1000").shape == (8001, 8001)
    with pytest.raises(KernelError, match=r"'gaussian' `sigma` 1e\+07: 80000001×1 = 80000001 taps"):
        get_kernel("gaussian:sigma=1e7")
    with pytest.raises(KernelError, match=r"'unsharp' `size` 9001: 9001×9001"):
        get_kernel("unsharp:size=9001")
    assert get_kernel("gaussian:sigma=200").shape == (1601, 1601)
