"""Convolution arithmetic in pure Python (no numpy): what size comes out.

- :mod:`.sizes`: THE output-size formula (and its transposed and pooling
  forms), padding words resolved to (before, after), the formulas as text,
  solving backwards for stride and padding.
- :mod:`.geometry`: :class:`~.geometry.Geometry`, one call's padding, stride
  and dilation per axis, resolved once and passed down to the engine, the
  image filters, pooling and the teaching displays.
- :mod:`.counts`: parameters and multiply-accumulates of one layer (each
  count defined once).
- :mod:`.spec`: the layer-spec language (text and JSON) and its formatter.
- :mod:`.network`: whole networks analysed layer by layer (shapes,
  parameters, MACs, receptive fields).
- :mod:`.presets`: the built-in networks (LeNet-5, AlexNet, VGG, ResNet).

``convcli shape`` imports only this package, so it starts without numpy.
"""
