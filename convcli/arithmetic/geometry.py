"""One description of a call's window geometry, resolved once and passed down.

A convolution, a pooling window and every teaching display need the same
facts per axis: the input size, the window (kernel) size, the stride, the
dilation and the padding split into (before, after). :class:`Geometry` holds
them, resolved from whatever the caller wrote (``padding="same"``, ``2``,
``(1, 2, 0, 1)``, ``stride=2`` or ``(2, 1)``), and answers the output size
with THE formula of :mod:`convcli.arithmetic.outputs`. Pure Python: no numpy.

Examples
--------
>>> g = Geometry.resolve((224, 224), 11, stride=4, padding="same")
>>> g.padding, g.output_shape
(((3, 4), (3, 4)), (56, 56))
>>> Geometry.resolve((5, 5), 2, stride=2, padding=1, pooling=True, ceil_mode=True).output_shape
(3, 3)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .outputs import output_size, pair, pool_output_size, transposed_output_size
from .padding import PaddingSpec, resolve_padding
from .support import effective_kernel_size

Pair = tuple[int, int]


@dataclass(frozen=True)
class Geometry:
    """The resolved geometry of one 2-D window operation, per axis (H, W).

    Attributes
    ----------
    size : (int, int)
        The input's height and width.
    kernel : (int, int)
        The window (kernel) height and width, before dilation.
    stride, dilation : (int, int)
        Per axis.
    padding : ((int, int), (int, int))
        ``((top, bottom), (left, right))``, already resolved from words.
    pooling, ceil_mode : bool
        A pooling window (no dilation; ``ceil_mode`` as PyTorch defines it).
    """

    size: Pair
    kernel: Pair
    stride: Pair = (1, 1)
    dilation: Pair = (1, 1)
    padding: tuple[Pair, Pair] = ((0, 0), (0, 0))
    pooling: bool = False
    ceil_mode: bool = False

    @classmethod
    def resolve(
        cls,
        size: Sequence[int],
        kernel: int | Sequence[int],
        *,
        stride: int | Sequence[int] | None = None,
        padding: PaddingSpec = 0,
        dilation: int | Sequence[int] = 1,
        pooling: bool = False,
        ceil_mode: bool = False,
    ) -> Geometry:
        """Check and resolve a call's arguments once.

        ``stride=None`` means 1 for a convolution and the window for pooling.
        Raises :class:`convcli.ShapeError` naming the bad argument (the
        window is ``size`` for pooling, as :func:`convcli.pool2d` calls it,
        else ``kernel_size``).
        """
        h, w = (int(size[0]), int(size[1]))
        k = pair(kernel, "size" if pooling else "kernel_size")
        s = (k if pooling else (1, 1)) if stride is None else pair(stride, "stride")
        d = pair(dilation, "dilation")
        pads = resolve_padding(padding, (h, w), k, s, d)
        return cls((h, w), k, s, d, pads, pooling, ceil_mode)

    @property
    def span(self) -> Pair:
        """The dilated window's extent: d·(k − 1) + 1 per axis."""
        return (
            effective_kernel_size(self.kernel[0], self.dilation[0]),
            effective_kernel_size(self.kernel[1], self.dilation[1]),
        )

    def transposed_shape(self, output_padding: Pair = (0, 0)) -> Pair:
        """Give the (height, width) of the transposed convolution with this geometry.

        ``padding`` is the matching forward convolution's; ``output_padding``
        the extra cells after.

        Examples
        --------
        >>> Geometry.resolve((55, 55), 11, stride=4, padding=2).transposed_shape((1, 1))
        (224, 224)
        """
        return (
            transposed_output_size(
                self.size[0],
                self.kernel[0],
                self.stride[0],
                self.padding[0],
                self.dilation[0],
                output_padding[0],
            ),
            transposed_output_size(
                self.size[1],
                self.kernel[1],
                self.stride[1],
                self.padding[1],
                self.dilation[1],
                output_padding[1],
            ),
        )

    @property
    def output_shape(self) -> Pair:
        """The output's (height, width), by the one output-size formula.

        A dilated pooling window (ONNX allows one) counts as a dilated
        convolution's window does.
        """
        if self.pooling and self.dilation == (1, 1):
            return (
                pool_output_size(
                    self.size[0], self.kernel[0], self.stride[0], self.padding[0], self.ceil_mode
                ),
                pool_output_size(
                    self.size[1], self.kernel[1], self.stride[1], self.padding[1], self.ceil_mode
                ),
            )
        return (
            output_size(
                self.size[0], self.kernel[0], self.stride[0], self.padding[0], self.dilation[0]
            ),
            output_size(
                self.size[1], self.kernel[1], self.stride[1], self.padding[1], self.dilation[1]
            ),
        )
