"""Keras models from their saved configuration: ``.keras`` zips and ``.h5`` files.

A ``.keras`` file (Keras 3's ``model.save``) is a zip holding ``config.json``
(``keras/src/saving/saving_lib.py``): ``{"module", "class_name", "config",
"build_config"}``, whose ``config`` lists the layers, each with its own
``class_name`` and ``config``; a ``Functional`` model adds each layer's
``inbound_nodes`` and its ``input_layers`` / ``output_layers``. An ``.h5``
file (legacy saving, Keras 2 and 3) holds the same JSON in the root's
``model_config`` attribute; reading it needs the optional ``h5py``.

Keras' own defaults apply where a config leaves a value out: ``strides``
of a pool = its ``pool_size``, ``padding="valid"``, ``channels_last``.
Shapes are shown C×H×W whatever the model's data format (a note says so).
Parameters are counted as PyTorch counts them: BatchNormalization's moving
mean and variance, which Keras' ``summary()`` lists as non-trainable
parameters, are buffers here.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Mapping, Sequence
from typing import Any

from ..arithmetic.spec import Layer
from ..arithmetic.support import effective_kernel_size
from ..errors import ConvcliError, install_hint
from .common import (
    Located,
    ModelError,
    ModelSummary,
    Notes,
    Path,
    input_shape,
    join_residual,
    pair_of,
)
from .common import summarize as analyze

__all__ = ["H5PY_MISSING", "read_keras"]

H5PY_MISSING = f"reading a Keras .h5 file needs the h5py package: {install_hint('keras')}"
MAX_CONFIG_BYTES = 256 << 20
_ACTIVATIONS = {
    "relu": "relu",
    "sigmoid": "sigmoid",
    "tanh": "tanh",
    "gelu": "gelu",
    "silu": "silu",
    "swish": "silu",
    "softmax": "softmax",
    "leaky_relu": "leakyrelu",
    "elu": "elu",
    "selu": "selu",
    "softplus": "softplus",
    "hard_sigmoid": "hardsigmoid",
    "hard_swish": "hardswish",
    "log_softmax": "logsoftmax",
    "mish": "mish",
    "relu6": "relu6",
}
_ACTIVATION_LAYERS = {"ReLU": "relu", "LeakyReLU": "leakyrelu", "Softmax": "softmax", "ELU": "elu"}
_PASSING = {"Dropout", "SpatialDropout2D", "GaussianNoise", "GaussianDropout", "AlphaDropout"}


def _load(path: str) -> dict[str, Any]:
    """Load the model's configuration: a .keras zip's config.json, an .h5's model_config."""
    if path.lower().endswith((".h5", ".hdf5")):
        try:
            import h5py
        except ImportError:
            raise ConvcliError(H5PY_MISSING) from None
        try:
            with h5py.File(path, "r") as f:
                text = f.attrs.get("model_config")
        except OSError as exc:
            raise ConvcliError(f"{path}: not an HDF5 file: {exc}") from None
        if text is None:
            raise ModelError(
                f"{path}: no model_config attribute (a weights-only file?): "
                "convcli reads files that model.save wrote"
            )
        data = text.decode() if isinstance(text, bytes) else str(text)
    else:
        try:
            with zipfile.ZipFile(path) as archive:
                if "config.json" not in archive.namelist():
                    raise ModelError(f"{path}: the zip has no config.json (not a .keras model)")
                if archive.getinfo("config.json").file_size > MAX_CONFIG_BYTES:
                    raise ModelError(f"{path}: config.json is over 256 MiB")
                data = archive.read("config.json").decode("utf-8")
        except (zipfile.BadZipFile, OSError, UnicodeDecodeError) as exc:
            raise ConvcliError(f"{path}: not a .keras file (a zip): {exc}") from None
    try:
        config = json.loads(data)
    except ValueError as exc:
        raise ConvcliError(f"{path}: the model configuration is not JSON: {exc}") from None
    if not isinstance(config, dict):
        raise ModelError(f"{path}: the model configuration is not an object")
    return config


class KerasReader:
    """Turns Keras layer configurations into located layers, one model at a time."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.notes = Notes()
        self.stated: tuple[int | None, int | None, int | None] | None = None
        self.pending_pad: Any = None

    def where(self, layer: Mapping[str, Any]) -> str:
        config = layer.get("config", {})
        name = layer.get("name") or (config.get("name") if isinstance(config, dict) else None)
        return f"{self.path}: layer {name!r} ({layer.get('class_name')})"

    def state_input(self, shape: Any, data_format: str, where: str) -> None:
        if not isinstance(shape, list) or len(shape) != 4:
            raise ModelError(f"{where}: the input shape {shape} is not a batch of images")
        if data_format == "channels_first":
            self.stated = (shape[1], shape[2], shape[3])
        else:
            self.stated = (shape[3], shape[1], shape[2])
            self.notes.add("the model is channels-last (H×W×C): shapes are shown C×H×W")

    def model(self, config: Mapping[str, Any], x: Path) -> Path:
        kind = config.get("class_name")
        inner = config.get("config", {})
        layers = inner if isinstance(inner, list) else inner.get("layers")
        if kind not in ("Sequential", "Functional", "Model") or not isinstance(layers, list):
            raise ModelError(
                f"{self.path}: a {kind} model: convcli reads Sequential and Functional"
            )
        build = (config.get("build_config") or {}).get("input_shape") or (
            inner.get("build_input_shape") if isinstance(inner, dict) else None
        )
        if build and self.stated is None:
            self.state_input(build, "channels_last", self.path)
        if kind == "Sequential":
            for layer in layers:
                x = self.layer(layer, [x])
            return x
        return self.functional(inner, layers, x)

    def functional(self, inner: Mapping[str, Any], layers: list[Any], x: Path) -> Path:
        values: dict[str, Path] = {}
        for layer in layers:
            name = layer.get("name") or layer.get("config", {}).get("name")
            nodes = layer.get("inbound_nodes", [])
            if len(nodes) > 1:
                raise ModelError(f"{self.where(layer)}: a layer called {len(nodes)} times (shared)")
            sources = _history_names(nodes[0]) if nodes else []
            if not sources:
                values[name] = self.layer(layer, [x])
                continue
            missing = [s for s in sources if s not in values]
            if missing:
                raise ModelError(f"{self.where(layer)}: its input {missing[0]!r} comes later")
            values[name] = self.layer(layer, [values[s] for s in sources])
        outputs = _history_names(inner.get("output_layers", []))
        if len(outputs) != 1:
            raise ModelError(
                f"{self.path}: the model has {len(outputs)} outputs; convcli reads one"
            )
        return values[outputs[0]]

    def layer(self, layer: Mapping[str, Any], inputs: Sequence[Path]) -> Path:
        kind = layer.get("class_name")
        config = layer.get("config", {})
        where = self.where(layer)
        if kind in ("Sequential", "Functional", "Model"):
            raise ModelError(f"{where}: a model inside the model; convcli reads one level")
        if kind == "Add":
            if len(inputs) != 2:
                raise ModelError(f"{where}: an Add of {len(inputs)} tensors; convcli reads two")
            return join_residual(inputs[0], inputs[1], where)
        if len(inputs) != 1:
            raise ModelError(f"{where}: a {kind} of {len(inputs)} tensors has no row in convcli")
        x = inputs[0]
        fmt = config.get("data_format") or "channels_last"
        if kind == "InputLayer":
            shape = config.get("batch_shape") or config.get("batch_input_shape")
            self.state_input(shape, fmt, where)
            return x
        shape = config.get("batch_input_shape")
        if shape and self.stated is None:  # Keras 2 put the input on the first layer
            self.state_input(shape, fmt, where)
        build = (layer.get("build_config") or {}).get("input_shape")
        expect = None
        if (
            isinstance(build, list)
            and build
            and isinstance(build[-1 if fmt != "channels_first" else 1], int)
        ):
            expect = build[-1 if fmt != "channels_first" else 1]
        if self.pending_pad is not None and kind not in (
            "Conv2D",
            "MaxPooling2D",
            "AveragePooling2D",
        ):
            raise ModelError(
                f"{where}: ZeroPadding2D before a {kind}: convcli folds it into a conv or pool only"
            )
        items = self.convert(str(kind), config, where, expect)
        return (*x, *items)

    def padding(self, config: Mapping[str, Any], where: str) -> Any:
        padding = config.get("padding", "valid")
        if padding not in ("valid", "same"):
            raise ModelError(f"{where}: padding {padding!r} has no row in convcli")
        if self.pending_pad is None:
            return padding
        if padding != "valid":
            raise ModelError(f"{where}: ZeroPadding2D before a 'same' layer")
        pads, self.pending_pad = self.pending_pad, None
        self.notes.add("a ZeroPadding2D is shown as the padding of the layer after it")
        return pads

    def activation(self, config: Mapping[str, Any], where: str) -> list[Located]:
        name = config.get("activation", "linear")
        if name in (None, "linear"):
            return []
        if not isinstance(name, str) or name not in _ACTIVATIONS:
            raise ModelError(f"{where}: activation {name!r} has no row in convcli")
        return [Located(Layer(_ACTIVATIONS[name]), where)]

    def conv(
        self, kind: str, config: Mapping[str, Any], where: str, expect: int | None
    ) -> list[Located]:
        """Convert a ``Conv2D`` or ``Conv2DTranspose`` (and its activation)."""
        if config.get("groups", 1) != 1 and kind == "Conv2DTranspose":
            raise ModelError(f"{where}: a grouped transposed convolution has no row")
        kernel = pair_of(config["kernel_size"], where, "kernel_size")
        stride = pair_of(config.get("strides", 1), where, "strides")
        dilation = pair_of(config.get("dilation_rate", 1), where, "dilation_rate")
        fields: dict[str, Any] = dict(
            kernel=kernel,
            stride=stride,
            dilation=dilation,
            groups=config.get("groups", 1),
            bias=config.get("use_bias", True),
        )
        if kind == "Conv2D":
            layer = Layer("conv", config["filters"], padding=self.padding(config, where), **fields)
        else:
            layer = _transposed(config, fields, where)
        return [Located(layer, where, expect), *self.activation(config, where)]

    def zero_padding(self, config: Mapping[str, Any], where: str) -> None:
        """Keep a ``ZeroPadding2D``'s widths for the convolution or pool after it."""
        value = config.get("padding", 1)
        if isinstance(value, list) and len(value) == 2 and all(isinstance(v, list) for v in value):
            self.pending_pad = ((value[0][0], value[0][1]), (value[1][0], value[1][1]))
        else:
            self.pending_pad = pair_of(value, where, "padding")

    def batchnorm(self, config: Mapping[str, Any], where: str, expect: int | None) -> list[Located]:
        """Convert a ``BatchNormalization`` (2 parameters a channel, as PyTorch counts)."""
        if not (config.get("center", True) and config.get("scale", True)):
            raise ModelError(f"{where}: a BatchNormalization without center or scale has no row")
        self.notes.add(
            "BatchNormalization counts 2 parameters a channel: its moving mean and "
            "variance are buffers (Keras' summary counts them as non-trainable)"
        )
        return [Located(Layer("bn"), where, expect)]

    def convert(
        self, kind: str, config: Mapping[str, Any], where: str, expect: int | None
    ) -> list[Located]:
        if kind in ("Conv2D", "Conv2DTranspose"):
            return self.conv(kind, config, where, expect)
        if kind in ("MaxPooling2D", "AveragePooling2D"):
            pool = pair_of(config.get("pool_size", 2), where, "pool_size")
            strides = config.get("strides")
            stride = pool if strides is None else pair_of(strides, where, "strides")
            word = "maxpool" if kind.startswith("Max") else "avgpool"
            layer = Layer(word, kernel=pool, stride=stride, padding=self.padding(config, where))
            return [Located(layer, where)]
        if kind in ("GlobalAveragePooling2D", "GlobalMaxPooling2D"):
            word = "adaptivemaxpool" if "Max" in kind else "adaptiveavgpool"
            items = [Located(Layer(word, output_size=(1, 1)), where)]
            if not config.get("keepdims", False):
                items.append(Located(Layer("flatten"), where))
            return items
        if kind == "Dense":
            layer = Layer("linear", config["units"], bias=config.get("use_bias", True))
            return [Located(layer, where, expect), *self.activation(config, where)]
        if kind == "BatchNormalization":
            return self.batchnorm(config, where, expect)
        if kind == "Activation":
            return self.activation(config, where)
        if kind in _ACTIVATION_LAYERS:
            return [Located(Layer(_ACTIVATION_LAYERS[kind]), where)]
        if kind in _PASSING:
            rate = config.get("rate")
            return [
                Located(Layer("dropout", dropout=rate if isinstance(rate, float) else None), where)
            ]
        if kind == "ZeroPadding2D":
            self.zero_padding(config, where)
            return []
        if kind in _RESIZING:
            return [Located(_RESIZING[kind](config, where), where)]
        raise ModelError(f"{where}: convcli has no row for the Keras layer {kind}")


def _upsampling(config: Mapping[str, Any], where: str) -> Layer:
    """Convert an ``UpSampling2D`` (a whole factor per axis, nearest or bilinear)."""
    mode = config.get("interpolation", "nearest")
    if mode not in ("nearest", "bilinear"):
        raise ModelError(f"{where}: UpSampling2D interpolation {mode!r} has no row")
    scale = pair_of(config.get("size", 2), where, "size")
    return Layer("upsample", scale=scale, mode=None if mode == "nearest" else mode)


def _cropping(config: Mapping[str, Any], where: str) -> Layer:
    """Convert a ``Cropping2D`` that cuts the same from both ends of each axis."""
    value = config.get("cropping", 0)
    if isinstance(value, (list, tuple)) and all(isinstance(v, (list, tuple)) for v in value):
        pairs = [pair_of(v, where, "cropping") for v in value]
        if len(pairs) != 2 or any(a != b for a, b in pairs):
            raise ModelError(f"{where}: Cropping2D {value!r}: convcli crops both ends alike")
        value = (pairs[0][0], pairs[1][0])
    return Layer("crop", crop=pair_of(value, where, "cropping"))


def _flatten(config: Mapping[str, Any], where: str) -> Layer:
    """Convert a ``Flatten``."""
    return Layer("flatten")


#: the layers without weights that change only the shape, one row each
_RESIZING = {"Flatten": _flatten, "UpSampling2D": _upsampling, "Cropping2D": _cropping}


def _transposed(config: Mapping[str, Any], fields: dict[str, Any], where: str) -> Layer:
    """Keras' transposed size as the spec's (n − 1)·s − p + d·(k − 1) + op + 1."""
    padding = config.get("padding", "valid")
    (kh, kw), (sh, sw), (dh, dw) = fields["kernel"], fields["stride"], fields["dilation"]
    given = config.get("output_padding")
    pads, extra = [], []
    for k, s, d, i in ((kh, sh, dh, 0), (kw, sw, dw, 1)):
        span = effective_kernel_size(k, d)
        if given is not None:
            pad = {"valid": 0, "same": span // 2}.get(padding)
            if pad is None:
                raise ModelError(f"{where}: padding {padding!r} has no row in convcli")
            pads.append((pad, pad))
            extra.append(pair_of(given, where, "output_padding")[i])
            continue
        # Keras: valid → n·s + max(span − s, 0), same → n·s
        total = span - s if padding == "same" else 0
        if padding not in ("valid", "same"):
            raise ModelError(f"{where}: padding {padding!r} has no row in convcli")
        pads.append((max(total, 0) // 2, max(total, 0) - max(total, 0) // 2))
        extra.append(max(s - span, 0))
    return Layer(
        "convt",
        config["filters"],
        padding=(pads[0], pads[1]),
        output_padding=(extra[0], extra[1]),
        **fields,
    )


def _history_names(node: Any) -> list[str]:
    """List the layer names a node reads: Keras 3's keras_history, Keras 2's lists."""
    names: list[str] = []
    if isinstance(node, dict):
        if node.get("class_name") == "__keras_tensor__":
            history = node.get("config", {}).get("keras_history")
            if isinstance(history, list) and history:
                names.append(history[0])
            return names
        for value in node.values():
            names += _history_names(value)
    elif isinstance(node, list):
        if len(node) >= 3 and isinstance(node[0], str) and isinstance(node[1], int):
            return [node[0]]
        for value in node:
            names += _history_names(value)
    return names


def read_keras(
    path: str,
    given: tuple[int, int] | None = None,
    channels: int | None = None,
) -> ModelSummary:
    """Read a Keras model's saved configuration and analyse it.

    Parameters
    ----------
    path : str
        A ``.keras`` file, or an ``.h5`` / ``.hdf5`` file ``model.save`` wrote.
    given : (H, W), optional
        The input size, where the model leaves it open (``None``) or to
        analyse at another size.
    channels : int, optional
        The input channels, likewise.

    Raises
    ------
    ModelError
        For a layer convcli has no row for; the message names the layer.
    """
    reader = KerasReader(path)
    path_layers = reader.model(_load(path), ())
    if reader.pending_pad is not None:
        raise ModelError(f"{path}: a ZeroPadding2D ends the model")
    stated = reader.stated
    summary = analyze(path_layers, input_shape(stated, given, channels, path), reader.notes.items)
    return ModelSummary(path.replace("\\", "/").rsplit("/", 1)[-1], "keras", summary)
