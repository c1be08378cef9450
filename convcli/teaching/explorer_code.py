"""The code panel of the explorer: the same operation in PyTorch, Keras and convcli.

Each snippet carries the explorer's own numbers, so that pasting it prints
the output the page shows. The PyTorch and ``convcli conv`` lines are run by
the tests; the Keras lines follow Keras 3's documented layer arguments.
"""

from __future__ import annotations

import shlex

import numpy as np

from ..output import format_number
from .frames import Animation

__all__ = ["code_lines"]


def _nested(a: np.ndarray) -> str:
    """Write an array as a nested list of whole or short numbers, in JSON and Python alike."""
    if a.ndim == 0:
        return format_number(float(a))
    return "[" + ", ".join(_nested(v) for v in a) + "]"


def _arg(pair: tuple[int, int]) -> str:
    """Write a convcli N|HxW argument."""
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}x{pair[1]}"


def _pad_arg(pads: tuple[tuple[int, int], tuple[int, int]]) -> str:
    """Write a convcli --padding argument: N, HxW or t:bxl:r."""
    (t, b), (left, r) = pads
    if t == b and left == r:
        return _arg((t, left))
    return f"{t}:{b}x{left}:{r}"


def _symmetric(pads: tuple[tuple[int, int], tuple[int, int]]) -> bool:
    return pads[0][0] == pads[0][1] and pads[1][0] == pads[1][1]


def code_lines(
    anim: Animation, x: np.ndarray, weight: np.ndarray | None, groups: int
) -> dict[str, str]:
    """PyTorch, Keras and ``convcli conv`` code computing what the explorer shows.

    Parameters
    ----------
    anim : Animation
        The geometry.
    x : ndarray, shape (C, H, W)
    weight : ndarray or None
        In PyTorch's layout for the operation; None for pooling.
    groups : int

    Returns
    -------
    dict
        ``{"PyTorch": ..., "Keras": ..., "convcli": ...}``.
    """
    return {
        "PyTorch": _torch(anim, x, weight, groups),
        "Keras": _keras(anim, x, weight, groups),
        "convcli": _convcli(anim, x, weight, groups),
    }


def _torch(anim: Animation, x: np.ndarray, weight: np.ndarray | None, groups: int) -> str:
    c, h, w = x.shape
    pads = anim.padding
    lines = [
        "import torch",
        "import torch.nn.functional as F",
        "",
        f"x = torch.tensor({_nested(x)}, dtype=torch.float64).reshape(1, {c}, {h}, {w})",
    ]
    (t, b), (left, r) = pads
    symmetric = _symmetric(pads)
    padding = f"({t}, {left})" if symmetric else "0"
    if not symmetric and anim.mode != "transposed":
        fill = ", value=float('-inf')" if anim.mode == "max" else ""
        lines.append(f"x = F.pad(x, ({left}, {r}, {t}, {b}){fill})  # uneven padding")
    s, d = anim.stride, anim.dilation
    if weight is not None:
        lines.append(
            f"w = torch.tensor({_nested(weight)}, dtype=torch.float64).reshape{weight.shape}"
        )
    if anim.mode == "conv":
        call = f"F.conv2d(x, w, stride={s}, padding={padding}, dilation={d}, groups={groups})"
    elif anim.mode == "transposed":
        op = anim.output_padding
        call = (
            f"F.conv_transpose2d(x, w, stride={s}, padding={padding}, output_padding={op}, "
            f"groups={groups}, dilation={d})"
        )
        if not symmetric:
            lines.append("# PyTorch's padding is the same on both sides: crop y to match")
    else:
        fn = "max_pool2d" if anim.mode == "max" else "avg_pool2d"
        call = f"F.{fn}(x, kernel_size={anim.kernel_size}, stride={s}, padding={padding})"
    lines += [f"y = {call}", "print(y[0])"]
    return "\n".join(lines)


def _keras(anim: Animation, x: np.ndarray, weight: np.ndarray | None, groups: int) -> str:
    c, h, w = x.shape
    lines = [
        "import numpy as np",
        "import keras",
        "",
        f"x = np.array({_nested(x)}, dtype='float64').reshape(1, {c}, {h}, {w})",
        "x = x.transpose(0, 2, 3, 1)  # Keras is channels-last",
    ]
    (t, b), (left, r) = anim.padding
    s, d, k = anim.stride, anim.dilation, anim.kernel_size
    if anim.mode != "transposed" and (t or b or left or r):
        lines.append(f"x = keras.layers.ZeroPadding2D((({t}, {b}), ({left}, {r})))(x)")
    if anim.mode == "conv":
        assert weight is not None
        f_out = weight.shape[0]
        lines += [
            f"layer = keras.layers.Conv2D({f_out}, {k}, strides={s}, padding='valid', "
            f"dilation_rate={d}, groups={groups}, use_bias=False)",
            "layer.build(x.shape)",
            f"w = np.array({_nested(weight)}).reshape{weight.shape}",
            "layer.set_weights([w.transpose(2, 3, 1, 0)])  # (kh, kw, C_in/groups, C_out)",
            "y = layer(x)",
        ]
    elif anim.mode == "transposed":
        assert weight is not None
        f_out = weight.shape[1] * groups
        if groups > 1:
            lines.append("# Keras's Conv2DTranspose has no groups: one layer per group")
        lines += [
            f"layer = keras.layers.Conv2DTranspose({f_out}, {k}, strides={s}, padding='valid', "
            f"output_padding={anim.output_padding}, dilation_rate={d}, use_bias=False)",
            "layer.build(x.shape)",
            f"w = np.array({_nested(weight)}).reshape{weight.shape}",
            "layer.set_weights([w.transpose(2, 3, 1, 0)])  # (kh, kw, C_out, C_in)",
            f"y = keras.layers.Cropping2D((({t}, {b}), ({left}, {r})))(layer(x))",
        ]
    else:
        name = "MaxPooling2D" if anim.mode == "max" else "AveragePooling2D"
        if anim.mode == "max" and (t or b or left or r):
            lines.append("# max pooling: padding never wins, so pad with -inf, not zeros")
        lines.append(f"y = keras.layers.{name}(pool_size={k}, strides={s}, padding='valid')(x)")
    lines.append("print(np.asarray(y)[0].transpose(2, 0, 1))")
    return "\n".join(lines)


def _convcli(anim: Animation, x: np.ndarray, weight: np.ndarray | None, groups: int) -> str:
    xs = x[0] if x.shape[0] == 1 else x
    args = ["convcli", "conv", "-i", _nested(xs)]
    if anim.mode in ("max", "avg"):
        args += ["--pool", anim.mode, "--size", _arg(anim.kernel_size)]
    else:
        assert weight is not None
        ws = weight[0, 0] if weight.shape[:2] == (1, 1) else weight
        args += ["-k", _nested(ws)]
    args += ["--stride", _arg(anim.stride), "--padding", _pad_arg(anim.padding)]
    if anim.dilation != (1, 1):
        args += ["--dilation", _arg(anim.dilation)]
    if groups > 1:
        args += ["--groups", str(groups)]
    if anim.mode == "transposed":
        args.append("--transposed")
        if anim.output_padding != (0, 0):
            args += ["--output-padding", _arg(anim.output_padding)]
    args.append("--steps")
    return shlex.join(args)
