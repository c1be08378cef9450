"""Calls in model source: building layers, and a tensor's way through them.

The other half of :mod:`convcli.models.pysource`: what a call means when
its function is a framework name (``nn.Conv2d``, ``layers.Dense``,
``nn.max_pool``), a class of the file, a built module applied to a tensor,
or a tensor's method (``x.view``, ``x.flatten``, ``x.mean``).
"""

from __future__ import annotations

import ast
import builtins
from typing import Any

from ..arithmetic.spec import Layer
from .common import Located, ModelError, Path, join_residual
from .keras import KerasReader
from .pylayers import FUNCTIONS, MODULES, bind, module_layers
from .pysource import BUILTINS, Batch, Evaluator, Instance, Module, Ref, Tensor, find_method

__all__ = ["bind_method", "call", "instantiate", "model_path"]

#: a dataclass field without a default (Flax modules)
_MISSING = object()

#: Keras layers: their parameters in order (keras.layers' documented signatures)
KERAS = {
    "Conv2D": ("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "groups", "activation", "use_bias"),
    "Conv2DTranspose": ("filters", "kernel_size", "strides", "padding", "output_padding", "data_format", "dilation_rate", "activation", "use_bias"),
    "Dense": ("units", "activation", "use_bias"),
    "MaxPooling2D": ("pool_size", "strides", "padding", "data_format"),
    "AveragePooling2D": ("pool_size", "strides", "padding", "data_format"),
    "GlobalAveragePooling2D": ("data_format", "keepdims"),
    "GlobalMaxPooling2D": ("data_format", "keepdims"),
    "Flatten": ("data_format",),
    "Dropout": ("rate", "noise_shape", "seed"),
    "BatchNormalization": ("axis", "momentum", "epsilon", "center", "scale"),
    "Activation": ("activation",),
    "ReLU": ("max_value", "negative_slope", "threshold"),
    "LeakyReLU": ("negative_slope",),
    "Softmax": ("axis",),
    "ZeroPadding2D": ("padding", "data_format"),
    "UpSampling2D": ("size", "data_format", "interpolation"),
    "Cropping2D": ("cropping", "data_format"),
}  # fmt: skip
_BUILTINS = {name: getattr(builtins, name) for name in BUILTINS}
_SAME = {"contiguous", "clone", "detach", "float"}
_CONCAT = ("cat", "concat", "concatenate", "stack", "Concatenate")


def _keras_reader(ev: Evaluator) -> KerasReader:
    reader = getattr(ev, "keras_reader", None)
    if reader is None:
        reader = KerasReader(ev.file)
        ev.keras_reader = reader  # type: ignore[attr-defined]
    return reader


def _keras_layer(
    ev: Evaluator, node: ast.Call, short: str, args: list[Any], kwargs: dict[str, Any]
) -> Any:
    where = ev.where(node)
    if short in ("Input", "InputLayer"):
        shape = kwargs.get("shape", args[0] if args else None)
        if not isinstance(shape, (list, tuple)) or len(shape) != 3:
            raise ModelError(f"{where}: keras.Input(shape=...) needs (H, W, C)")
        _keras_reader(ev).state_input(
            [None, *shape], kwargs.get("data_format", "channels_last"), where
        )
        ev.stated = _keras_reader(ev).stated
        return Tensor(())  # the model's input, for a functional model's calls
    if short == "Add":
        return Module(keras=True, adds=True)
    if short == "add":  # keras.layers.add([a, b]): the Add layer, called at once
        return call(ev, node, Module(keras=True, adds=True), args, kwargs)
    if short not in KERAS:
        raise ModelError(f"{where}: convcli has no row for keras.layers.{short}")
    config = dict(zip(KERAS[short], args, strict=False))
    config.update(kwargs)
    for key, value in list(config.items()):
        if isinstance(value, Ref):
            config[key] = value.qual.rsplit(".", 1)[-1]
        elif isinstance(value, tuple):
            config[key] = list(value)
    shape = config.pop("input_shape", None)
    if shape is not None:
        _keras_reader(ev).state_input(
            [None, *shape], config.get("data_format") or "channels_last", where
        )
        ev.stated = _keras_reader(ev).stated
    reader = _keras_reader(ev)
    ev.notes.items.extend(n for n in reader.notes.items if n not in ev.notes.items)
    items = reader.convert(short, config, where, None)
    for note in reader.notes.items:
        ev.notes.add(note)
    return Module(items=items, keras=True)


def call(ev: Evaluator, node: ast.Call, func: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """Evaluate ``func(*args, **kwargs)`` at ``node``."""
    where = ev.where(node)
    if isinstance(func, ast.ClassDef):
        return instantiate(ev, func, args, kwargs, node)
    if isinstance(func, Module):
        return _call_module(func, args, where, ev, node)
    if type(func).__name__ == "Bound":
        env = bind_method(ev, func.method, func.instance, args, kwargs, node)
        return ev.body(func.method, env)
    if type(func).__name__ == "TensorMethod":
        return _tensor_method(ev, node, func.tensor, func.name, args, kwargs)
    if not isinstance(func, Ref):
        raise ModelError(f"{where}: cannot call {ast.unparse(node.func)!r} statically")
    qual = func.qual
    short = qual.rsplit(".", 1)[-1]
    if qual.startswith(("flax.", "keras.")):
        ev.channels_last = True
        ev.notes.add("the model is channels-last (H×W×C): shapes are shown C×H×W")
    if qual in _BUILTINS or (qual == short and short in _BUILTINS):
        return _BUILTINS[short](*args, **kwargs)
    if short in _CONCAT:
        raise ModelError(
            f"{where}: a concatenation ({ast.unparse(node.func)}) has no row in convcli yet"
        )
    if qual.startswith("keras.layers.") or qual in ("keras.Input", "keras.layers.Input"):
        return _keras_layer(ev, node, short, args, kwargs)
    container = _call_container(qual, short, args, kwargs, node, where)
    if container is not None:
        return container
    return _call_function(ev, node, qual, short, args, kwargs)


def _call_module(func: Module, args: list[Any], where: str, ev: Evaluator, node: ast.Call) -> Any:
    """Apply a module (or Keras' Add) to the tensor(s) it is called on."""
    if func.adds:
        pair = args[0] if args else None
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise ModelError(f"{where}: an Add of other than two tensors has no row in convcli")
        if not all(isinstance(t, Tensor) for t in pair):
            raise ModelError(f"{where}: an Add of something that is not the input's tensor")
        return Tensor(join_residual(pair[0].path, pair[1].path, where))
    if len(args) < 1 or not isinstance(args[0], Tensor):
        raise ModelError(f"{where}: a layer applied to something that is not the input's tensor")
    return Tensor(apply(ev, func, args[0].path, node))


def _call_container(
    qual: str, short: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call, where: str
) -> Any:
    """Build a container (``Sequential``, ``ModuleList``, ``OrderedDict``, ``keras.Model``).

    Return None when ``qual`` is not one.
    """
    if qual in ("keras.Model", "keras.models.Model"):
        outputs = kwargs.get("outputs", args[1] if len(args) > 1 else None)
        if not isinstance(outputs, Tensor):
            raise ModelError(f"{where}: keras.Model with outputs that are not one tensor")
        return Module(items=list(outputs.path), keras=True)
    if qual == "collections.OrderedDict":
        return dict(args[0]) if args else {}
    if short not in ("Sequential", "ModuleList"):
        return None
    keras = qual.startswith("keras")
    items = args[0] if short == "ModuleList" or keras else args
    if len(args) == 1 and isinstance(args[0], dict):  # nn.Sequential(OrderedDict(...))
        items = list(args[0].values())
    if args and isinstance(items, (list, tuple)):
        return Module(children=list(items), keras=keras)
    if not args:
        return Module(children=[], keras=keras)
    raise ModelError(f"{where}: {short} of {ast.unparse(node.args[0])!r} cannot be read statically")


def _call_function(
    ev: Evaluator, node: ast.Call, qual: str, short: str, args: list[Any], kwargs: dict[str, Any]
) -> Any:
    """Build a known layer, or apply a known function (``F.relu``, ``x.mean``) to a tensor."""
    where = ev.where(node)
    if qual in MODULES:
        return Module(
            items=module_layers(qual, bind(qual, MODULES[qual], args, kwargs, where), where)
        )
    if qual in FUNCTIONS or short == "mean":
        if not args or not isinstance(args[0], Tensor):
            raise ModelError(
                f"{where}: {ast.unparse(node.func)} of something that is not the input's tensor"
            )
        if short == "mean":
            return _mean(
                ev, node, args[0], args[1:], kwargs, channels_last=not qual.startswith("torch")
            )
        layers = module_layers(qual, bind(qual, FUNCTIONS[qual], args[1:], kwargs, where), where)
        return Tensor((*args[0].path, *layers))
    raise ModelError(f"{where}: convcli does not know {ast.unparse(node.func)} ({qual})")


def apply(ev: Evaluator, module: Module, path: Path, node: ast.AST) -> Path:
    """Return the path after ``module`` runs on a tensor at ``path``."""
    if module.children is not None:
        for child in module.children:
            if isinstance(child, Tensor) and not child.path:
                continue  # keras.Input(...) first in a Sequential
            if not isinstance(child, Module):
                raise ModelError(
                    f"{ev.where(node)}: a container holds something that is not a layer"
                )
            path = apply(ev, child, path, node)
        return path
    if module.instance is None:
        return (*path, *module.items)
    instance = module.instance
    forward = next((m for m in ("forward", "call", "__call__") if _has(instance.cls, m)), None)
    if forward is None:
        bases = [ast.unparse(b) for b in instance.cls.bases]
        if "net" in instance.attrs and any(b.startswith("d2l.") for b in bases):
            ev.notes.add(
                f"{instance.cls.name} has no forward: it runs self.net, as d2l's Module does"
            )
            return apply(ev, instance.attrs["net"], path, node)
        raise ModelError(
            f"{ev.where(instance.cls)}: {instance.cls.name} has no forward, call or __call__ "
            f"(it inherits one from {', '.join(bases) or 'object'}, which is not in the file)"
        )
    method = next(
        m for m in instance.cls.body if isinstance(m, ast.FunctionDef) and m.name == forward
    )
    env = bind_method(ev, method, instance, [Tensor(path)], {}, node)
    result = ev.body(method, env)
    if not isinstance(result, Tensor):
        raise ModelError(
            f"{ev.where(method)}: {instance.cls.name}.{forward} does not return the tensor"
        )
    return result.path


def _has(cls: ast.ClassDef, name: str) -> bool:
    return any(isinstance(m, ast.FunctionDef) and m.name == name for m in cls.body)


def _flatten(ev: Evaluator, node: ast.AST, tensor: Tensor, sizes: list[Any]) -> Tensor:
    """``x.view(x.size(0), -1)``, ``x.view(-1, 400)``, ``x.reshape((x.shape[0], -1))``: a flatten."""
    if len(sizes) == 1 and isinstance(sizes[0], (list, tuple)):
        sizes = list(sizes[0])
    where = ev.where(node)
    if len(sizes) == 2 and isinstance(sizes[0], Batch) and sizes[1] == -1:
        return Tensor((*tensor.path, Located(Layer("flatten"), where)))
    if len(sizes) == 2 and sizes[0] == -1 and isinstance(sizes[1], int) and sizes[1] > 0:
        return Tensor((*tensor.path, Located(Layer("flatten"), where, sizes[1])))
    raise ModelError(
        f"{where}: a reshape to {sizes!r}; convcli reads (batch, -1) and (-1, N) as a flatten"
    )


def _mean(
    ev: Evaluator,
    node: ast.AST,
    tensor: Tensor,
    args: list[Any],
    kwargs: dict[str, Any],
    channels_last: bool,
) -> Tensor:
    dims = kwargs.get("dim", kwargs.get("axis", args[0] if args else None))
    keep = kwargs.get("keepdim", kwargs.get("keepdims", False))
    spatial = {(1, 2), (-3, -2)} if channels_last else {(2, 3), (-2, -1)}
    if not isinstance(dims, (list, tuple)) or tuple(sorted(dims)) not in spatial:
        raise ModelError(f"{ev.where(node)}: a mean over {dims!r} is not a global average pool")
    where = ev.where(node)
    path = (*tensor.path, Located(Layer("adaptiveavgpool", output_size=(1, 1)), where))
    if not keep:
        path = (*path, Located(Layer("flatten"), where))
    return Tensor(path)


def _tensor_method(
    ev: Evaluator,
    node: ast.Call,
    tensor: Tensor,
    name: str,
    args: list[Any],
    kwargs: dict[str, Any],
) -> Any:
    where = ev.where(node)
    if name == "size" and args == [0]:
        return Batch()
    if name in _SAME:
        return tensor
    if name in ("view", "reshape"):
        return _flatten(ev, node, tensor, args)
    if name == "flatten":
        start = kwargs.get("start_dim", args[0] if args else 0)
        end = kwargs.get("end_dim", args[1] if len(args) > 1 else -1)
        layers = module_layers("torch.flatten", {"start_dim": start, "end_dim": end}, where)
        return Tensor((*tensor.path, *layers))
    if name == "mean":
        return _mean(ev, node, tensor, args, kwargs, channels_last=ev.channels_last)
    qual = f"torch.{name}"
    if qual in FUNCTIONS:
        layers = module_layers(qual, bind(qual, FUNCTIONS[qual], args, kwargs, where), where)
        return Tensor((*tensor.path, *layers))
    raise ModelError(f"{where}: convcli does not know the tensor method .{name}()")


def model_path(ev: Evaluator, model: Any, filename: str) -> tuple[Located, ...]:
    """Apply the model to its input: the located layers, in order."""
    if not isinstance(model, Module):
        raise ModelError(
            f"{filename}: the code does not build a model (got {type(model).__name__})"
        )
    return apply(ev, model, (), ast.Module(body=[], type_ignores=[]))


def instantiate(
    ev: Evaluator, cls: ast.ClassDef, args: list[Any], kwargs: dict[str, Any], node: ast.AST
) -> Module:
    """Build an object of a class of the file: its fields set, its constructor run."""
    instance = Instance(cls, {})
    for stmt in cls.body:  # class-level fields (Flax dataclass fields, constants)
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            instance.attrs[stmt.target.id] = ev.eval(stmt.value, {}) if stmt.value else _MISSING
        elif isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name):
            instance.attrs[stmt.targets[0].id] = ev.eval(stmt.value, {})
    fields = [k for k, v in instance.attrs.items() if v is _MISSING or k in kwargs]
    init = find_method(cls, "__init__") or find_method(cls, "setup")
    if init is not None and init.name == "__init__":
        env = bind_method(ev, init, instance, args, kwargs, node)
        ev.body(init, env)
    else:
        for key, value in zip(fields, args, strict=False):
            instance.attrs[key] = value
        instance.attrs.update(kwargs)
        missing = [k for k, v in instance.attrs.items() if v is _MISSING]
        if missing:
            raise ev.fail(node, f"{cls.name} needs {missing[0]!r}: give it in --code")
        if init is not None:
            ev.body(init, {"self": instance})
    return Module(instance=instance)


def bind_method(
    ev: Evaluator,
    fn: ast.FunctionDef,
    instance: Instance,
    args: list[Any],
    kwargs: dict[str, Any],
    node: ast.AST,
) -> dict[str, Any]:
    """Bind a method's parameters to ``args`` and ``kwargs``, its defaults filling the rest."""
    params = [a.arg for a in fn.args.args][1:]
    defaults = fn.args.defaults
    env: dict[str, Any] = {"self": instance}
    first_default = len(params) - len(defaults)
    for i, name in enumerate(params):
        if i < len(args):
            env[name] = args[i]
        elif name in kwargs:
            env[name] = kwargs[name]
        elif i >= first_default:
            env[name] = ev.eval(defaults[i - first_default], {})
        else:
            raise ev.fail(node, f"{instance.cls.name} needs {name!r}: give it in --code")
    for arg, default in zip(fn.args.kwonlyargs, fn.args.kw_defaults, strict=True):
        if arg.arg in kwargs:
            env[arg.arg] = kwargs[arg.arg]
        elif default is not None:
            env[arg.arg] = ev.eval(default, {})
        else:
            raise ev.fail(node, f"{instance.cls.name} needs {arg.arg!r}: give it in --code")
    return env
