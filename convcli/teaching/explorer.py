"""An interactive convolution explorer: one self-contained, offline HTML page.

:func:`explore` computes everything the page shows in Python, with the
arithmetic ``convcli conv --steps`` prints (:func:`~convcli.teaching.steps.conv_steps`,
:func:`~convcli.teaching.steps.pool_steps`, and for a transposed convolution
the stride-1 correlation of :func:`~convcli.teaching.steps.transposed_operands`):
the drawn input planes, the kernels, every output cell's window, weights and
sum of products, and for every input cell the outputs it feeds. The page's
script (``web/explorer.js``) only lights cells and prints the texts it is
given. The page needs no network: script, style and data are inline, and a
Content-Security-Policy allows nothing else (no fetch, no images but data:).

Everything is deterministic: the same call writes the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np

from ..arithmetic.geometry import Geometry
from ..errors import ParameterError, ShapeError
from ..output import format_number
from .explorer_code import code_lines
from .frames import MAX_FRAMES, Animation, animation_frames, size_text
from .steps import (
    Step,
    conv_operands,
    conv_steps,
    pool_steps,
)
from .transposed import transposed_kernel, transposed_operands

__all__ = ["MAX_CELLS", "Explorer", "explore", "explorer_of"]

#: The most input cells (all planes) an explorer shows; its output cells (frames, all
#: planes) are capped at :data:`~convcli.teaching.frames.MAX_FRAMES`, as an animation's.
#: Raised by: none (fixed: a larger page is no longer readable cell by cell)
MAX_CELLS = 4096


def _cell_text(value: float) -> str:
    """Write a value inside a cell: at most three significant digits."""
    v = float(value)
    if np.isnan(v):
        return ""
    if v.is_integer() and abs(v) < 1e6:
        return format_number(v)
    return f"{v:.3g}"


@dataclass(frozen=True, repr=False)
class Explorer:
    """A convolution ready to explore.

    Attributes
    ----------
    anim : Animation
        The single-plane geometry (grid, formula, title) of the operation.
    x : ndarray, shape (C, H, W)
        The input's values.
    weight : ndarray or None
        The kernel as typed: (C_out, C_in/groups, kh, kw) for a convolution,
        (C_in, C_out/groups, kh, kw) for a transposed one, None for pooling.
    groups : int
    grid : ndarray, shape (C, H', W')
        The drawn input: padded (NaN for pooling's padding), or spread.
    steps : list of Step
        One per output cell, channel by channel, row-major: the steps of
        ``convcli conv --steps``.
    output : ndarray, shape (C_out, OH, OW)
    layout : {"beside", "above"}
        Where the output goes relative to the input.
    """

    anim: Animation
    x: np.ndarray
    weight: np.ndarray | None
    groups: int
    grid: np.ndarray
    steps: list[Step]
    output: np.ndarray
    layout: str = "beside"

    def __repr__(self) -> str:
        """Name the explorer by its animation's title."""
        return f"Explorer({_title(self.anim, self.x.shape[0], self.output.shape[0], self.groups)})"

    def data(self) -> dict[str, Any]:
        """Return the JSON the page displays (every number already written as text)."""
        return _page_data(self)

    def html(self) -> str:
        """Return the self-contained page."""
        return page_html(self.data())

    def write(self, path: str | os.PathLike, *, overwrite: bool = False) -> None:
        """Write the page to ``path`` atomically (never over a file without ``overwrite``)."""
        from ..images.atomic import atomic_write

        data = self.html().encode("utf-8")
        atomic_write(path, lambda fh: fh.write(data), overwrite=overwrite)

    def pictures(
        self,
        path: str | os.PathLike,
        *,
        sheet: bool = False,
        delay: int = 800,
        cell: int | None = None,
        overwrite: bool = False,
    ) -> None:
        """Write the steps as an animated GIF, PNG or WebP, or with ``sheet`` one PNG.

        Parameters are those of :func:`convcli.animate`; the pictures are
        :func:`~convcli.teaching.explorer_render.render_explorer`'s.
        """
        from .animate import check_target, contact_sheet, write_images
        from .explorer_render import render_explorer

        check_target(path, sheet, delay, overwrite)
        if os.fspath(path).lower().endswith(".svg"):
            raise ParameterError("a layer's pictures are GIF, PNG or WebP (or its .html page)")
        images = render_explorer(self, cell=cell, hold=not sheet)
        if sheet:
            images = [contact_sheet(images, self.output.shape[2])]
        write_images(path, images, delay, overwrite=overwrite)

    def _repr_png_(self) -> bytes:
        """Jupyter's fallback where scripts are stripped: the finished picture."""
        from .explorer_render import png_bytes, render_explorer

        return png_bytes(render_explorer(self, hold=True)[-1])

    def _repr_html_(self) -> str:
        """Jupyter: the page in a sandboxed iframe (scripts run; no network, no parent)."""
        page = html.escape(self.html(), quote=True)
        height = 260 + 40 * max(len(self.anim.grid) * self.x.shape[0], self.output.shape[1])
        return (
            f'<iframe sandbox="allow-scripts" srcdoc="{page}" '
            f'style="width: 100%; height: {min(height, 1400)}px; border: 0"></iframe>'
        )


def _values(shape: tuple[int, ...], high: int, seed: int) -> np.ndarray:
    """Small whole numbers 0..high from a fixed seed (those of ``animate --numbers``)."""
    rng = np.random.Generator(np.random.PCG64(seed))
    return rng.integers(0, high + 1, size=shape).astype(np.float64)


def explore(
    size: int | tuple[int, int] | None = None,
    kernel_size: int | tuple[int, int] | None = None,
    stride: int | tuple[int, int] | None = None,
    padding: Any = 0,
    dilation: int | tuple[int, int] = 1,
    *,
    transposed: bool = False,
    output_padding: int | tuple[int, int] = 0,
    pool: str | None = None,
    input: Any = None,
    kernel: Any = None,
    seed: int = 0,
    channels: int | None = None,
    filters: int | None = None,
    groups: int = 1,
    depthwise: bool = False,
    layout: str = "beside",
) -> Explorer:
    """Compute what the explorer page shows.

    Parameters
    ----------
    size, kernel_size, stride, padding, dilation, transposed, output_padding, pool, seed
        As for :func:`convcli.animation_frames`.
    input : array-like, optional
        (H, W) or (C, H, W); else small random whole numbers (``seed``).
    kernel : array-like, optional
        (kh, kw), or (C_out, C_in/groups, kh, kw) (transposed: (C_in,
        C_out/groups, kh, kw), PyTorch's layouts); else random (``seed + 1``).
    channels, filters : int, optional
        Input and output channels (default 1, or C filters with groups; taken
        from the matrices given).
        Pooling keeps the channels.
    groups : int, optional
        Split the channels into groups, as PyTorch's ``groups``.
    depthwise : bool, optional
        One group per input channel (``groups = channels``).
    layout : {"beside", "above"}, optional
        The output beside the input, or above it.

    Returns
    -------
    Explorer

    Examples
    --------
    >>> e = explore(input=[[0, 1, 2], [3, 4, 5], [6, 7, 8]], kernel=[[0, 1], [2, 3]])
    >>> e.output.tolist(), e.steps[1].text()
    ([[[19.0, 25.0], [37.0, 43.0]]], 'Y[0,1] = 1×0 + 2×1 + 4×2 + 5×3 = 25')
    """
    if layout not in ("beside", "above"):
        raise ParameterError(f"unknown layout {layout!r}: expected beside or above")
    x = None if input is None else np.asarray(input, dtype=np.float64)
    if x is not None and x.ndim == 2:
        x = x[None]
    if x is not None and (x.ndim != 3 or x.size == 0):
        raise ShapeError(f"the input must be (H, W) or (C, H, W), got shape {np.shape(input)}")
    c_in = channels or (1 if x is None else x.shape[0])
    if x is not None and x.shape[0] != c_in:
        raise ShapeError(f"--channels {c_in} but the input has {x.shape[0]} channels")
    if depthwise:
        groups = c_in
    w = None if kernel is None else np.asarray(kernel, dtype=np.float64)
    if w is not None and w.ndim == 2:
        w = w[None, None]
    if w is not None and w.ndim != 4:
        raise ShapeError(f"the kernel must be (kh, kw) or 4-D, got shape {np.shape(kernel)}")
    given = None if w is None else (w.shape[1] * groups if transposed else w.shape[0])
    c_out = filters or given or (c_in if pool or groups > 1 else 1)
    if w is not None and given != c_out:
        raise ShapeError(f"{c_out} filters, but the kernel {w.shape} holds {given}")
    if pool is not None and (groups != 1 or c_out != c_in or kernel is not None):
        raise ParameterError("pooling keeps the channels: it takes no filters, groups or kernel")
    if c_in % groups or c_out % groups:
        raise ParameterError(
            f"groups {groups} must divide the input channels ({c_in}) and the filters ({c_out})"
        )
    n = size if size is not None or x is None else x.shape[1:]
    k = kernel_size if kernel_size is not None or w is None else w.shape[2:]
    anim = animation_frames(
        n, k, stride, padding, dilation,
        transposed=transposed, output_padding=output_padding, pool=pool,
    )  # fmt: skip
    if anim.size[0] * anim.size[1] * c_in > MAX_CELLS:
        raise ParameterError(
            f"{c_in} input plane(s) of {size_text(anim.size)}: an explorer shows at most "
            f"{MAX_CELLS} input cells"
        )
    if len(anim.frames) * c_out > MAX_FRAMES:
        raise ParameterError(
            f"{c_out} output plane(s) of {size_text(anim.output_shape)} = "
            f"{len(anim.frames) * c_out} output cells: an explorer has at most {MAX_FRAMES} frames"
        )
    if x is None:
        x = _values((c_in, *anim.size), 3, seed)
    if x.shape[1:] != anim.size:
        raise ShapeError(f"the input is {x.shape[1:]}, not {anim.size}")
    if w is None and pool is None:
        shape = (c_in, c_out // groups) if transposed else (c_out, c_in // groups)
        w = _values((*shape, *anim.kernel_size), 2, seed + 1)
    grid, steps = _steps(anim, x, w, groups, pool)
    out = np.zeros((len(steps) // len(anim.frames), *anim.output_shape))
    for step in steps:
        out[step.index] = step.value
    return Explorer(anim, x, w, groups, grid, steps, out, layout)


def explorer_of(anim: Animation) -> Explorer:
    """Build the explorer of an animation with numbers (its input and kernel recovered).

    Examples
    --------
    >>> a = animation_frames(input=[[0, 1, 2], [3, 4, 5], [6, 7, 8]], kernel=[[0, 1], [2, 3]])
    >>> explorer_of(a).output.tolist()
    [[[19.0, 25.0], [37.0, 43.0]]]
    """
    if anim.grid_values is None:
        anim = animation_frames(
            anim.size, anim.kernel_size, anim.stride, anim.padding, anim.dilation,
            transposed=anim.mode == "transposed", output_padding=anim.output_padding,
            pool=anim.mode if anim.mode in ("max", "avg") else None, numbers=True,
        )  # fmt: skip
    assert anim.grid_values is not None
    real = [v for row, vals in zip(anim.grid, anim.grid_values, strict=True)
            for kind, v in zip(row, vals, strict=True) if kind == "x"]  # fmt: skip
    x = np.array(real).reshape(anim.size)
    w = None if anim.kernel is None else np.array(anim.kernel)
    if w is not None and anim.mode == "transposed":
        w = w[::-1, ::-1]  # the animation keeps the rotated kernel its sweep multiplies
    return explore(
        anim.size, anim.kernel_size, anim.stride, anim.padding, anim.dilation,
        transposed=anim.mode == "transposed", output_padding=anim.output_padding,
        pool=anim.mode if anim.mode in ("max", "avg") else None, input=x, kernel=w,
    )  # fmt: skip


def _steps(
    anim: Animation, x: np.ndarray, w: np.ndarray | None, groups: int, pool: str | None
) -> tuple[np.ndarray, list[Step]]:
    """Compute the drawn grid and the steps, by the functions ``convcli conv --steps`` calls."""
    if pool is not None:
        geo = Geometry.resolve(
            anim.size, anim.kernel_size, stride=anim.stride, padding=anim.padding, pooling=True
        )
        return pool_steps(x, mode=pool.lower(), geometry=geo)
    assert w is not None
    if anim.mode == "transposed":
        w = transposed_kernel(x.shape[0], w, groups)
        xs, wc = transposed_operands(
            x, w, anim.stride, anim.padding, anim.dilation, anim.output_padding, groups
        )
        geo = Geometry.resolve(xs.shape[1:], wc.shape[2:], dilation=anim.dilation)
    else:
        xs, wc = conv_operands(x, w, groups)
        geo = Geometry.resolve(
            anim.size, wc.shape[2:], stride=anim.stride, padding=anim.padding,
            dilation=anim.dilation,
        )  # fmt: skip
    return conv_steps(xs, wc, geometry=geo, groups=groups)


def _page_data(e: Explorer) -> dict[str, Any]:
    """Everything the page shows, as JSON-ready text and cell coordinates."""
    anim, c_in = e.anim, e.x.shape[0]
    c_out = e.output.shape[0]
    kinds = anim.grid
    multi = c_out > 1
    kh, kw = anim.kernel_size
    # the correlation weights each step multiplies, by filter: (C_out, C_in/groups, kh, kw)
    per_in = c_in // e.groups
    kernels = []
    if anim.mode != "max" and anim.mode != "avg":
        wc = np.array([s.weights for s in e.steps[:: len(anim.frames)]]).reshape(
            c_out, per_in, kh, kw
        )
        kernels = [[[[_cell_text(v) for v in row] for row in p] for p in f] for f in wc]
    steps, index = [], {}
    feeds: dict[str, list[tuple[int, float]]] = {}
    for i, s in enumerate(e.steps):
        f = s.index[0]
        first = (f // (c_out // e.groups)) * per_in
        taps = [(a, b) for a in range(kh) for b in range(kw)]
        k_keys = [f"{f}.{p},{a},{b}" for p in range(per_in) for a, b in taps] if kernels else []
        steps.append(
            {
                "o": list(s.index),
                "cells": [list(c) for c in s.cells],
                "pad": [list(c) for c in s.padding],
                "w": [format_number(v) for v in s.weights],
                "k": k_keys,
                "planes": list(range(first, first + per_in)) if kernels else [f],
                "text": s.text(multi),
            }
        )
        index[",".join(map(str, s.index))] = i
        weights: tuple[float, ...] = s.weights or (1.0,) * len(s.cells)
        for cell, weight in zip(s.cells, weights, strict=True):
            feeds.setdefault(",".join(map(str, cell)), []).append((i, weight))
    scatter = _scatter(e, kinds, feeds, multi)
    cols = len(kinds[0]) + (kw if kernels else 0) + anim.output_shape[1]
    side = int(max(22, min(48, 900 // max(cols, 1))))
    return {
        "title": _title(anim, c_in, c_out, e.groups),
        "formula": f"output size: {anim.formula}",
        "mode": anim.mode,
        "layout": e.layout,
        "cell": side,
        "font": max(9, round(side * 0.4)),
        "grid": list(kinds),
        "inputs": [[[_cell_text(v) for v in row] for row in p] for p in e.grid],
        "kernels": kernels,
        "outputs": [[[_cell_text(v) for v in row] for row in p] for p in e.output],
        "steps": steps,
        "index": index,
        "scatter": scatter,
        "scatter_order": list(scatter),
        "labels": _labels(e, c_in, c_out, per_in),
        "code": code_lines(anim, e.x, e.weight, e.groups),
    }


def _scatter(
    e: Explorer,
    kinds: Sequence[Sequence[str]],
    feeds: dict[str, list[tuple[int, float]]],
    multi: bool,
) -> dict[str, Any]:
    """For every real input cell: the outputs it feeds, and the line saying so."""
    anim = e.anim
    (top, _), (left, _) = anim.grid_padding
    step = anim.stride if anim.mode == "transposed" else (1, 1)
    scatter = {}
    for p in range(e.x.shape[0]):
        for r, row in enumerate(kinds):
            for c, kind in enumerate(row):
                if kind != "x":
                    continue
                i, j = (r - top) // step[0], (c - left) // step[1]
                name = f"X[{p},{i},{j}]" if e.x.shape[0] > 1 else f"X[{i},{j}]"
                value = format_number(e.x[p, i, j])
                used = feeds.get(f"{p},{r},{c}", [])
                outs = []
                for n, weight in used:
                    o = e.steps[n].index
                    target = f"Y[{o[0]},{o[1]},{o[2]}]" if multi else f"Y[{o[1]},{o[2]}]"
                    product = f"{value}×{format_number(weight, paren=True)}"
                    outs.append(f"{target} += {product}" if e.weight is not None else target)
                text = f"{name} = {value} feeds " + ("; ".join(outs) if outs else "no output")
                scatter[f"{p},{r},{c}"] = {"outputs": [n for n, _ in used], "text": text}
    return scatter


def _title(anim: Animation, c_in: int, c_out: int, groups: int) -> str:
    if c_in == c_out == 1:
        return anim.title
    extra = f"{c_in} → {c_out} channels"
    if groups > 1:
        extra += ", depthwise" if groups == c_in else f", {groups} groups"
    return f"{anim.title} ({extra})"


def _labels(e: Explorer, c_in: int, c_out: int, per_in: int) -> dict[str, Any]:
    anim = e.anim
    gh, gw = len(anim.grid), len(anim.grid[0])
    what = ""
    if anim.grid_padding != ((0, 0), (0, 0)) or anim.mode == "transposed":
        kind = "spread, zeros between, padded" if anim.mode == "transposed" else "padded"
        what = f" ({kind}: {gh}×{gw})"
    n = f"{anim.size[0]}×{anim.size[1]}"
    o = f"{anim.output_shape[0]}×{anim.output_shape[1]}"
    pooling = anim.mode in ("max", "avg")
    kernel_label = ""
    if not pooling:
        kernel_label = f"{c_out} filter{'s' * (c_out > 1)} of {per_in}×"
        kernel_label += f"{anim.kernel_size[0]}×{anim.kernel_size[1]}"
        if anim.mode == "transposed":
            kernel_label += " (rotated 180°: what the sweep multiplies)"
    groups_of = c_out // e.groups
    return {
        "input": f"input {c_in}×{n}{what}" if c_in > 1 else f"input {n}{what}",
        "kernel": kernel_label,
        "output": f"output {c_out}×{o}" if c_out > 1 else f"output {o}",
        "planes": [f"channel {p}" if c_in > 1 else "" for p in range(c_in)],
        "kernels": [
            [f"filter {f}, channel {(f // groups_of) * per_in + p}" for p in range(per_in)]
            for f in range(c_out if not pooling else 0)
        ],
        "outputs": [f"channel {f}" if c_out > 1 else "" for f in range(c_out)],
    }


def _read(name: str) -> str:
    return (resources.files(__package__) / "web" / name).read_text(encoding="utf-8")


def _csp_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def page_html(data: dict[str, Any]) -> str:
    """Write the page: the template with its style, script and ``data`` inline.

    The Content-Security-Policy allows exactly that script and that style
    (by their SHA-256) and nothing else: no fetch, no frames, no images but
    data: URLs.
    """
    script, style = _read("explorer.js"), _read("explorer.css")
    # "<" written as an escape, so no "</script>" can end the JSON block early
    blob = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")
    return _read("explorer.html") % {
        "title": html.escape(data["title"]),
        "style": style,
        "script": script,
        "data": blob,
        "script_hash": _csp_hash(script),
        "style_hash": _csp_hash(style),
    }
