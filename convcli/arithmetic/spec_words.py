"""The words of the layer-spec language and the :class:`Layer` they describe (pure Python).

The kinds and their aliases, the arguments each kind takes, and the
:class:`Layer` value that the text parser (:mod:`.spec_text`), the JSON
reader (:mod:`.spec_json`), the presets and every model reader build; the
language itself is described in :mod:`convcli.arithmetic.spec`.

Examples
--------
>>> KIND_OF["conv2d"], Layer("conv", 8, (3, 3)).stride is None
('conv', True)
"""

from __future__ import annotations

from dataclasses import dataclass

from .padding import PaddingSpec

__all__ = [
    "ACTIVATIONS",
    "ALIASES",
    "ALLOWED",
    "EXAMPLES",
    "KIND_OF",
    "POSITIONAL",
    "REPEAT_EXPANDED",
    "UPSAMPLE_MODES",
    "Layer",
    "repeated",
]

Pair = tuple[int, int]

# canonical kind -> the words that name it
ALIASES: dict[str, tuple[str, ...]] = {
    "conv": ("conv", "conv2d"),
    "convt": ("convt", "deconv", "convtranspose", "convtranspose2d"),
    "maxpool": ("maxpool", "maxpool2d"),
    "avgpool": ("avgpool", "avgpool2d"),
    "adaptiveavgpool": ("adaptiveavgpool", "adaptiveavgpool2d"),
    "adaptivemaxpool": ("adaptivemaxpool", "adaptivemaxpool2d"),
    "gap": ("gap",),
    "linear": ("fc", "linear", "dense"),
    "flatten": ("flatten",),
    "bn": ("bn", "batchnorm", "batchnorm2d", "batchnorm1d"),
    "dropout": ("dropout",),
    "basic": ("basic", "basicblock"),
    "bottleneck": ("bottleneck",),
    "residual": ("res", "residual"),
    "concat": ("cat", "concat"),
    "upsample": ("upsample", "upsampling"),
    "crop": ("crop",),
    "seq": ("seq", "sequential", "stage"),
}
ACTIVATIONS = ("relu", "sigmoid", "tanh", "gelu", "silu", "leakyrelu", "softmax", "identity")
KIND_OF = {word: kind for kind, words in ALIASES.items() for word in words}
KIND_OF.update({word: word for word in ACTIVATIONS})

# which keyword arguments each kind accepts
ALLOWED: dict[str, frozenset[str]] = {
    "conv": frozenset("kspdg") | {"nobias", "bias"},
    "convt": frozenset("kspdg") | {"op", "nobias", "bias"},
    "maxpool": frozenset("ksp") | {"ceil"},
    "avgpool": frozenset("ksp") | {"ceil"},
    "linear": frozenset({"nobias", "bias"}),
    "basic": frozenset("s"),
    "bottleneck": frozenset("s"),
    "upsample": frozenset({"nearest", "bilinear"}),
}
#: an upsampling layer's interpolation words (shapes do not depend on them)
UPSAMPLE_MODES = ("nearest", "bilinear")
# kinds that need a positional number, and what it means
POSITIONAL = {
    "conv": "a number of filters",
    "convt": "a number of filters",
    "linear": "a number of units",
    "adaptiveavgpool": "an output size",
    "adaptivemaxpool": "an output size",
    "basic": "a number of channels",
    "bottleneck": "a bottleneck width",
    "upsample": "a scale factor",
    "crop": "the cells cut from each side",
}


@dataclass(frozen=True)
class Layer:
    """One layer of a network, as written in the spec language.

    Attributes
    ----------
    kind : str
        Canonical kind: ``conv``, ``convt``, ``maxpool``, ``avgpool``,
        ``adaptiveavgpool``, ``adaptivemaxpool``, ``linear``, ``flatten``,
        ``bn``, ``dropout``, ``basic``, ``bottleneck``, ``residual``, ``concat``, ``seq``,
        ``repeat``, ``upsample``, ``crop`` or an activation (``relu``, ``sigmoid``, ...).
    out : int, optional
        Filters of a convolution, units of a linear layer, channels of a
        ``basic`` block, width of a ``bottleneck``.
    kernel, stride, dilation, output_padding : (int, int), optional
        Per axis; a pooling layer's stride defaults to its kernel.
    padding : int, str or sequence
        Anything :func:`convcli.arithmetic.sizes.resolve_padding` accepts.
    groups : int
        Convolution groups.
    bias : bool
        Whether a convolution or linear layer has a bias.
    ceil_mode : bool
        Pooling rounds up (PyTorch's ``ceil_mode``).
    output_size : (int, int), optional
        Output H and W of an adaptive pool.
    body, shortcut : tuple of Layer
        The two branches of a residual block (an empty shortcut is the
        identity).
    post : tuple of Layer
        Layers applied after a residual block's addition (the ReLU of
        torchvision's blocks).
    name : str, optional
        A ``seq`` group's name (``layer1``).
    scale : (int, int), optional
        An ``upsample`` layer's scale factor per axis.
    mode : str, optional
        An ``upsample`` layer's interpolation, ``nearest`` (the default) or
        ``bilinear``.
    crop : (int, int), optional
        The rows and columns a ``crop`` cuts from each side (the original
        U-Net's skip connections).
    count : int
        How many times a ``repeat`` applies its ``body`` (``N*(...)`` of more
        than :data:`REPEAT_EXPANDED` layers, kept whole rather than listed).
    """

    kind: str
    out: int | None = None
    kernel: Pair | None = None
    stride: Pair | None = None
    padding: PaddingSpec = 0
    dilation: Pair = (1, 1)
    groups: int = 1
    bias: bool = True
    ceil_mode: bool = False
    output_padding: Pair = (0, 0)
    output_size: Pair | None = None
    dropout: float | None = None
    body: tuple[Layer, ...] = ()
    shortcut: tuple[Layer, ...] = ()
    post: tuple[Layer, ...] = ()
    name: str | None = None
    scale: Pair | None = None
    mode: str | None = None
    crop: Pair | None = None
    count: int = 1


#: ``N*(...)`` is written out as its N·len(...) layers up to this many; a longer
#: repeat is one :class:`Layer` of kind ``repeat`` (its ``body`` and ``count``),
#: whatever N: ``1000000*relu`` costs one layer, not a million.
REPEAT_EXPANDED = 64


def repeated(layers: list[Layer], count: int) -> list[Layer]:
    """``count`` repetitions of ``layers``: written out when short, one ``repeat`` otherwise.

    Examples
    --------
    >>> len(repeated([Layer("relu")], 3)), repeated([Layer("relu")], 10**6)[0].count
    (3, 1000000)
    """
    if count * len(layers) <= REPEAT_EXPANDED:
        return layers * count
    return [Layer("repeat", body=tuple(layers), count=count)]


EXAMPLES = {
    "conv": "conv 64 k3 p1",
    "convt": "convt 64 k4 s2 p1",
    "maxpool": "maxpool k2",
    "avgpool": "avgpool k2",
    "linear": "fc 1000",
    "adaptiveavgpool": "adaptiveavgpool 7",
    "adaptivemaxpool": "adaptivemaxpool 7",
    "basic": "basic 128 s2",
    "bottleneck": "bottleneck 64",
    "upsample": "upsample 2",
    "crop": "crop 4",
}
