"""Convolution arithmetic in pure Python (no numpy): what size comes out, and what it costs.

- :mod:`.sizes`: one namespace for the size arithmetic below (what the
  engine, pooling and ``shape`` import).
- :mod:`.outputs`: THE output-size formula and its transposed and pooling
  forms.
- :mod:`.padding`: padding words, text and splits (``split_total``, "same").
- :mod:`.formulas`: the formulas as text with the numbers put in.
- :mod:`.coverage`: the input cells no window reads.
- :mod:`.support`: shared helpers (integer checks, ``N|HxW`` text, the
  dilated span, the receptive-field step).
- :mod:`.solve`: solving backwards in closed form: the strides and paddings
  that give an output size, counted and listed lazily as runs of strides, at
  any input size.
- :mod:`.geometry`: :class:`~.geometry.Geometry`, one call's padding, stride
  and dilation per axis, resolved once and passed down to the engine, the
  image filters, pooling and the teaching displays.
- :mod:`.counts`: parameters and multiply-accumulates of each kind of layer,
  each defined once.
- :mod:`.effect`: THE layer-effect function: input shape and geometry to
  output shape, parameters, MACs and receptive field.
- :mod:`.layer`: one layer analysed for ``convcli shape`` (sizes, formulas,
  counts).
- :mod:`.spec`: the layer-spec language (``"conv 32 k3 p1, relu, maxpool k2"``),
  gathered from :mod:`.spec_words` (the words and :class:`~.spec_words.Layer`),
  :mod:`.spec_text` (reading text), :mod:`.spec_json` (reading JSON) and
  :mod:`.spec_format` (writing a layer back).
- :mod:`.summary`: :class:`~.summary.LayerRow` and
  :class:`~.summary.NetworkSummary`, what every network or model reader
  produces.
- :mod:`.lifetimes`: peak activation memory from tensor lifetimes (a
  summary's ``peak_activations``).
- :mod:`.network`: whole networks analysed layer by layer (shapes,
  parameters, MACs, receptive fields); :mod:`.repeats` keeps a long
  ``N*(...)`` to its first and last repetitions and one row between.
- :mod:`.insizes`: which input sizes a network accepts, as a rule
  (``shape --in-range``).
- :mod:`.presets`: LeNet-5, AlexNet, VGG and ResNet as layer specs.
- :mod:`.onnx_model`: an ONNX model file analysed node by node (imports the
  optional ``onnx`` package, and so numpy, only when a model is read);
  :mod:`.onnx_nodes` says what each kind of node does, :mod:`.onnx_fold`
  folds the exporters' shape plumbing (``Shape``, ``Gather``...) to constants.
- :mod:`.jsontext`: JSON text (kernels, matrices, specs) read with every refusal a
  clean error: nesting, over-long numbers, bad syntax.
- :mod:`.limits`: the resource policy: the memory budget, kernel taps,
  bracket nesting and file sizes read, each checked before allocating (it
  reads no file: :mod:`convcli.kernels.reading` does).

``convcli shape`` imports only this package, so it starts without numpy
(unless it is given a ``.onnx`` model).
"""
