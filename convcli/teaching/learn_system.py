"""The least-squares system of :func:`convcli.teaching.learn.learn_kernel`, folded band by band.

The patch matrix ``A`` of a large image does not fit in memory; it is built
a band of output rows at a time and folded into one upper-triangular
``R_aug`` (CholeskyQR2, or Householder QR for an ill-conditioned band), from
which the least-squares solution, its rank and the gradient-descent loss
all follow without ``A``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..arithmetic.geometry import Geometry
from ..engine.padding import gather
from ..engine.tiling import Tiling, bands
from ..errors import ShapeError

__all__ = [
    "EARLY_CHECK_WORK",
    "RANK_RTOL",
    "Factored",
    "band_rows",
    "check_rank",
    "factor_system",
    "factor_work",
    "lambda_max_floor",
    "triangular_factor",
]


#: Singular values below this fraction of the largest count as zero.
RANK_RTOL = 1e-10

#: Copies of a band's rows alive at once while it is folded in (the band, LAPACK's copy, work).
_BAND_COPIES = 4


@dataclass
class Factored:
    """The least-squares system ``A·w ≈ b`` folded into ``R_aug`` (upper triangular).

    ``[A | b] = Q·R_aug`` for some orthonormal Q, so ``R = R_aug[:n, :n]`` has
    A's singular values (``RᵀR = AᵀA``, the normal equations' matrix),
    ``qb = R_aug[:n, n]`` is ``Qᵀb`` (``Rᵀqb = Aᵀb``), and ``rho = |R_aug[n, n]|``
    is the residual left by the least-squares solution.
    """

    r: np.ndarray
    qb: np.ndarray
    rho: float
    rows: int
    constant: bool  # every tap of every window is the same value

    def loss(self, w: np.ndarray) -> float:
        """``|A·w − b|²`` without A: ``|R·w − qb|² + rho²``."""
        e = self.r @ w - self.qb
        return float(e @ e) + self.rho**2

    def gradient(self, w: np.ndarray) -> np.ndarray:
        """``∇|A·w − b|² = 2·Aᵀ(A·w − b) = 2·Rᵀ(R·w − qb)``."""
        return 2.0 * (self.r.T @ (self.r @ w - self.qb))


#: The largest ratio of a band's Cholesky diagonal kept by CholeskyQR2 (see
#: :func:`triangular_factor`): its Gram matrix then has a condition number
#: far below 1/eps, where two Cholesky passes are as accurate as Householder QR.
_CHOLQR_RATIO = 1e5


def triangular_factor(m: np.ndarray) -> np.ndarray:
    """Compute the upper-triangular ``R_aug`` of ``m = [A | b] = Q·R_aug``, for a tall ``m``.

    CholeskyQR2 on A: ``R1 = chol(AᵀA)``, ``Q1 = A·R1⁻¹``, ``R2 = chol(Q1ᵀQ1)``,
    ``Q = Q1·R2⁻¹``, ``R = R2·R1`` -- matrix products and triangular solves
    (BLAS level 3, 10-40× faster than Householder QR on a tall, narrow
    matrix) and as accurate as QR when A is well-conditioned; then b is
    projected on Q twice (``c = Qᵀb``, the residual ``b − Q·c``
    re-orthogonalised once), so an exact fit leaves a residual of rounding
    size, not ``eps·|b|``. A band whose A is not well-conditioned (a flat
    image, a rank-deficient patch matrix) falls back to Householder QR of
    the whole ``m``, which is always stable.
    """
    from scipy.linalg import qr, solve_triangular

    n = m.shape[1] - 1
    a, b = m[:, :n], m[:, n]
    try:
        r1 = np.linalg.cholesky(a.T @ a).T
        d = np.abs(np.diag(r1))
        if np.isfinite(r1).all() and d.min() * _CHOLQR_RATIO > d.max():
            q1t = solve_triangular(r1, a.T, trans="T", check_finite=False)  # (A·R1⁻¹)ᵀ
            r2 = np.linalg.cholesky(q1t @ q1t.T).T
            qt = solve_triangular(r2, q1t, trans="T", check_finite=False, overwrite_b=True)
            c = qt @ b
            res = b - qt.T @ c
            again = qt @ res
            res -= qt.T @ again
            r_aug = np.zeros((n + 1, n + 1))
            r_aug[:n, :n] = r2 @ r1
            r_aug[:n, n] = c + again
            r_aug[n, n] = np.sqrt(res @ res)
            if np.isfinite(r_aug).all():
                return r_aug
    except np.linalg.LinAlgError:
        pass
    return qr(m, mode="r", check_finite=False)[0]


#: Multiply-adds of :func:`factor_system` (about a second) above which gradient descent's
#: learning rate is checked against a cheap bound first (:func:`lambda_max_floor`).
EARLY_CHECK_WORK = 10**10


def band_rows(channels: int, geo: Geometry, n: int, budget: int) -> int:
    """Target rows per band of :func:`factor_system`: as many as fit ``budget`` (at least one)."""
    out_h, out_w = geo.output_shape
    per_row = _BAND_COPIES * 8 * (n + 1) * channels * out_w
    return max(1, min(out_h, (budget - 2 * 8 * (n + 1) ** 2) // per_row))


def factor_work(channels: int, geo: Geometry, n: int, budget: int) -> int:
    """Count the multiply-adds :func:`factor_system` spends.

    About ``5·m·(n+1)²`` for its m equations (CholeskyQR2 of each band) plus
    ``10·(n+1)³`` per band (folding it into the factor).

    Examples
    --------
    >>> geo = Geometry.resolve((1500, 2000), 31, padding="same")
    >>> factor_work(3, geo, 961, 256 * 2**20) > 10**13  # a 3-MP photo, 31×31
    True
    """
    out_h, out_w = geo.output_shape
    bands = -(-out_h // band_rows(channels, geo, n, budget))
    width = n + 1
    return 5 * width**2 * channels * out_h * out_w + bands * 10 * width**3


def lambda_max_floor(
    xs: np.ndarray, geo: Geometry, pad_mode: str, bias: bool, budget: int
) -> float:
    """Bound λmax(AᵀA) from below without A: ``|A·1|² / n`` (Rayleigh, u = 1/√n).

    ``A·1`` is each window's sum (plus 1 with a bias): a box filter of the
    input with the target's geometry, which running sums compute in a few
    passes, so an unstable learning rate is refused before the factorisation.
    """
    from ..engine.convolution import conv2d

    kh, kw = geo.kernel
    sums = conv2d(
        xs[:, None],
        np.ones((1, 1, kh, kw)),
        stride=geo.stride,
        padding=(*geo.padding[0], *geo.padding[1]),
        dilation=geo.dilation,
        pad_mode=pad_mode,
        dtype=np.dtype(np.float64),
        memory_budget=budget,
    )
    if bias:
        sums += 1.0
    return float(np.vdot(sums, sums)) / (kh * kw + int(bias))


def factor_system(
    xs: np.ndarray, ys: np.ndarray, geo: Geometry, pad_mode: str, bias: bool, budget: int
) -> Factored:
    """Fold the patch matrix into :class:`Factored` a band of output rows at a time.

    A band's windows (one row per target cell, one column per tap, then a
    column of ones with ``bias``, then the target) are stacked under the
    running ``R_aug`` and reduced by a QR factorisation back to ``(n + 1)²``
    numbers: the normal equations accumulated tile by tile in factored form,
    which keeps lstsq's accuracy (forming ``AᵀA`` itself would square the
    condition number) while the patch matrix never exists in full. Each
    band holds as many output rows as fit ``budget`` bytes (at least one).
    """
    c = xs.shape[0]
    taps = geo.kernel[0] * geo.kernel[1]
    n = taps + int(bias)
    out_h, out_w = geo.output_shape
    band = band_rows(c, geo, n, budget)
    tiling = Tiling(geo, pad_mode)
    r_aug = np.zeros((0, n + 1))
    lo, hi = np.inf, -np.inf
    for r0, r1 in bands(out_h, band):
        _, _, rows, cols, runs = tiling.tile(r0, r1, 0, out_w)
        block = gather(xs, rows, cols, np.dtype(np.float64), 0.0, runs)
        windows = tiling.windows(block)  # (C, th, out_w, kh, kw)
        m = windows.shape[0] * windows.shape[1] * windows.shape[2]
        part = np.empty((m, n + 1))
        part[:, :taps] = windows.reshape(m, taps)
        lo, hi = min(lo, part[:, :taps].min()), max(hi, part[:, :taps].max())
        if bias:
            part[:, taps] = 1.0
        part[:, n] = ys[:, r0:r1, :].reshape(-1)
        del block, windows
        r_aug = triangular_factor(np.vstack([r_aug, triangular_factor(part)]))
        del part
    if r_aug.shape[0] < n + 1:  # exactly n equations: no residual row
        r_aug = np.vstack([r_aug, np.zeros((n + 1 - r_aug.shape[0], n + 1))])
    return Factored(
        r=np.ascontiguousarray(r_aug[:n, :n]),
        qb=r_aug[:n, n].copy(),
        rho=abs(float(r_aug[n, n])),
        rows=c * out_h * out_w,
        constant=bool(lo == hi),
    )


def check_rank(f: Factored, k: tuple[int, int], with_bias: bool) -> np.ndarray:
    """Raise a ShapeError when the system cannot determine the weights; return its singular values."""
    unknowns = f.r.shape[1]
    what = f"{unknowns} unknowns ({k[0]}×{k[1]} weights{' + bias' if with_bias else ''})"
    s = np.linalg.svd(f.r, compute_uv=False)  # the patch matrix's singular values
    rank = int(np.sum(s > RANK_RTOL * s[0])) if s[0] > 0 else 0
    if rank < unknowns:
        if rank <= 1 and f.constant:
            why = "the input is constant, so every window looks the same"
        else:
            why = "the input's windows are not varied enough to tell the weights apart"
        raise ShapeError(
            f"ill-posed: {why}: the patch matrix has rank {rank} for {what}; many kernels "
            "fit equally well (use a textured input, a smaller --size, or drop --bias)"
        )
    return s
