"""Convolution arithmetic in pure Python (no numpy): what size comes out, and what it costs.

- :mod:`.sizes`: THE output-size formula (and its transposed and pooling
  forms), padding text and words resolved to (before, after), the formulas as
  text, solving backwards for stride and padding (as a list).
- :mod:`.solve`: solving backwards in closed form: the strides and paddings
  that give an output size, counted and listed lazily as runs of strides, at
  any input size.
- :mod:`.geometry`: :class:`~.geometry.Geometry`, one call's padding, stride
  and dilation per axis, resolved once and passed down to the engine, the
  image filters, pooling and the teaching displays.
- :mod:`.counts`: parameters and multiply-accumulates of each kind of layer,
  each defined once.
- :mod:`.layer`: one layer analysed for ``convcli shape`` (sizes, formulas,
  counts).
- :mod:`.spec`: the layer-spec language (``"conv 32 k3 p1, relu, maxpool k2"``).
- :mod:`.network`: whole networks analysed layer by layer (shapes,
  parameters, MACs, receptive fields).
- :mod:`.presets`: LeNet-5, AlexNet, VGG and ResNet as layer specs.
- :mod:`.onnx_model`: an ONNX model file analysed node by node (imports the
  optional ``onnx`` package, and so numpy, only when a model is read).
- :mod:`.jsontext`: JSON text (kernels, matrices, specs) read with every refusal a
  clean error: nesting, over-long numbers, bad syntax.
- :mod:`.limits`: the resource policy: the memory budget, kernel taps,
  bracket nesting and file sizes read, each checked before allocating.

``convcli shape`` imports only this package, so it starts without numpy
(unless it is given a ``.onnx`` model).
"""
