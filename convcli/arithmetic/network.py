"""Whole networks analysed layer by layer: shapes, parameters, MACs, receptive fields.

Pure Python (no numpy): ``convcli shape --arch resnet50`` answers instantly.
Every size comes from :mod:`convcli.arithmetic.sizes`, every parameter and
multiply-accumulate count from :mod:`convcli.arithmetic.counts`; the layers
from :mod:`convcli.arithmetic.spec` (the spec language) or
:mod:`convcli.arithmetic.presets` (the built-in networks).

Counting rules
--------------
Parameters are those of PyTorch's ``model.parameters()``: weights and biases,
BatchNorm's scale and shift (its running statistics are buffers). Multiply-
accumulates (MACs) count the convolutions and fully connected layers only,
as torchvision's published GFLOPS figures do. The receptive field and its
jump (the distance in input pixels between neighbouring outputs) follow
``r_out = r_in + (d·(k − 1))·j_in`` and ``j_out = j_in·s``; a residual block
takes the larger field of its two branches. After a transposed convolution,
an adaptive pool whose input is not a multiple of its output, or a fully
connected layer, they are not defined and are reported as ``None``.

FLOPs are 2 × MACs (one multiply and one add). A row's *activations* are the
values its layers output: its output's size for a layer (the addition of a
residual block included), the sum over its layers for a block or group; the
network's activation memory adds up every layer's output (one forward
pass), the parameter memory every parameter, at the bytes per value of
``dtype`` (:data:`~convcli.arithmetic.counts.DTYPE_BYTES`).
:meth:`NetworkSummary.collapse` keeps the first levels of nesting, with
the same totals.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from ..errors import ShapeError
from .counts import batchnorm_params, linear_macs, linear_params
from .effect import layer_effect
from .geometry import Geometry
from .limits import check_layers
from .repeats import (
    BLOCKS,
    Sums,
    advance,
    count_rows,
    elided_row,
    index_span,
    leaf_sums,
    shift,
    subtract,
)
from .spec import Layer, format_layer
from .spec_format import body_text
from .summary import LayerRow, NetworkSummary
from .support import Field, Pair, grow, product, shape_text

__all__ = ["BranchMismatchError", "LayerRow", "NetworkSummary", "analyze_network", "check_network"]

_WINDOWS = (
    "conv",
    "convt",
    "maxpool",
    "avgpool",
    "adaptiveavgpool",
    "adaptivemaxpool",
    "upsample",
    "crop",
)


@dataclass
class _State:
    shape: tuple[int, ...]
    rf: Pair | None = (1, 1)
    jump: Pair | None = (1, 1)

    @property
    def spatial(self) -> bool:
        return len(self.shape) == 3

    @property
    def field(self) -> Field:
        return (self.rf, self.jump)


def _expand_block(layer: Layer, channels: int) -> Layer:
    """Torchvision's BasicBlock / Bottleneck as a residual Layer."""
    stride = layer.stride or (1, 1)
    width = layer.out or 1
    if layer.kind == "basic":
        out = width
        body: tuple[Layer, ...] = (
            Layer("conv", width, (3, 3), stride, 1, bias=False),
            Layer("bn"),
            Layer("relu"),
            Layer("conv", width, (3, 3), (1, 1), 1, bias=False),
            Layer("bn"),
        )
    else:
        out = 4 * width
        body = (
            Layer("conv", width, (1, 1), (1, 1), 0, bias=False),
            Layer("bn"),
            Layer("relu"),
            Layer("conv", width, (3, 3), stride, 1, bias=False),
            Layer("bn"),
            Layer("relu"),
            Layer("conv", out, (1, 1), (1, 1), 0, bias=False),
            Layer("bn"),
        )
    shortcut: tuple[Layer, ...] = ()
    if stride != (1, 1) or channels != out:
        shortcut = (Layer("conv", out, (1, 1), stride, 0, bias=False), Layer("bn"))
    return Layer("residual", body=body, shortcut=shortcut, post=(Layer("relu"),))


#: what a plain layer gives: (output shape, params, MACs, field, config)
_Out = tuple[tuple[int, ...], int, int, Field, str]


def _conv(layer: Layer, state: _State) -> _Out:
    """A convolution or transposed convolution, through :func:`layer_effect`."""
    assert layer.kernel is not None and layer.out is not None
    c, h, w = state.shape
    f, g = layer.out, layer.groups
    if c % g or f % g:
        raise ShapeError(f"groups ({g}) must divide the input channels ({c}) and the filters ({f})")
    if layer.kind == "convt" and isinstance(layer.padding, str) and layer.padding != "valid":
        raise ShapeError(f"a transposed convolution takes a numeric padding, not {layer.padding!r}")
    geo = Geometry.resolve(
        (h, w), layer.kernel, stride=layer.stride, padding=layer.padding, dilation=layer.dilation
    )
    kind = "conv" if layer.kind == "conv" else "transposed"
    effect = layer_effect(
        c,
        geo,
        kind,
        f,
        groups=g,
        bias=layer.bias,
        output_padding=layer.output_padding,
        field=state.field,
    )
    config = format_layer(layer, geo.padding)
    return effect.shape, effect.params, effect.macs, effect.field, config


def _pool(layer: Layer, state: _State) -> _Out:
    """A max or average pool, through :func:`layer_effect`."""
    assert layer.kernel is not None
    c, h, w = state.shape
    geo = Geometry.resolve(
        (h, w),
        layer.kernel,
        stride=layer.stride,
        padding=layer.padding,
        pooling=True,
        ceil_mode=layer.ceil_mode,
    )
    effect = layer_effect(c, geo, "pool", field=state.field)
    config = format_layer(replace(layer, stride=geo.stride), geo.padding)
    return effect.shape, 0, 0, effect.field, config


def _plain(layer: Layer, state: _State) -> _Out:
    """Any layer that is not a block: its output, counts, field and config text."""
    kind = layer.kind
    if kind in _WINDOWS and not state.spatial:
        raise ShapeError(f"{kind} needs a C×H×W input, got a flat {state.shape[0]}")
    if kind in ("conv", "convt"):
        return _conv(layer, state)
    if kind in ("maxpool", "avgpool"):
        return _pool(layer, state)
    config = format_layer(layer)
    c = state.shape[0]
    if kind in ("adaptiveavgpool", "adaptivemaxpool"):
        assert layer.output_size is not None
        _, h, w = state.shape
        oh, ow = layer.output_size
        field: Field = (None, None)
        if h % oh == 0 and w % ow == 0:
            window = (h // oh, w // ow)
            field = grow(state.field, window, window)
        return (c, oh, ow), 0, 0, field, config
    if kind == "flatten":
        return (product(state.shape),), 0, 0, state.field, config
    if kind in ("upsample", "crop"):
        return _resample(layer, state), 0, 0, _resample_field(layer, state), config
    if kind == "linear":
        assert layer.out is not None
        if state.spatial:
            raise ShapeError(
                f"fc needs a flat input, got {shape_text(state.shape)}: put 'flatten' before it"
            )
        params = linear_params(c, layer.out, layer.bias)
        return (layer.out,), params, linear_macs(c, layer.out), (None, None), config
    if kind == "bn":
        return state.shape, batchnorm_params(c), 0, state.field, config
    return state.shape, 0, 0, state.field, config  # activations, dropout


#: a repeat walked from a state: (shape, jump, field step, sums)
_Walked = tuple[tuple[int, ...], Pair | None, Pair | None, Sums]


def _steady(before: _State, after: _State) -> bool:
    """Whether a repetition gave back the shape and jump it was given (see :mod:`.repeats`)."""
    return before.shape == after.shape and before.jump == after.jump


def _resample(layer: Layer, state: _State) -> tuple[int, int, int]:
    """The output of an ``upsample`` (H·s, W·s) or a ``crop`` (H − 2·c, W − 2·c)."""
    c, h, w = state.shape
    if layer.kind == "upsample":
        assert layer.scale is not None
        return (c, h * layer.scale[0], w * layer.scale[1])
    assert layer.crop is not None
    ch, cw = layer.crop
    if h - 2 * ch < 1 or w - 2 * cw < 1:
        raise ShapeError(
            f"cutting {ch} rows and {cw} columns from each side of {h}×{w} leaves nothing"
        )
    return (c, h - 2 * ch, w - 2 * cw)


def _resample_field(layer: Layer, state: _State) -> Field:
    """A crop keeps each cell's field; after an upsampling it is not defined (as a convt's)."""
    return state.field if layer.kind == "crop" else (None, None)


class BranchMismatchError(ShapeError):
    """The two branches of a residual block give different shapes."""


class _Analyzer:
    def __init__(self, mismatches: list[str] | None = None) -> None:
        self.rows: list[LayerRow] = []
        #: when a list: branch mismatches are recorded here and the body's shape goes on
        self.mismatches = mismatches
        #: above 0 while rows are walked only to be summed (a long repeat's middle)
        self.scratch = 0
        #: (repeat, shape, jump) → (shape, jump, field step, sums) of walks done
        self.memo: dict[tuple[int, tuple[int, ...], Pair | None], _Walked] = {}

    def run(
        self, layers: Iterable[Layer], state: _State, prefix: str, depth: int, start: int = 0
    ) -> _State:
        """Walk ``layers`` from ``state``, numbered ``prefix`` + ``start + 1`` on."""
        position = start
        for layer in layers:
            if layer.kind == "repeat":
                state = self.repeat(layer, state, prefix, depth, position)
                position += index_span(layer)
            else:
                position += 1
                state = self.one(layer, state, f"{prefix}{position}", depth)
        return state

    def repeat(self, layer: Layer, state: _State, prefix: str, depth: int, start: int) -> _State:
        """A long ``N*(...)``: the first and last repetitions' rows and one row between.

        See :mod:`.repeats`: the repetitions between are walked one by one,
        their rows summed and dropped, until one gives back the shape and
        jump it was given; the rest are then multiplied out.
        """
        key = (id(layer), state.shape, state.jump)
        if self.scratch and key in self.memo:  # walked from this state before: its sums
            shape, jump, moved, sums = self.memo[key]
            rf = shift(state.rf, moved)
            self.rows.append(elided_row("", depth, "", shape, (rf, jump), sums, layer.count))
            return _State(shape, rf, jump)
        mark = len(self.rows)
        out = self._repeat(layer, state, prefix, depth, start)
        moved = None if out.rf is None or state.rf is None else subtract(out.rf, state.rf)
        self.memo[key] = (out.shape, out.jump, moved, leaf_sums(self.rows[mark:]))
        return out

    def _repeat(self, layer: Layer, state: _State, prefix: str, depth: int, start: int) -> _State:
        """Walk a repeat's repetitions: see :meth:`repeat`."""
        body, count = layer.body, layer.count
        step = sum(index_span(child) for child in body)
        if count <= 2:
            for r in range(count):
                state = self.run(body, state, prefix, depth, start + r * step)
            return state
        mark = len(self.rows)
        first = self.run(body, state, prefix, depth, start)
        if _steady(state, first) and len(body) == 1 and body[0].kind not in BLOCKS:
            row = self.rows[mark]
            rf = advance(state.rf, first.rf, count - 1)
            sums = leaf_sums([row]).times(count)
            end = f"{prefix}{start + 1}–{start + count}"
            config = f"{row.config} ×{count:,}"
            self.rows[mark] = replace(
                elided_row(end, depth, config, first.shape, (rf, first.jump), sums, count),
                kind=row.kind,
            )
            return _State(first.shape, rf, first.jump)
        middle, done = count - 2, 0
        mark, sums, state = len(self.rows), Sums(), first
        while done < middle:
            before = state
            self.scratch += 1
            try:
                state = self.run(body, before, prefix, depth, start + (1 + done) * step)
            finally:
                self.scratch -= 1
            once = leaf_sums(self.rows[mark:])
            del self.rows[mark:]
            sums, done = sums + once, done + 1
            if done < middle and _steady(before, state):
                left, done = middle - done, middle
                sums += once.times(left)
                state = _State(state.shape, advance(before.rf, state.rf, left), state.jump)
        index = f"{prefix}{start + step + 1}–{start + (count - 1) * step}"
        config = f"⋮ {middle:,} × {body_text(body)}"
        self.rows.append(elided_row(index, depth, config, state.shape, state.field, sums, middle))
        return self.run(body, state, prefix, depth, start + (count - 1) * step)

    def fail(self, index: str, layer: Layer, message: str) -> ShapeError:
        return ShapeError(f"layer {index} ({format_layer(layer)}): {message}")

    def one(self, layer: Layer, state: _State, index: str, depth: int) -> _State:
        try:
            return self._one(layer, state, index, depth)
        except ShapeError as exc:
            if str(exc).startswith("layer "):
                raise
            raise self.fail(index, layer, str(exc)) from None

    def _one(self, layer: Layer, state: _State, index: str, depth: int) -> _State:
        kind = layer.kind
        if kind in ("basic", "bottleneck"):
            if not state.spatial:
                raise ShapeError(f"a {kind} block needs a C×H×W input, got {state.shape[0]}")
            block = _expand_block(layer, state.shape[0])
            return self.residual(block, state, index, depth, format_layer(layer))
        if kind in ("residual", "concat"):
            return self.residual(layer, state, index, depth, format_layer(layer))
        if kind == "seq":
            return self.group(layer, state, index, depth)
        shape, params, macs, field, config = _plain(layer, state)
        self.rows.append(LayerRow.of_layer(index, depth, kind, config, shape, params, macs, field))
        return _State(shape, *field)

    def _close(self, header: int, out: _State) -> None:
        """Fill in the header row of a block: its output and its layers' sums."""
        inner = [row for row in self.rows[header + 1 :] if row.leaf]
        self.rows[header] = replace(
            self.rows[header],
            shape=out.shape,
            params=sum(row.params for row in inner),
            macs=sum(row.macs for row in inner),
            rf=out.rf,
            jump=out.jump,
            leaf=False,
            activations=sum(row.activations for row in inner),
            param_activations=sum(row.param_activations for row in inner),
        )

    def group(self, layer: Layer, state: _State, index: str, depth: int) -> _State:
        header = len(self.rows)
        config = format_layer(layer)
        self.rows.append(LayerRow(index, depth, "seq", config, (), 0, 0, None, None))
        out = self.run(layer.body, state, f"{index}.", depth + 1)
        self._close(header, out)
        return out

    def residual(self, layer: Layer, state: _State, index: str, depth: int, config: str) -> _State:
        if not state.spatial:
            raise ShapeError(f"a residual block needs a C×H×W input, got {state.shape[0]}")
        header = len(self.rows)
        self.rows.append(LayerRow(index, depth, "block", config, (), 0, 0, None, None))
        main = self.run(layer.body, state, f"{index}.", depth + 1)
        side = self.run(layer.shortcut, state, f"{index}.s", depth + 1)
        cat = layer.kind == "concat"
        if (main.shape[1:] if cat else main.shape) != (side.shape[1:] if cat else side.shape):
            branch = "the shortcut" if layer.shortcut else "the identity shortcut"
            message = (
                f"layer {index} ({'concat' if cat else 'residual'}): the body gives "
                f"{shape_text(main.shape)} but {branch} gives {shape_text(side.shape)}"
            )
            if self.mismatches is None:
                raise BranchMismatchError(message)
            self.mismatches.append(message)
        rf = jump = None
        if main.rf is not None and side.rf is not None and main.jump is not None:
            rf = (max(main.rf[0], side.rf[0]), max(main.rf[1], side.rf[1]))
            jump = main.jump
        shape = (main.shape[0] + side.shape[0], *main.shape[1:]) if cat else main.shape
        joined = "cat" if cat else "add"
        self.rows.append(
            LayerRow.of_layer(f"{index}.+", depth + 1, joined, "", shape, 0, 0, (rf, jump))
        )
        out = _State(shape, rf, jump)
        out = self.run(layer.post, out, f"{index}.p", depth + 1)
        self._close(header, out)
        return out


def analyze_network(layers: Sequence[Layer], input_shape: Sequence[int]) -> NetworkSummary:
    """Compute each layer's output shape, parameters, MACs and receptive field.

    Parameters
    ----------
    layers : sequence of Layer
        From :func:`convcli.arithmetic.spec.parse_layers` or
        :func:`~convcli.arithmetic.spec.load_spec`, or an
        :class:`~convcli.arithmetic.presets.Architecture`'s ``layers``.
    input_shape : (C, H, W)
        The input's channels, height and width.

    Returns
    -------
    NetworkSummary
        One :class:`LayerRow` per layer (blocks add a row for themselves and
        for their addition), the totals as properties.

    Raises
    ------
    ShapeError
        When a layer does not fit its input; the message names the layer.

    Examples
    --------
    >>> from convcli.arithmetic.spec import parse_layers
    >>> summary = analyze_network(parse_layers("conv 6 k5 p2, avgpool k2"), (1, 28, 28))
    >>> [row.shape for row in summary.rows], summary.total_params
    ([(6, 28, 28), (6, 14, 14)], 156)
    """
    shape = tuple(input_shape)
    if len(shape) != 3 or not all(isinstance(v, int) and v >= 1 for v in shape):
        raise ShapeError(f"`input_shape` must be (C, H, W) of positive ints, got {shape!r}")
    check_layers(count_rows(layers), "network")
    analyzer = _Analyzer()
    analyzer.run(layers, _State(shape), "", 0)
    return NetworkSummary((shape[0], shape[1], shape[2]), tuple(analyzer.rows))


def check_network(layers: Sequence[Layer], input_shape: Sequence[int]) -> tuple[bool, list[str]]:
    """Whether every layer fits ``input_shape``, and the branch mismatches (messages), if any.

    Unlike :func:`analyze_network`, a residual block whose branches disagree
    does not stop the walk (the body's shape goes on), so that whether the
    layers *fit* is known apart from whether the branches *agree*.

    Examples
    --------
    >>> from convcli.arithmetic.spec import parse_layers
    >>> check_network(parse_layers("conv 4 k3 s2, res(conv 4 k3 p1 | maxpool k2)"), (4, 9, 9))[0]
    True
    """
    check_layers(count_rows(layers), "network")
    analyzer = _Analyzer(mismatches=[])
    try:
        analyzer.run(layers, _State(tuple(input_shape)), "", 0)
    except BranchMismatchError:
        raise
    except ShapeError:
        return False, analyzer.mismatches or []
    return True, analyzer.mismatches or []
