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
from .counts import (
    batchnorm_params,
    conv_macs,
    conv_params,
    flops,
    linear_macs,
    linear_params,
    memory_bytes,
    transposed_conv_macs,
    transposed_conv_params,
)
from .sizes import (
    effective_kernel_size,
    output_size,
    pool_output_size,
    resolve_padding,
    transposed_output_size,
)
from .spec import Layer, format_layer

__all__ = ["LayerRow", "NetworkSummary", "analyze_network"]

Pair = tuple[int, int]


@dataclass(frozen=True)
class LayerRow:
    """One row of a network summary.

    Attributes
    ----------
    index : str
        Position, ``"3"`` at the top level, ``"5.2"`` inside block 5,
        ``"5.s1"`` in its shortcut.
    depth : int
        Nesting level (0 at the top).
    kind : str
        The layer's kind; ``"add"`` for the addition closing a residual block.
    config : str
        The layer's arguments in the spec language, with the padding resolved
        to (top:bottom x left:right) when it is not the same on every side.
    shape : tuple of int
        Output shape: (C, H, W), or (N,) after ``flatten`` / ``fc``.
    params : int
        Parameters of this layer (of the whole block for a block row).
    macs : int
        Multiply-accumulates (of the whole block for a block row).
    rf, jump : (int, int) or None
        Receptive field and jump (H, W) in input pixels.
    leaf : bool
        False for a block row, whose numbers repeat those of its children;
        the totals add up the leaf rows.
    activations : int
        Values output: the output's size for a layer, the sum over its
        layers for a block.
    param_activations : int
        The part of ``activations`` output by layers with parameters (those
        torchinfo counts twice in its "forward/backward pass size").
    """

    index: str
    depth: int
    kind: str
    config: str
    shape: tuple[int, ...]
    params: int
    macs: int
    rf: Pair | None
    jump: Pair | None
    leaf: bool = True
    activations: int = 0
    param_activations: int = 0

    @property
    def flops(self) -> int:
        """Floating-point operations: 2 × MACs."""
        return flops(self.macs)

    @property
    def output_size(self) -> int:
        """Number of values in the output (C·H·W, or N when flat)."""
        return _size(self.shape)


def _size(shape: Sequence[int]) -> int:
    size = 1
    for v in shape:
        size *= v
    return size


@dataclass(frozen=True)
class NetworkSummary:
    """The analysis of a network: its rows and totals.

    ``input_shape`` is (C, H, W) for a spec or preset; a model file's input
    keeps its own axes (N, C, H, W for an ONNX image model). ``notes`` say
    where a rule was chosen (an ONNX opset's pooling sizes).
    """

    input_shape: tuple[int, ...]
    rows: tuple[LayerRow, ...]
    notes: tuple[str, ...] = ()

    @property
    def output_shape(self) -> tuple[int, ...]:
        """The shape after the last layer."""
        top = [row for row in self.rows if row.depth == 0]
        return top[-1].shape if top else self.input_shape

    @property
    def total_params(self) -> int:
        """Sum of the parameters of the leaf layers."""
        return sum(row.params for row in self.rows if row.leaf)

    @property
    def total_macs(self) -> int:
        """Sum of the multiply-accumulates of the leaf layers."""
        return sum(row.macs for row in self.rows if row.leaf)

    @property
    def total_flops(self) -> int:
        """Floating-point operations: 2 × :attr:`total_macs`."""
        return flops(self.total_macs)

    @property
    def total_activations(self) -> int:
        """Values output by all the layers: what one forward pass produces."""
        return sum(row.activations for row in self.rows if row.leaf)

    @property
    def depth(self) -> int:
        """Levels of nesting shown: 1 for a flat network."""
        return 1 + max((row.depth for row in self.rows), default=0)

    def param_bytes(self, dtype: str = "float32") -> int:
        """Memory of the parameters in bytes (torchinfo's "Params size")."""
        return memory_bytes(self.total_params, dtype)

    def activation_bytes(self, dtype: str = "float32") -> int:
        """Memory of every layer's output in bytes (one forward pass)."""
        return memory_bytes(self.total_activations, dtype)

    def forward_backward_bytes(self, dtype: str = "float32") -> int:
        """torchinfo's "forward/backward pass size": 2 × the outputs of layers with parameters."""
        outputs = sum(row.param_activations for row in self.rows if row.leaf)
        return memory_bytes(2 * outputs, dtype)

    def input_bytes(self, dtype: str = "float32") -> int:
        """Memory of the input in bytes."""
        return memory_bytes(_size(self.input_shape), dtype)

    def collapse(self, depth: int) -> NetworkSummary:
        """Keep the rows of the first ``depth`` levels of nesting; same totals.

        A block or group at the last level kept stands for its layers: it
        becomes a leaf whose parameters, MACs and activations are their sums.

        Examples
        --------
        >>> from convcli.arithmetic.presets import ARCHITECTURES
        >>> arch = ARCHITECTURES["resnet50"]
        >>> full = analyze_network(arch.layers, arch.input_shape)
        >>> top = full.collapse(1)
        >>> len(top.rows), top.total_params == full.total_params == 25_557_032
        (11, True)
        """
        if depth < 1:
            raise ShapeError(f"depth must be at least 1, got {depth}")
        rows = tuple(
            row if row.depth < depth - 1 or row.leaf else replace(row, leaf=True)
            for row in self.rows
            if row.depth < depth
        )
        return NetworkSummary(self.input_shape, rows, self.notes)


@dataclass
class _State:
    shape: tuple[int, ...]
    rf: Pair | None = (1, 1)
    jump: Pair | None = (1, 1)

    @property
    def spatial(self) -> bool:
        return len(self.shape) == 3


def _grow(state: _State, span: Pair, stride: Pair) -> tuple[Pair | None, Pair | None]:
    if state.rf is None or state.jump is None:
        return None, None
    rf = (
        state.rf[0] + (span[0] - 1) * state.jump[0],
        state.rf[1] + (span[1] - 1) * state.jump[1],
    )
    return rf, (state.jump[0] * stride[0], state.jump[1] * stride[1])


def _shape_text(shape: Sequence[int]) -> str:
    return "×".join(str(v) for v in shape)


def _expand_block(layer: Layer, channels: int) -> Layer:
    """torchvision's BasicBlock / Bottleneck as a residual Layer."""
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


class _Analyzer:
    def __init__(self) -> None:
        self.rows: list[LayerRow] = []

    def run(self, layers: Iterable[Layer], state: _State, prefix: str, depth: int) -> _State:
        for i, layer in enumerate(layers, 1):
            state = self.one(layer, state, f"{prefix}{i}", depth)
        return state

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
        if kind == "residual":
            return self.residual(layer, state, index, depth, "res")
        if kind == "seq":
            return self.group(layer, state, index, depth)
        params = macs = 0
        config = format_layer(layer)
        rf, jump = state.rf, state.jump
        if kind in ("conv", "convt", "maxpool", "avgpool", "adaptiveavgpool", "adaptivemaxpool"):
            if not state.spatial:
                raise ShapeError(f"{kind} needs a C×H×W input, got a flat {state.shape[0]}")
        c, *hw = state.shape
        if kind in ("conv", "convt"):
            assert layer.kernel is not None and layer.out is not None
            h, w = hw
            stride = layer.stride or (1, 1)
            f, g = layer.out, layer.groups
            if c % g or f % g:
                raise ShapeError(
                    f"groups ({g}) must divide the input channels ({c}) and the filters ({f})"
                )
            kh, kw = layer.kernel
            if kind == "conv":
                pads = resolve_padding(layer.padding, (h, w), layer.kernel, stride, layer.dilation)
                oh = output_size(h, kh, stride[0], pads[0], layer.dilation[0])
                ow = output_size(w, kw, stride[1], pads[1], layer.dilation[1])
                params = conv_params(c, f, layer.kernel, g, layer.bias)
                macs = conv_macs((oh, ow), c, f, layer.kernel, g)
                span = (
                    effective_kernel_size(kh, layer.dilation[0]),
                    effective_kernel_size(kw, layer.dilation[1]),
                )
                rf, jump = _grow(state, span, stride)
            else:
                if isinstance(layer.padding, str) and layer.padding != "valid":
                    raise ShapeError(
                        f"a transposed convolution takes a numeric padding, not {layer.padding!r}"
                    )
                pads = resolve_padding(layer.padding, (h, w), layer.kernel, stride, layer.dilation)
                oh = transposed_output_size(
                    h, kh, stride[0], pads[0], layer.dilation[0], layer.output_padding[0]
                )
                ow = transposed_output_size(
                    w, kw, stride[1], pads[1], layer.dilation[1], layer.output_padding[1]
                )
                params = transposed_conv_params(c, f, layer.kernel, g, layer.bias)
                macs = transposed_conv_macs((h, w), c, f, layer.kernel, g)
                rf = jump = None
            config = format_layer(layer, pads)
            shape: tuple[int, ...] = (f, oh, ow)
        elif kind in ("maxpool", "avgpool"):
            assert layer.kernel is not None
            h, w = hw
            stride = layer.stride or layer.kernel
            pads = resolve_padding(layer.padding, (h, w), layer.kernel, stride)
            oh = pool_output_size(h, layer.kernel[0], stride[0], pads[0], layer.ceil_mode)
            ow = pool_output_size(w, layer.kernel[1], stride[1], pads[1], layer.ceil_mode)
            rf, jump = _grow(state, layer.kernel, stride)
            config = format_layer(replace(layer, stride=stride), pads)
            shape = (c, oh, ow)
        elif kind in ("adaptiveavgpool", "adaptivemaxpool"):
            assert layer.output_size is not None
            h, w = hw
            oh, ow = layer.output_size
            if h % oh == 0 and w % ow == 0:
                window = (h // oh, w // ow)
                rf, jump = _grow(state, window, window)
            else:
                rf = jump = None
            shape = (c, oh, ow)
        elif kind == "flatten":
            shape = (_size(state.shape),)
        elif kind == "linear":
            assert layer.out is not None
            if state.spatial:
                raise ShapeError(
                    f"fc needs a flat input, got {_shape_text(state.shape)}: "
                    "put 'flatten' before it"
                )
            params = linear_params(c, layer.out, layer.bias)
            macs = linear_macs(c, layer.out)
            rf = jump = None
            shape = (layer.out,)
        elif kind == "bn":
            params = batchnorm_params(c)
            shape = state.shape
        else:  # activations, dropout: shape unchanged
            shape = state.shape
        self.rows.append(
            LayerRow(
                index,
                depth,
                kind,
                config,
                shape,
                params,
                macs,
                rf,
                jump,
                activations=_size(shape),
                param_activations=_size(shape) if params else 0,
            )
        )
        return _State(shape, rf, jump)

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
        if main.shape != side.shape:
            branch = "the shortcut" if layer.shortcut else "the identity shortcut"
            raise ShapeError(
                f"layer {index} (residual): the body gives {_shape_text(main.shape)} but {branch} "
                f"gives {_shape_text(side.shape)}"
            )
        rf = jump = None
        if main.rf is not None and side.rf is not None and main.jump is not None:
            rf = (max(main.rf[0], side.rf[0]), max(main.rf[1], side.rf[1]))
            jump = main.jump
        self.rows.append(
            LayerRow(
                f"{index}.+",
                depth + 1,
                "add",
                "",
                main.shape,
                0,
                0,
                rf,
                jump,
                activations=_size(main.shape),
            )
        )
        out = _State(main.shape, rf, jump)
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
    analyzer = _Analyzer()
    analyzer.run(layers, _State(shape), "", 0)
    return NetworkSummary((shape[0], shape[1], shape[2]), tuple(analyzer.rows))
