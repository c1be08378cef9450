"""The layer-spec language: a network written as text or JSON, and back.

Pure Python (no numpy). :func:`parse_layers` reads the text language
(:mod:`.spec_text`), :func:`load_spec` a spec file, JSON or text
(:mod:`.spec_json`), and :func:`format_layer` writes a :class:`Layer` back as
text (:mod:`.spec_format`); the words and the :class:`Layer` value are in
:mod:`.spec_words`. Import them from here. The analysis lives in
:mod:`convcli.arithmetic.network`, the built-in networks in
:mod:`convcli.arithmetic.presets`.

The spec language
-----------------
A network is a list of layers separated by commas (or new lines); ``#``
starts a comment. Each layer is a word followed by arguments::

    conv 64 k11 s4 p2, relu, maxpool k3 s2, conv 192 k5 p2, relu

=================================  =============================================
``conv F``                         2-D convolution with ``F`` filters
                                   (``k s p d g nobias``); alias ``conv2d``
``convt F``                        transposed convolution (``k s p d g op
                                   nobias``); aliases ``deconv``, ``convtranspose``
``maxpool``, ``avgpool``           pooling (``k s p ceil``); the stride
                                   defaults to the window
``adaptiveavgpool N|HxW``          adaptive pooling to a fixed output size;
``adaptivemaxpool N|HxW``          ``gap`` is ``adaptiveavgpool 1``
``fc N``                           fully connected layer of ``N`` units
                                   (``nobias``); alias ``linear``
``flatten``                        C×H×W → C·H·W
``bn``                             batch normalisation, 2 parameters per
                                   channel; alias ``batchnorm``
``relu`` ``sigmoid`` ``tanh``      activations (also ``gelu``, ``silu``,
                                   ``leakyrelu``, ``softmax``); no parameters
``dropout [P]``                    no parameters, shape unchanged
``basic F [sN]``                   torchvision's ResNet BasicBlock
``bottleneck W [sN]``              torchvision's ResNet Bottleneck (``4·W`` out)
``res(BODY | SHORTCUT)``           a residual block: BODY and SHORTCUT (layers,
                                   identity when omitted) are added
``cat(BODY | SHORTCUT)``           the same with the two concatenated along
                                   the channels (a U-Net's skip connection)
``upsample N|HxW [bilinear]``      nearest (or bilinear) upsampling by N
``crop N|HxW``                     cut N cells from each side (the original
                                   U-Net's cropped skip: ``cat(... | crop 4)``)
``seq [NAME](A, B, ...)``          a group of layers (torchvision's ``layer1``),
                                   one level of nesting for ``shape --depth``
``N*LAYER``, ``N*(A, B, ...)``     repeat a layer, or a group of layers; past
                                   64 layers in all the repeat is kept whole
                                   (``1000000*relu`` is one layer)
=================================  =============================================

Arguments: ``kN`` or ``kHxW`` kernel, ``sN`` stride, ``pN`` padding per side,
``pHxW`` per axis, ``pB:A`` before:after, ``pT:BxL:R`` per side, or ``psame``,
``pvalid``, ``pfull``; ``dN`` dilation; ``gN`` groups; ``opN`` output padding;
``nobias``; ``ceil`` (ceil mode).

A JSON spec is a list of layers, or an object ``{"input": [C, H, W],
"layers": [...]}`` whose ``layers`` may also be a string in the text language.
A layer is a string in the text language, or an object such as
``{"type": "conv", "filters": 64, "kernel": 11, "stride": 4, "padding": 2}``
(keys: ``type``, ``filters``/``units``/``out``, ``kernel``, ``stride``,
``padding``, ``dilation``, ``groups``, ``bias``, ``ceil_mode``,
``output_padding``, ``output_size``, ``scale_factor``, ``mode``, ``crop``,
``body``, ``shortcut``, ``repeat``;
a ``seq`` takes ``layers`` and an optional ``name``).
"""

from __future__ import annotations

from .spec_format import format_layer
from .spec_json import load_spec
from .spec_text import parse_layers
from .spec_words import ACTIVATIONS, Layer

__all__ = ["ACTIVATIONS", "Layer", "format_layer", "load_spec", "parse_layers"]
