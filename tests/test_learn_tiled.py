"""learn folds its patch matrix in band by band: bounded memory, the same answers as lstsq."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import scipy.linalg  # noqa: F401  (learn's, imported before tracemalloc counts)
from numpy.lib.stride_tricks import sliding_window_view
from terminal import run_piped

from convcli import LimitError, ShapeError
from convcli.teaching.learn import learn_kernel

#: numpy's name for each of convcli's pad modes (an independent padding oracle).
NP_PAD = {"zeros": "constant", "reflect": "reflect", "symmetric": "symmetric",
          "replicate": "edge", "circular": "wrap"}  # fmt: skip


def oracle_matrix(x, k, stride, dilation, padding, mode, bias):
    """The whole patch matrix, built with np.pad and sliding windows (not convcli's code)."""
    (t, b), (left, r) = padding
    planes = x if x.ndim == 3 else x[None]
    padded = np.pad(planes, ((0, 0), (t, b), (left, r)), mode=NP_PAD[mode])
    span = ((k[0] - 1) * dilation[0] + 1, (k[1] - 1) * dilation[1] + 1)
    win = sliding_window_view(padded, span, axis=(1, 2))
    win = win[:, :: stride[0], :: stride[1], :: dilation[0], :: dilation[1]]
    a = win.reshape(-1, k[0] * k[1])
    if bias:
        a = np.hstack([a, np.ones((a.shape[0], 1))])
    return a


CASES = [
    # (shape, kernel, stride, dilation, ((top, bottom), (left, right)), pad mode, bias)
    ((40, 50), (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1)), "reflect", False),
    ((40, 50), (5, 3), (1, 1), (1, 1), ((0, 0), (0, 0)), "reflect", True),
    ((41, 37), (3, 4), (2, 3), (1, 1), ((0, 1), (2, 0)), "zeros", False),
    ((45, 52), (3, 3), (1, 1), (2, 3), ((2, 2), (3, 3)), "symmetric", True),
    ((3, 30, 33), (2, 5), (1, 2), (1, 1), ((1, 0), (2, 2)), "circular", False),
    ((30, 33), (4, 4), (3, 1), (2, 1), ((3, 3), (1, 2)), "replicate", True),
]


@pytest.mark.parametrize("budget", [1 << 28, 40_000])
@pytest.mark.parametrize(("shape", "k", "stride", "dilation", "pad", "mode", "bias"), CASES)
def test_equal_to_lstsq_on_the_whole_patch_matrix(shape, k, stride, dilation, pad, mode, bias,
                                                  budget):  # fmt: skip
    """A noisy target (no exact fit): kernel, bias and loss equal numpy's lstsq on the whole
    patch matrix, with one band or one target row per band (budget 40 kB)."""
    rng = np.random.default_rng(sum(shape) + k[0])
    x = rng.random(shape)
    a = oracle_matrix(x, k, stride, dilation, pad, mode, bias)
    planes = 1 if x.ndim == 2 else x.shape[0]
    span = [(k[i] - 1) * dilation[i] + 1 for i in (0, 1)]
    out = [(shape[-2 + i] + sum(pad[i]) - span[i]) // stride[i] + 1 for i in (0, 1)]
    assert a.shape[0] == planes * out[0] * out[1]
    y = rng.standard_normal(a.shape[0])
    want, *_ = np.linalg.lstsq(a, y, rcond=None)
    want_loss = float(np.sum((a @ want - y) ** 2))
    target = y.reshape((planes, *out)) if x.ndim == 3 else y.reshape(out)
    got = learn_kernel(
        x, target, k, stride=stride, dilation=dilation, padding=pad, pad_mode=mode, bias=bias,
        memory_budget=budget,
    )  # fmt: skip
    np.testing.assert_allclose(got.kernel.ravel(), want[: k[0] * k[1]], rtol=1e-9, atol=1e-10)
    if bias:
        assert got.bias == pytest.approx(want[-1], rel=1e-9, abs=1e-10)
    assert got.loss == pytest.approx(want_loss, rel=1e-9)
    assert got.equations == a.shape[0]


def test_gd_steps_equal_the_textbook_update():
    """Gradient descent from the factored system takes the steps w − lr·2Aᵀ(Aw − y) of the
    explicit patch matrix, and reports the same losses."""
    rng = np.random.default_rng(5)
    x = rng.random((30, 31))
    y = rng.standard_normal((28, 29))
    a = oracle_matrix(x, (3, 3), (1, 1), (1, 1), ((0, 0), (0, 0)), "zeros", True)
    b = y.ravel()
    got = learn_kernel(x, y, 3, method="gd", bias=True, steps=5, seed=3, memory_budget=30_000)
    w = rng_w = np.random.default_rng(3).standard_normal(10)
    rng_w[-1] = 0.0
    losses = [float(np.sum((a @ w - b) ** 2))]
    for _ in range(5):
        w = w - got.lr * 2.0 * (a.T @ (a @ w - b))
        losses.append(float(np.sum((a @ w - b) ** 2)))
    np.testing.assert_allclose(got.history, losses, rtol=1e-9)
    np.testing.assert_allclose(got.kernel.ravel(), w[:9], rtol=1e-8, atol=1e-12)
    assert got.bias == pytest.approx(w[-1], rel=1e-8, abs=1e-12)


def test_peak_memory_stays_under_a_small_budget():
    """A 1200×1200 image with a 7×7 kernel: the old patch matrix was 1.4 M × 49 float64
    (564 MB); with a 4 MiB budget the peak of everything learn allocates stays under
    4 MiB plus the input's finiteness mask, and the kernel is recovered."""
    rng = np.random.default_rng(7)
    x = rng.random((1200, 1200))
    true = rng.standard_normal((7, 7))
    a_rows = sliding_window_view(np.pad(x, 3, mode="reflect"), (7, 7))
    y = np.einsum("ijkl,kl->ij", a_rows, true)  # the target, by an independent sum
    del a_rows
    budget = 4 << 20
    tracemalloc.start()
    try:
        got = learn_kernel(x, y, 7, memory_budget=budget)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_allclose(got.kernel, true, atol=1e-9)
    assert peak < budget + x.size, f"peak {peak / 2**20:.1f} MiB"


def test_too_many_unknowns_is_a_limit_error_before_any_work():
    """A 60×60 kernel: 3600 unknowns, over the policy: LimitError naming `size`."""
    with pytest.raises(LimitError, match=r"`size` 60×60: 3600 unknowns need a 3601×3601 matrix"):
        learn_kernel(np.zeros((100, 100)), np.zeros((41, 41)), 60)
    with pytest.raises(LimitError, match=r"`size` 54×54 with bias: 2917 unknowns"):
        learn_kernel(np.zeros((100, 100)), np.zeros((47, 47)), 54, bias=True)
    with pytest.raises(
        ShapeError, match=r"ill-posed: 4 equations \(target cells\) for 10 unknowns"
    ):
        learn_kernel(np.ones((4, 4)), np.ones((2, 2)), 3, bias=True)


def test_cli_size_over_the_limit_is_a_usage_error(tmp_path):
    """`convcli learn --size 60` (the installed command) exits 2 with one line naming --size."""
    np.savetxt(tmp_path / "x.txt", np.random.default_rng(1).random((70, 70)))
    np.savetxt(tmp_path / "y.txt", np.zeros((11, 11)))
    code, _, err = run_piped(["learn", "x.txt", "y.txt", "--size", "60"], tmp_path)
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert any("60×60: 3600 unknowns" in line and "limit is 2896" in line for line in lines), err
