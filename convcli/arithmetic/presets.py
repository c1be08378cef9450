"""Built-in networks (LeNet-5, AlexNet, VGG, ResNet, two U-Nets) written in the spec language.

Pure Python (no numpy). Each :class:`Architecture` holds its spec text and
default input; analyse one with
:func:`convcli.arithmetic.network.analyze_network`.

Examples
--------
>>> ARCHITECTURES["lenet5"].input_shape
(1, 28, 28)
>>> len(ARCHITECTURES["alexnet"].layers)
22
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from .spec import Layer, parse_layers

__all__ = ["ARCHITECTURES", "Architecture"]


@dataclass(frozen=True)
class Architecture:
    """A built-in network: its spec text, default input (C, H, W) and source."""

    name: str
    spec: str
    input_shape: tuple[int, int, int]
    source: str

    @property
    def layers(self) -> tuple[Layer, ...]:
        """The parsed layers (parsed on first use, then cached)."""
        return _parse_preset(self.spec)


@functools.cache
def _parse_preset(spec: str) -> tuple[Layer, ...]:
    return tuple(parse_layers(spec))


def _vgg(config: str) -> str:
    layers = []
    for item in config.split():
        layers.append("maxpool k2 s2" if item == "M" else f"conv {item} k3 p1, relu")
    head = "adaptiveavgpool 7, flatten, fc 4096, relu, dropout 0.5, fc 4096, relu, dropout 0.5"
    return ", ".join([*layers, head, "fc 1000"])


def _resnet(block: str, counts: Sequence[int]) -> str:
    stages = []
    for i, (width, count) in enumerate(zip((64, 128, 256, 512), counts, strict=True)):
        blocks = [f"{block} {width}" if i == 0 else f"{block} {width} s2"]
        if count > 1:
            blocks.append(f"{count - 1}*{block} {width}")
        stages.append(f"seq layer{i + 1}({', '.join(blocks)})")
    return ", ".join(
        ["conv 64 k7 s2 p3 nobias, bn, relu, maxpool k3 s2 p1", *stages, "gap, flatten, fc 1000"]
    )


def _unet(
    widths: Sequence[int] = (64, 128, 256, 512, 1024), classes: int = 2, valid: bool = False
) -> str:
    """U-Net (Ronneberger et al., 2015): each level is ``cat(maxpool, two convs, the
    level below, two convs, up-convolution | skip)``, concatenated along the channels.

    Padded 3×3 convolutions keep the size (the variant most code uses). The
    paper's are valid: each takes 2 off, so each level's body returns its
    input less ``8 + 2·(what the level below takes off)`` (8, 32, 80, 176 from
    the bottom) and its skip connection is cropped by half that on each side
    (4, 16, 40, 88: 568 → 392 at the top, as in the paper's figure 1).
    """
    conv = "k3" if valid else "k3 p1"

    def pair(width: int) -> str:
        return f"2*(conv {width} {conv}, relu)"

    inner, cut = f"maxpool k2, {pair(widths[-1])}, convt {widths[-2]} k2 s2", 8
    for index in range(len(widths) - 2, 0, -1):
        width = widths[index]
        skip = f" | crop {cut // 2}" if valid else ""
        inner = (
            f"maxpool k2, {pair(width)}, cat({inner}{skip}), {pair(width)}, "
            f"convt {widths[index - 1]} k2 s2"
        )
        cut = 16 + 2 * cut
    skip = f" | crop {cut // 2}" if valid else ""
    return f"{pair(widths[0])}, cat({inner}{skip}), {pair(widths[0])}, conv {classes} k1"


#: Built-in networks, by name. The ImageNet models follow torchvision's
#: definitions (``torchvision.models``: AlexNet, VGG without BatchNorm, ResNet
#: v1.5 with the stride on the 3×3 convolution), 1000 classes; LeNet-5 is the
#: one of *Dive into Deep Learning* §7.6 (sigmoid, average pooling, 28×28).
#: A ResNet's stages are ``seq`` groups named as torchvision's ``layer1`` to
#: ``layer4``, so that ``shape --depth 1`` shows them as one row each.
ARCHITECTURES: dict[str, Architecture] = {
    arch.name: arch
    for arch in (
        Architecture(
            "lenet5",
            "conv 6 k5 p2, sigmoid, avgpool k2 s2, conv 16 k5, sigmoid, avgpool k2 s2, "
            "flatten, fc 120, sigmoid, fc 84, sigmoid, fc 10",
            (1, 28, 28),
            "LeNet-5 as built in Dive into Deep Learning, section 7.6",
        ),
        Architecture(
            "alexnet",
            "conv 64 k11 s4 p2, relu, maxpool k3 s2, conv 192 k5 p2, relu, maxpool k3 s2, "
            "conv 384 k3 p1, relu, conv 256 k3 p1, relu, conv 256 k3 p1, relu, maxpool k3 s2, "
            "adaptiveavgpool 6, flatten, dropout 0.5, fc 4096, relu, dropout 0.5, fc 4096, "
            "relu, fc 1000",
            (3, 224, 224),
            "torchvision.models.alexnet",
        ),
        Architecture(
            "vgg11",
            _vgg("64 M 128 M 256 256 M 512 512 M 512 512 M"),
            (3, 224, 224),
            "torchvision.models.vgg11 (configuration A, no BatchNorm)",
        ),
        Architecture(
            "vgg16",
            _vgg("64 64 M 128 128 M 256 256 256 M 512 512 512 M 512 512 512 M"),
            (3, 224, 224),
            "torchvision.models.vgg16 (configuration D, no BatchNorm)",
        ),
        Architecture(
            "resnet18",
            _resnet("basic", (2, 2, 2, 2)),
            (3, 224, 224),
            "torchvision.models.resnet18",
        ),
        Architecture(
            "resnet50",
            _resnet("bottleneck", (3, 4, 6, 3)),
            (3, 224, 224),
            "torchvision.models.resnet50 (v1.5: stride on the 3×3 convolution)",
        ),
        Architecture(
            "unet",
            _unet(),
            (1, 512, 512),
            "U-Net (Ronneberger et al., 2015), padded 3×3 convolutions, 2 classes",
        ),
        Architecture(
            "unet-valid",
            _unet(valid=True),
            (1, 572, 572),
            "U-Net as in the paper (Ronneberger et al., 2015): valid 3×3 convolutions, "
            "cropped skip connections, 572×572 → 388×388, 2 classes",
        ),
    )
}
