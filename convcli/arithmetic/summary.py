"""The rows and totals of a network's analysis: what every reader of a model produces.

Pure Python. :class:`LayerRow` is one row (built by :meth:`LayerRow.of_layer`
for a layer, so that its activations are counted in one place),
:class:`NetworkSummary` the rows with their totals. The spec language and
presets (:mod:`.network`), ONNX files (:mod:`.onnx_model`) and any other
model reader build these, and ``convcli shape`` renders them.

Examples
--------
>>> row = LayerRow.of_layer("1", 0, "conv", "conv 6 k5", (6, 24, 24), 156, 86400, ((5, 5), (1, 1)))
>>> row.activations, row.param_activations, row.flops
(3456, 3456, 172800)
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..errors import ShapeError
from .counts import flops, memory_bytes
from .support import Field, Pair, product

__all__ = ["LayerRow", "NetworkSummary", "symbolic"]


def symbolic(shape: tuple[int, ...], batch: str | None) -> tuple[int | str, ...]:
    """``shape`` with its leading axis named ``batch`` (unchanged without one).

    Examples
    --------
    >>> symbolic((1, 64, 112, 112), "N"), symbolic((10,), None)
    (('N', 64, 112, 112), (10,))
    """
    if batch is None or not shape:
        return shape
    return (batch, *shape[1:])


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
    batch : str, optional
        The name of a symbolic leading (batch) axis (an ONNX ``dim_param``),
        counted as 1: ``shape`` holds 1 there, :attr:`shown_shape` the name.
    repeat : int
        How many repetitions of its layers the row stands for: 1 for a
        layer, N for the one row of ``N*relu``, N − 2 for the row between
        the first and last repetitions of a long ``N*(...)``; its counts are
        their sums, its shape and field those after the last of them.
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
    batch: str | None = None
    repeat: int = 1

    @property
    def shown_shape(self) -> tuple[int | str, ...]:
        """The shape with a symbolic batch axis named: ``("N", 64, 112, 112)``."""
        return symbolic(self.shape, self.batch)

    @property
    def flops(self) -> int:
        """Floating-point operations: 2 × MACs."""
        return flops(self.macs)

    @property
    def output_size(self) -> int:
        """Number of values in the output (C·H·W, or N when flat)."""
        return product(self.shape)

    @classmethod
    def of_layer(
        cls,
        index: str,
        depth: int,
        kind: str,
        config: str,
        shape: tuple[int, ...],
        params: int,
        macs: int,
        field: Field,
        batch: str | None = None,
    ) -> LayerRow:
        """The row of one layer: its activations are its output's values."""
        size = product(shape)
        return cls(
            index,
            depth,
            kind,
            config,
            shape,
            params,
            macs,
            field[0],
            field[1],
            activations=size,
            param_activations=size if params else 0,
            batch=batch,
        )


@dataclass(frozen=True)
class NetworkSummary:
    """The analysis of a network: its rows and totals.

    ``input_shape`` is (C, H, W) for a spec or preset; a model file's input
    keeps its own axes (N, C, H, W for an ONNX image model). ``notes`` say
    where a rule was chosen (an ONNX opset's pooling sizes). ``peak``, when
    a reader knows the graph's tensors (ONNX), is its peak of live
    activations; otherwise :attr:`peak_activations` derives it from the rows.
    """

    input_shape: tuple[int, ...]
    rows: tuple[LayerRow, ...]
    notes: tuple[str, ...] = ()
    batch: str | None = None
    peak: int | None = None

    @property
    def shown_input(self) -> tuple[int | str, ...]:
        """The input's shape with a symbolic batch axis named."""
        return symbolic(self.input_shape, self.batch)

    @property
    def shown_output(self) -> tuple[int | str, ...]:
        """The output's shape with a symbolic batch axis named (when it keeps one)."""
        top = [row for row in self.rows if row.depth == 0]
        return top[-1].shown_shape if top else self.shown_input

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
    def peak_activations(self) -> int:
        """The most values live at once in a forward pass, the input included.

        A tensor lives from the layer that makes it to the last layer that
        reads it (:mod:`.lifetimes`): a residual block keeps its input until
        the addition. Not the sum of all activations, which no forward pass
        holds at once.
        """
        if self.peak is not None:
            return self.peak
        from .lifetimes import peak_live, row_steps

        return peak_live(row_steps(self.rows, product(self.input_shape)))

    def peak_bytes(self, dtype: str = "float32") -> int:
        """Memory of :attr:`peak_activations` in bytes."""
        return memory_bytes(self.peak_activations, dtype)

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
        """Torchinfo's "forward/backward pass size": 2 × the outputs of layers with parameters."""
        outputs = sum(row.param_activations for row in self.rows if row.leaf)
        return memory_bytes(2 * outputs, dtype)

    def input_bytes(self, dtype: str = "float32") -> int:
        """Memory of the input in bytes."""
        return memory_bytes(product(self.input_shape), dtype)

    def collapse(self, depth: int) -> NetworkSummary:
        """Keep the rows of the first ``depth`` levels of nesting; same totals.

        A block or group at the last level kept stands for its layers: it
        becomes a leaf whose parameters, MACs and activations are their sums.

        Examples
        --------
        >>> from convcli.arithmetic.presets import ARCHITECTURES
        >>> from convcli.arithmetic.network import analyze_network
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
        return NetworkSummary(
            self.input_shape, rows, self.notes, self.batch, peak=self.peak_activations
        )
