"""The layer-spec language read from JSON: :func:`load_spec` (pure Python).

A JSON spec is a list of layers, or an object ``{"input": [C, H, W],
"layers": [...]}``; the keys are listed in :mod:`convcli.arithmetic.spec`.

Examples
--------
>>> layers, shape = load_spec('[{"type": "conv", "filters": 6, "kernel": 5}]')
>>> layers[0].out, layers[0].kernel, shape
(6, (5, 5), None)
"""

from __future__ import annotations

from ..errors import ShapeError
from .jsontext import load_json
from .spec_text import parse_layers
from .spec_words import KIND_OF, POSITIONAL, UPSAMPLE_MODES, Layer, repeated
from .support import Pair

__all__ = ["load_spec"]


def _layer_from_json(obj: object, where: str) -> list[Layer]:
    if isinstance(obj, str):
        return parse_layers(obj)
    if not isinstance(obj, dict):
        raise ShapeError(f"{where}: a layer must be a string or an object, got {obj!r}")
    data = dict(obj)
    kind_word = data.pop("type", None)
    if not isinstance(kind_word, str):
        raise ShapeError(f'{where}: a layer object needs a "type", got {obj!r}')
    kind = KIND_OF.get(kind_word.lower())
    if kind is None:
        raise ShapeError(f"{where}: unknown layer type {kind_word!r}")
    repeat = data.pop("repeat", 1)
    fields: dict[str, object] = {}

    def pair_of(value: object, name: str, minimum: int = 1) -> Pair:
        if isinstance(value, int) and not isinstance(value, bool):
            value = [value, value]
        if (
            isinstance(value, list)
            and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
            and all(v >= minimum for v in value)
        ):
            return (value[0], value[1])
        raise ShapeError(f"{where}: {name!r} must be an int >= {minimum} or a pair, got {value!r}")

    for key in ("filters", "units", "out", "channels", "out_channels", "out_features"):
        if key in data:
            value = data.pop(key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ShapeError(f"{where}: {key!r} must be a positive int, got {value!r}")
            fields["out"] = value
    for key, name, minimum in (
        ("kernel", "kernel", 1),
        ("kernel_size", "kernel", 1),
        ("stride", "stride", 1),
        ("dilation", "dilation", 1),
        ("output_padding", "output_padding", 0),
        ("output_size", "output_size", 1),
        ("scale_factor", "scale", 1),
        ("scale", "scale", 1),
        ("crop", "crop", 0),
    ):
        if key in data:
            fields[name] = pair_of(data.pop(key), key, minimum)
    if "padding" in data:
        padding = data.pop("padding")
        if isinstance(padding, list):
            padding = tuple(tuple(p) if isinstance(p, list) else p for p in padding)
        fields["padding"] = padding
    if "groups" in data:
        groups = data.pop("groups")
        if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
            raise ShapeError(f"{where}: 'groups' must be a positive int, got {groups!r}")
        fields["groups"] = groups
    for key in ("bias", "ceil_mode"):
        if key in data:
            value = data.pop(key)
            if not isinstance(value, bool):
                raise ShapeError(f"{where}: {key!r} must be true or false, got {value!r}")
            fields[key] = value
    if "p" in data and kind == "dropout":
        rate = data.pop("p")
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
            raise ShapeError(f"{where}: dropout 'p' must be in [0, 1], got {rate!r}")
        fields["dropout"] = float(rate)
    if "mode" in data:
        mode = data.pop("mode")
        if kind != "upsample" or mode not in UPSAMPLE_MODES:
            raise ShapeError(
                f"{where}: 'mode' is an upsample's {' or '.join(UPSAMPLE_MODES)}, got {mode!r}"
            )
        fields["mode"] = mode
    for key in ("body", "shortcut"):
        if key in data:
            fields[key] = tuple(_layers_from_json(data.pop(key), f"{where}.{key}"))
    if kind == "seq":
        if "layers" not in data:
            raise ShapeError(f'{where}: a seq needs "layers"')
        fields["body"] = tuple(_layers_from_json(data.pop("layers"), f"{where}.layers"))
        if "name" in data:
            name = data.pop("name")
            if not isinstance(name, str) or not name:
                raise ShapeError(f"{where}: 'name' must be a non-empty string, got {name!r}")
            fields["name"] = name
    if data:
        raise ShapeError(f"{where}: unknown keys {sorted(data)} for a {kind} layer")
    if kind in ("conv", "convt", "linear", "basic", "bottleneck") and "out" not in fields:
        raise ShapeError(f'{where}: {kind} needs {POSITIONAL[kind]} ("filters"/"units")')
    if kind in ("conv", "convt", "maxpool", "avgpool") and "kernel" not in fields:
        raise ShapeError(f'{where}: {kind} needs a "kernel"')
    if kind == "upsample" and "scale" not in fields:
        raise ShapeError(f'{where}: upsample needs a "scale_factor"')
    if kind == "crop" and "crop" not in fields:
        raise ShapeError(f'{where}: crop needs "crop", the cells cut from each side')
    if kind.startswith("adaptive") and "output_size" not in fields:
        raise ShapeError(f'{where}: {kind} needs an "output_size"')
    if kind == "gap":
        kind, fields["output_size"] = "adaptiveavgpool", (1, 1)
    if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
        raise ShapeError(f'{where}: "repeat" must be a positive int, got {repeat!r}')
    return repeated([Layer(kind, **fields)], repeat)  # type: ignore[arg-type]


def _layers_from_json(obj: object, where: str) -> list[Layer]:
    if isinstance(obj, str):
        return parse_layers(obj)
    if not isinstance(obj, list):
        raise ShapeError(f"{where}: expected a list of layers or a string, got {obj!r}")
    layers: list[Layer] = []
    for i, item in enumerate(obj, 1):
        layers.extend(_layer_from_json(item, f"{where}[{i}]"))
    return layers


def load_spec(text: str) -> tuple[list[Layer], tuple[int, int, int] | None]:
    """Read a network spec: JSON, or the text language.

    Parameters
    ----------
    text : str
        The content of a spec file. Text starting with ``{`` or ``[`` is
        read as JSON.

    Returns
    -------
    layers : list of Layer
    input_shape : (C, H, W) or None
        The ``"input"`` of a JSON object, if it has one.

    Examples
    --------
    >>> layers, shape = load_spec('{"input": [1, 28, 28], "layers": "conv 6 k5, relu"}')
    >>> [layer.kind for layer in layers], shape
    (['conv', 'relu'], (1, 28, 28))
    """
    stripped = text.strip()
    if not stripped.startswith(("{", "[")):
        return parse_layers(text), None
    data = load_json(stripped, "JSON spec", ShapeError)
    input_shape = None
    if isinstance(data, dict):
        unknown = set(data) - {"input", "layers", "name"}
        if unknown:
            raise ShapeError(f"unknown keys {sorted(unknown)} in JSON spec")
        if "layers" not in data:
            raise ShapeError('a JSON spec object needs "layers"')
        if "input" in data:
            shape = data["input"]
            if (
                not isinstance(shape, list)
                or len(shape) != 3
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in shape)
                or min(shape) < 1
            ):
                raise ShapeError(f'"input" must be [C, H, W] of positive ints, got {shape!r}')
            input_shape = (shape[0], shape[1], shape[2])
        data = data["layers"]
    return _layers_from_json(data, "layers"), input_shape
