"""learn_kernel: recovering known kernels, gradient descent, and ill-posed problems."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import scipy.ndimage

from convcli import ParameterError, ShapeError
from convcli.teaching.learn import learn_kernel, target_padding

CAMERA = Path(__file__).resolve().parent.parent / "sample_images" / "camera.png"
SOBEL_X = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])


def textbook():
    """The textbook's X (6x8 ones, columns 2..5 zero) and Y = X ⋆ [[1, -1]] by hand."""
    x = np.ones((6, 8))
    x[:, 2:6] = 0
    y = x[:, :-1] - x[:, 1:]
    return x, y


def test_textbook_lstsq():
    """lstsq recovers the textbook's [[1, -1]] to 1e-6 with no loss left."""
    x, y = textbook()
    result = learn_kernel(x, y, (1, 2))
    np.testing.assert_allclose(result.kernel, [[1.0, -1.0]], atol=1e-6)
    assert result.loss < 1e-20
    assert result.equations == 42


def test_textbook_gd_falling_loss():
    """gd, lr 0.03, 10 steps from a seeded start: loss falls every step and ends near [[1, -1]]."""
    x, y = textbook()
    result = learn_kernel(x, y, (1, 2), method="gd", lr=0.03, steps=10, seed=0)
    assert len(result.history) == 11
    assert np.all(np.diff(result.history) < 0)
    np.testing.assert_allclose(result.kernel, [[1.0, -1.0]], atol=0.05)
    assert result.loss == result.history[-1]


def test_gd_first_step_by_hand():
    """One gd step is w − lr·2·Aᵀ(Aw − y), written with explicit loops over the windows."""
    x, y = textbook()
    w0 = np.array([0.3, 0.7])
    result = learn_kernel(x, y, (1, 2), method="gd", lr=0.01, steps=1, init=w0)
    grad = np.zeros(2)
    for i in range(6):
        for j in range(7):
            err = x[i, j] * w0[0] + x[i, j + 1] * w0[1] - y[i, j]
            grad += 2 * err * np.array([x[i, j], x[i, j + 1]])
    np.testing.assert_allclose(result.kernel.ravel(), w0 - 0.01 * grad)


def test_callback_sees_every_step():
    """The callback gets each step's number and loss."""
    x, y = textbook()
    seen = []
    result = learn_kernel(
        x, y, (1, 2), method="gd", steps=5, callback=lambda s, loss, w: seen.append((s, loss))
    )
    assert [s for s, _ in seen] == [1, 2, 3, 4, 5]
    assert [loss for _, loss in seen] == result.history[1:]


def test_sobel_from_photo_same_reflect():
    """Sobel-x is recovered to 1e-4 from a photograph filtered with 'same' reflect padding."""
    x = np.asarray(PIL.Image.open(CAMERA), dtype=np.float64)
    # scipy's "mirror" is convcli's reflect (d c b | a b c d)
    y = scipy.ndimage.correlate(x, SOBEL_X, mode="mirror").astype(np.float32)
    result = learn_kernel(x, y, 3)
    np.testing.assert_allclose(result.kernel, SOBEL_X, atol=1e-4)
    assert result.padding == ((1, 1), (1, 1))


def test_random_kernel_symmetric_padding_and_bias():
    """A random 3x2 kernel plus bias is recovered from symmetric 'same' padding."""
    rng = np.random.default_rng(21)
    x = rng.normal(size=(20, 24))
    k = rng.normal(size=(3, 2))
    # 'same' for kh=3, kw=2: rows 1 before / 1 after, cols 0 before / 1 after
    xp = np.pad(x, ((1, 1), (0, 1)), mode="symmetric")
    y = np.zeros_like(x)
    for i in range(3):
        for j in range(2):
            y += k[i, j] * xp[i : i + 20, j : j + 24]
    result = learn_kernel(x, y + 2.5, (3, 2), bias=True, pad_mode="symmetric")
    np.testing.assert_allclose(result.kernel, k, atol=1e-9)
    assert result.bias == pytest.approx(2.5)


def test_convolve_returns_flipped_kernel():
    """With convolve=True the kernel is in convolution form (scipy.ndimage.convolve's)."""
    rng = np.random.default_rng(22)
    x = rng.normal(size=(16, 16))
    k = rng.normal(size=(3, 3))
    y = scipy.ndimage.convolve(x, k, mode="mirror")
    np.testing.assert_allclose(learn_kernel(x, y, 3, convolve=True).kernel, k, atol=1e-9)


def test_stride_valid():
    """A stride-2 valid correlation is explained with stride=2."""
    rng = np.random.default_rng(23)
    x = rng.normal(size=(11, 9))
    k = rng.normal(size=(2, 2))
    y = np.array(
        [[np.sum(x[2 * r : 2 * r + 2, 2 * q : 2 * q + 2] * k) for q in range(4)] for r in range(5)]
    )
    np.testing.assert_allclose(learn_kernel(x, y, 2, stride=2).kernel, k, atol=1e-9)


def test_channels_are_extra_samples():
    """A (C, H, W) input and target share one kernel."""
    rng = np.random.default_rng(24)
    x = rng.normal(size=(3, 5, 5))
    k = np.array([[1.0, 2.0]])
    y = x[..., :-1] * 1.0 + x[..., 1:] * 2.0
    result = learn_kernel(x, y, (1, 2))
    np.testing.assert_allclose(result.kernel, k, atol=1e-9)
    assert result.equations == 3 * 5 * 4


def test_target_padding_words():
    """A same-size target means 'same' padding, a smaller one 'valid'."""
    assert target_padding((8, 8), (8, 8), (4, 4)) == ((1, 2), (1, 2))
    assert target_padding((8, 8), (5, 5), (4, 4)) == ((0, 0), (0, 0))


# ------------------------------------------------------------------ ill-posed


def test_error_constant_image():
    """A constant input cannot tell the weights apart."""
    with pytest.raises(
        ShapeError,
        match=r"ill-posed: the input is constant, so every window looks the same: the patch matrix has rank 1 for 9 unknowns",
    ):
        learn_kernel(np.full((8, 8), 3.0), np.full((6, 6), 27.0), 3)


def test_error_constant_along_an_axis():
    """Columns that are all alike cannot determine a 2x1 kernel's rows apart."""
    x = np.tile(np.arange(6.0), (6, 1))  # every row the same
    with pytest.raises(ShapeError, match=r"not varied enough.*rank 1 for 2 unknowns"):
        learn_kernel(x, x[:-1], (2, 1))


def test_error_fewer_equations_than_unknowns():
    """Two target cells cannot determine four weights."""
    with pytest.raises(ShapeError, match=r"ill-posed: 2 equations \(target cells\) for 4 unknowns"):
        learn_kernel(np.arange(6.0).reshape(2, 3), np.zeros((1, 2)), 2)


def test_error_target_size_unexplained():
    """A target whose size no padding gives is named with both sizes."""
    with pytest.raises(ShapeError, match=r"turns the 8×8 input into 6×6, but the target is 5×6"):
        learn_kernel(np.random.default_rng(0).normal(size=(8, 8)), np.zeros((5, 6)), 3)


def test_error_channel_mismatch():
    """Input and target must have the same channels."""
    with pytest.raises(ShapeError, match="input has 2 channel"):
        learn_kernel(np.zeros((2, 4, 4)), np.zeros((3, 4, 4)), 1)


def _textured_problem():
    """A seeded 7x9 input, its valid correlation with a 2x2 kernel plus 0.5, by explicit loops."""
    rng = np.random.default_rng(4)
    x = rng.uniform(0, 3, (7, 9))
    k = np.array([[1.0, -2.0], [0.5, 3.0]])
    y = np.zeros((6, 8))
    for i in range(6):
        for j in range(8):
            y[i, j] = sum(x[i + u, j + v] * k[u, v] for u in range(2) for v in range(2)) + 0.5
    return x, y


def _lr_bound(x, kh, kw, bias):
    """2/λmax of the Hessian 2·AᵀA of Σ(Aw − y)², A built window by window with loops."""
    rows = []
    for i in range(x.shape[0] - kh + 1):
        for j in range(x.shape[1] - kw + 1):
            row = [x[i + u, j + v] for u in range(kh) for v in range(kw)]
            rows.append([*row, 1.0] if bias else row)
    a = np.array(rows)
    return 2.0 / np.linalg.eigvalsh(2.0 * a.T @ a)[-1]


@pytest.mark.parametrize("factor", [1.000001, 1.01, 50.0])
def test_error_gd_unstable_lr_refused_before_any_step(factor):
    """An lr at or above 2/λmax(2AᵀA) is refused before the first step, naming the bound."""
    from convcli.teaching.learn import UnstableLearningRate

    x, y = _textured_problem()
    bound = _lr_bound(x, 2, 2, bias=True)
    calls = []
    with pytest.raises(UnstableLearningRate) as info:
        learn_kernel(
            x,
            y,
            2,
            bias=True,
            method="gd",
            lr=bound * factor,
            steps=3,
            callback=lambda *a: calls.append(a),
        )
    assert calls == []  # not one step taken
    assert info.value.max_lr == pytest.approx(bound, rel=1e-9)
    assert isinstance(info.value, ParameterError)
    assert f"it must stay below {bound:.6g}" in str(info.value)
    assert "Hessian 2·AᵀA" in str(info.value) and "48×5 patch matrix" in str(info.value)


def test_gd_just_below_the_bound_converges_and_default_is_stable():
    """Just below the bound the loss still falls; the default rate lies below it and converges."""
    x, y = _textured_problem()
    bound = _lr_bound(x, 2, 2, bias=True)
    below = learn_kernel(x, y, 2, bias=True, method="gd", lr=bound * 0.99, steps=50)
    assert below.history[-1] < below.history[0]
    default = learn_kernel(x, y, 2, bias=True, method="gd", steps=2000)
    assert default.lr < bound and default.max_lr == pytest.approx(bound, rel=1e-9)
    np.testing.assert_allclose(default.kernel, [[1.0, -2.0], [0.5, 3.0]], atol=1e-4)
    assert default.bias == pytest.approx(0.5, abs=1e-4)


def test_error_unknown_method():
    """Only lstsq and gd are known."""
    x, y = textbook()
    with pytest.raises(ParameterError, match="unknown `method` 'adam'"):
        learn_kernel(x, y, (1, 2), method="adam")
