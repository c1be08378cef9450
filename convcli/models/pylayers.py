"""The layers of PyTorch, Keras and Flax as their documentation defines them.

Each entry names a framework's class or function, its parameters in order
and their documented defaults, and how it becomes spec-language layers.
The defaults differ where it matters for shapes: a PyTorch pool's stride
defaults to its window, a Flax pool's to 1; a PyTorch convolution pads
nothing by default, a Flax ``nn.Conv`` pads ``'SAME'``; a Flax integer
``kernel_size`` is a 1-D kernel. Keras layers are turned into the same
configuration a ``.keras`` file holds and read by :mod:`convcli.models.keras`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..arithmetic.spec import Layer
from .common import Located, ModelError, pair_of

__all__ = ["FUNCTIONS", "MODULES", "bind", "module_layers"]

_MISSING = object()

#: nn.AvgPool2d and F.avg_pool2d take the same parameters (nn.MaxPool2d and
#: F.max_pool2d do not: ceil_mode and return_indices are swapped)
_AVGPOOL: tuple[tuple[str, ...], dict[str, Any]] = (
    ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override"),
    {
        "stride": None,
        "padding": 0,
        "ceil_mode": False,
        "count_include_pad": True,
        "divisor_override": None,
    },
)
#: PyTorch (torch.nn) and Flax (flax.linen) modules: parameters in order, defaults
MODULES: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "torch.nn.Conv2d": (
        (
            "in_channels",
            "out_channels",
            "kernel_size",
            "stride",
            "padding",
            "dilation",
            "groups",
            "bias",
        ),
        {"stride": 1, "padding": 0, "dilation": 1, "groups": 1, "bias": True},
    ),
    "torch.nn.ConvTranspose2d": (
        (
            "in_channels",
            "out_channels",
            "kernel_size",
            "stride",
            "padding",
            "output_padding",
            "groups",
            "bias",
            "dilation",
        ),
        {"stride": 1, "padding": 0, "output_padding": 0, "groups": 1, "bias": True, "dilation": 1},
    ),
    "torch.nn.MaxPool2d": (
        ("kernel_size", "stride", "padding", "dilation", "return_indices", "ceil_mode"),
        {"stride": None, "padding": 0, "dilation": 1, "return_indices": False, "ceil_mode": False},
    ),
    "torch.nn.AvgPool2d": _AVGPOOL,
    "torch.nn.AdaptiveAvgPool2d": (("output_size",), {}),
    "torch.nn.AdaptiveMaxPool2d": (("output_size", "return_indices"), {"return_indices": False}),
    "torch.nn.Linear": (("in_features", "out_features", "bias"), {"bias": True}),
    "torch.nn.Flatten": (("start_dim", "end_dim"), {"start_dim": 1, "end_dim": -1}),
    "torch.nn.BatchNorm2d": (
        ("num_features", "eps", "momentum", "affine"),
        {"eps": 1e-5, "momentum": 0.1, "affine": True},
    ),
    "torch.nn.BatchNorm1d": (
        ("num_features", "eps", "momentum", "affine"),
        {"eps": 1e-5, "momentum": 0.1, "affine": True},
    ),
    "torch.nn.LazyBatchNorm2d": (
        ("eps", "momentum", "affine"),
        {"eps": 1e-5, "momentum": 0.1, "affine": True},
    ),
    "torch.nn.Dropout": (("p", "inplace"), {"p": 0.5, "inplace": False}),
    "torch.nn.Dropout2d": (("p", "inplace"), {"p": 0.5, "inplace": False}),
    "flax.linen.Conv": (
        (
            "features",
            "kernel_size",
            "strides",
            "padding",
            "input_dilation",
            "kernel_dilation",
            "feature_group_count",
            "use_bias",
        ),
        {
            "strides": 1,
            "padding": "SAME",
            "input_dilation": 1,
            "kernel_dilation": 1,
            "feature_group_count": 1,
            "use_bias": True,
        },
    ),
    "flax.linen.Dense": (("features", "use_bias"), {"use_bias": True}),
    "flax.linen.BatchNorm": (
        ("use_running_average",),
        {"use_running_average": None, "use_bias": True, "use_scale": True},
    ),
    "flax.linen.Dropout": (
        ("rate", "broadcast_dims", "deterministic"),
        {"broadcast_dims": (), "deterministic": None},
    ),
}
#: activations: torch.nn modules, and functions of torch, torch.nn.functional, flax.linen
_ACTIVATIONS = {
    "ReLU": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "GELU": "gelu", "SiLU": "silu",
    "LeakyReLU": "leakyrelu", "ELU": "elu", "SELU": "selu", "Softmax": "softmax",
    "LogSoftmax": "logsoftmax", "ReLU6": "relu6", "Hardswish": "hardswish", "Mish": "mish",
    "relu": "relu", "sigmoid": "sigmoid", "tanh": "tanh", "gelu": "gelu", "silu": "silu",
    "swish": "silu", "leaky_relu": "leakyrelu", "elu": "elu", "selu": "selu",
    "softmax": "softmax", "log_softmax": "logsoftmax", "relu6": "relu6", "hardswish": "hardswish",
    "mish": "mish",
}  # fmt: skip
for _name in _ACTIVATIONS:
    if _name[0].isupper():
        MODULES[f"torch.nn.{_name}"] = (("arg",), {"arg": None, "inplace": False, "dim": None})
MODULES["torch.nn.Identity"] = ((), {})
#: nn.Upsample, F.interpolate and the two fixed-mode upsampling modules
_RESIZE = {"size": None, "scale_factor": None, "mode": "nearest", "align_corners": None}
MODULES["torch.nn.Upsample"] = (
    ("size", "scale_factor", "mode", "align_corners", "recompute_scale_factor"),
    {**_RESIZE, "recompute_scale_factor": None},
)
for _name in ("UpsamplingNearest2d", "UpsamplingBilinear2d"):
    MODULES[f"torch.nn.{_name}"] = (("size", "scale_factor"), _RESIZE)
for _name in ("Conv2d", "ConvTranspose2d", "Linear"):  # Lazy: the same without the input size
    _names, _defaults = MODULES[f"torch.nn.{_name}"]
    MODULES[f"torch.nn.Lazy{_name}"] = (_names[1:], _defaults)

#: functions applied to a tensor: parameters after the tensor, and defaults
FUNCTIONS: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "torch.nn.functional.max_pool2d": (
        ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices"),
        {"stride": None, "padding": 0, "dilation": 1, "ceil_mode": False, "return_indices": False},
    ),
    "torch.nn.functional.avg_pool2d": _AVGPOOL,
    "torch.nn.functional.adaptive_avg_pool2d": (("output_size",), {}),
    "torch.nn.functional.adaptive_max_pool2d": (("output_size",), {}),
    "torch.nn.functional.dropout": (
        ("p", "training", "inplace"),
        {"p": 0.5, "training": True, "inplace": False},
    ),
    "torch.nn.functional.interpolate": (
        ("size", "scale_factor", "mode", "align_corners", "recompute_scale_factor", "antialias"),
        {**_RESIZE, "recompute_scale_factor": None, "antialias": False},
    ),
    "torch.nn.functional.upsample": (("size", "scale_factor", "mode", "align_corners"), _RESIZE),
    "torch.flatten": (("start_dim", "end_dim"), {"start_dim": 0, "end_dim": -1}),
    "flax.linen.max_pool": (
        ("window_shape", "strides", "padding"),
        {"strides": None, "padding": "VALID"},
    ),
    "flax.linen.avg_pool": (
        ("window_shape", "strides", "padding"),
        {"strides": None, "padding": "VALID"},
    ),
}
for _name in _ACTIVATIONS:
    if _name[0].islower():
        for _where in ("torch", "torch.nn.functional", "flax.linen", "jax.nn"):
            FUNCTIONS[f"{_where}.{_name}"] = (
                ("arg",),
                {"arg": None, "dim": None, "inplace": False, "axis": None, "negative_slope": None},
            )


def bind(
    qual: str,
    signature: tuple[tuple[str, ...], Mapping[str, Any]],
    args: list[Any],
    kwargs: Mapping[str, Any],
    where: str,
) -> dict[str, Any]:
    """Match a call's arguments to the documented parameters; defaults fill the rest."""
    names, defaults = signature
    if len(args) > len(names):
        raise ModelError(f"{where}: {qual} takes at most {len(names)} positional arguments")
    bound = dict(zip(names, args, strict=False))
    for key, value in kwargs.items():
        if key in bound:
            raise ModelError(f"{where}: {qual} got {key!r} twice")
        bound[key] = value
    for key in names:
        if key not in bound:
            if key not in defaults:
                raise ModelError(f"{where}: {qual} needs {key!r}")
            bound[key] = defaults[key]
    return bound


def _torch_padding(value: Any, where: str) -> Any:
    if value in ("same", "valid"):
        return value
    return pair_of(value, where, "padding")


def _flax_padding(value: Any, where: str) -> Any:
    if isinstance(value, str):
        if value.upper() not in ("SAME", "VALID"):
            raise ModelError(f"{where}: Flax padding {value!r} has no row in convcli")
        return value.lower()
    if isinstance(value, int):
        return value
    if (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(isinstance(p, (list, tuple)) and len(p) == 2 for p in value)
    ):
        return ((value[0][0], value[0][1]), (value[1][0], value[1][1]))
    raise ModelError(f"{where}: Flax padding {value!r} is not 'SAME', 'VALID', an int or pairs")


def _flax_window(value: Any, where: str, what: str) -> tuple[int, int]:
    if isinstance(value, int):
        raise ModelError(f"{where}: an int {what} is a 1-D window in Flax; give a pair")
    return pair_of(value, where, what)


def _torch_conv(short: str, p: Mapping[str, Any], where: str, lazy: bool) -> list[Located]:
    """Return a bound ``Conv2d`` / ``ConvTranspose2d`` (or its Lazy form) as a layer."""
    transposed = "Transpose" in short
    fields: dict[str, Any] = dict(
        kernel=pair_of(p["kernel_size"], where, "kernel_size"),
        stride=pair_of(p["stride"], where, "stride"),
        padding=_torch_padding(p["padding"], where),
        dilation=pair_of(p["dilation"], where, "dilation"),
        groups=p["groups"],
        bias=bool(p["bias"]),
    )
    if transposed:
        fields["output_padding"] = pair_of(p["output_padding"], where, "output_padding")
    layer = Layer("convt" if transposed else "conv", p["out_channels"], **fields)
    return [Located(layer, where, None if lazy else p["in_channels"])]


def _torch_pool(short: str, p: Mapping[str, Any], where: str) -> list[Located]:
    """Return a bound ``MaxPool2d`` / ``AvgPool2d`` (or ``F.max_pool2d``...) as a layer."""
    if p.get("dilation", 1) != 1:
        raise ModelError(f"{where}: a dilated max pool has no row in convcli")
    kernel = pair_of(p["kernel_size"], where, "kernel_size")
    stride = kernel if p["stride"] is None else pair_of(p["stride"], where, "stride")
    kind = "maxpool" if "max" in short.lower() else "avgpool"
    layer = Layer(
        kind,
        kernel=kernel,
        stride=stride,
        padding=pair_of(p["padding"], where, "padding"),
        ceil_mode=bool(p["ceil_mode"]),
    )
    return [Located(layer, where)]


def _whole(value: Any) -> Any:
    """Return an int for a float with a whole value (``2.0``), anything else unchanged."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, (list, tuple)):
        return [_whole(v) for v in value]
    return value


def _torch_upsample(short: str, p: Mapping[str, Any], where: str) -> list[Located]:
    """Return a bound ``nn.Upsample`` (``F.interpolate``...) by a whole factor as a layer."""
    if p["size"] is not None or p["scale_factor"] is None:
        raise ModelError(
            f"{where}: {short} to a fixed size has no row in convcli; give scale_factor "
            "(a whole number, or a pair)"
        )
    mode = {"UpsamplingNearest2d": "nearest", "UpsamplingBilinear2d": "bilinear"}.get(
        short, p.get("mode")
    )
    if mode not in ("nearest", "bilinear"):
        raise ModelError(f"{where}: {short} mode {mode!r} has no row (nearest, bilinear)")
    scale = pair_of(_whole(p["scale_factor"]), where, "scale_factor")
    if min(scale) < 1:
        raise ModelError(f"{where}: {short} scale_factor {p['scale_factor']!r} is below 1")
    layer = Layer("upsample", scale=scale, mode=None if mode == "nearest" else mode)
    return [Located(layer, where)]


#: the modules and functions that slide a window or resize, by their short name
_WINDOWS = {
    **dict.fromkeys(("MaxPool2d", "AvgPool2d", "max_pool2d", "avg_pool2d"), _torch_pool),
    **dict.fromkeys(
        ("Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d", "interpolate", "upsample"),
        _torch_upsample,
    ),
}


def module_layers(qual: str, p: Mapping[str, Any], where: str) -> list[Located]:
    """Return the layers a bound PyTorch module, Flax module or function call stands for."""
    short = qual.rsplit(".", 1)[-1]
    lazy = short.startswith("Lazy")
    if short in _ACTIVATIONS:
        return [Located(Layer(_ACTIVATIONS[short]), where)]
    if short == "Identity":
        return []
    if short in ("Conv2d", "LazyConv2d", "ConvTranspose2d", "LazyConvTranspose2d"):
        return _torch_conv(short, p, where, lazy)
    if short in _WINDOWS:
        return _WINDOWS[short](short, p, where)
    if short.lower().startswith("adaptive"):
        kind = "adaptivemaxpool" if "max" in short.lower() else "adaptiveavgpool"
        return [
            Located(Layer(kind, output_size=pair_of(p["output_size"], where, "output_size")), where)
        ]
    if short in ("Linear", "LazyLinear"):
        layer = Layer("linear", p["out_features"], bias=bool(p["bias"]))
        return [Located(layer, where, None if lazy else p["in_features"])]
    if short in ("Flatten", "flatten"):
        if p["start_dim"] != 1 or p["end_dim"] != -1:
            raise ModelError(
                f"{where}: a flatten from dim {p['start_dim']} to {p['end_dim']}; convcli shows start_dim=1"
            )
        return [Located(Layer("flatten"), where)]
    if short in ("BatchNorm2d", "BatchNorm1d", "LazyBatchNorm2d"):
        if not p["affine"]:
            raise ModelError(f"{where}: a batch norm without affine weights has no row")
        return [Located(Layer("bn"), where, None if lazy else p["num_features"])]
    if short in ("Dropout", "Dropout2d", "dropout"):
        rate = p.get("p", p.get("rate"))
        return [
            Located(
                Layer("dropout", dropout=rate if isinstance(rate, (int, float)) else None), where
            )
        ]
    return _flax_layers(short, p, where)


def _flax_layers(short: str, p: Mapping[str, Any], where: str) -> list[Located]:
    if short == "Conv":
        layer = Layer(
            "conv",
            p["features"],
            kernel=_flax_window(p["kernel_size"], where, "kernel_size"),
            stride=pair_of(p["strides"], where, "strides"),
            padding=_flax_padding(p["padding"], where),
            dilation=pair_of(p["kernel_dilation"], where, "kernel_dilation"),
            groups=p["feature_group_count"],
            bias=bool(p["use_bias"]),
        )
        if p["input_dilation"] != 1:
            raise ModelError(f"{where}: input_dilation has no row in convcli")
        return [Located(layer, where)]
    if short == "Dense":
        return [Located(Layer("linear", p["features"], bias=bool(p["use_bias"])), where)]
    if short == "BatchNorm":
        if not (p.get("use_bias", True) and p.get("use_scale", True)):
            raise ModelError(f"{where}: a BatchNorm without scale or bias has no row")
        return [Located(Layer("bn"), where)]
    if short in ("max_pool", "avg_pool"):
        window = _flax_window(p["window_shape"], where, "window_shape")
        # Flax: strides default to 1 (not to the window, as in PyTorch and Keras)
        stride = (1, 1) if p["strides"] is None else _flax_window(p["strides"], where, "strides")
        layer = Layer(
            short.replace("_", ""),
            kernel=window,
            stride=stride,
            padding=_flax_padding(p["padding"], where),
        )
        return [Located(layer, where)]
    raise ModelError(f"{where}: convcli has no row for {short}")
