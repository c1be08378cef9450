"""Which reader a model file needs, and Python source read from a file or ``--code``.

:func:`read_model` dispatches on the file's suffix: ``.pt2`` to
:mod:`convcli.models.pt2`, ``.keras`` / ``.h5`` / ``.hdf5`` to
:mod:`convcli.models.keras`, ``.py`` (or ``--code`` alone) to the source
reader of :mod:`convcli.models.pysource`.
"""

from __future__ import annotations

import ast

from ..arithmetic.limits import MAX_READ_BYTES
from ..errors import ConvcliError
from .common import ModelError, ModelSummary, first_channels, input_shape
from .common import summarize as analyze
from .pysource import DEFAULT_IMPORTS, Evaluator, find_method

__all__ = ["MODEL_SUFFIXES", "read_model", "read_source"]

#: the files read here (``.onnx`` has its own reader in convcli.arithmetic)
MODEL_SUFFIXES = (".pt2", ".keras", ".h5", ".hdf5", ".py")
_FORWARD = ("forward", "call", "__call__", "__init__", "setup")


def read_model(
    path: str | None,
    class_name: str | None = None,
    code: str | None = None,
    given: tuple[int, int] | None = None,
    channels: int | None = None,
) -> ModelSummary:
    """Read a model without running it and analyse it layer by layer.

    Parameters
    ----------
    path : str, optional
        A ``.pt2``, ``.keras``, ``.h5`` / ``.hdf5`` or ``.py`` file; may be
        omitted with ``code``.
    class_name, code : str, optional
        For Python source: the model class, or an expression that builds the
        model (see :func:`read_source`).
    given : (H, W), optional
        The input's height and width, where the file does not state them or
        to analyse at another size.
    channels : int, optional
        The input's channels, likewise.

    Returns
    -------
    ModelSummary

    Raises
    ------
    ModelError
        A construct that cannot be read statically (its place is in the message).
    ConvcliError
        A file that cannot be read, or a missing optional package.
    ShapeError
        Layers whose shapes do not fit.

    Examples
    --------
    >>> model = read_model(None, code="nn.Sequential(nn.Conv2d(1, 6, 5), nn.ReLU())",
    ...                    given=(28, 28), channels=1)
    >>> [row.shown_shape for row in model.summary.rows]
    [('N', 6, 24, 24), ('N', 6, 24, 24)]
    """
    suffix = "." + path.rsplit(".", 1)[-1].lower() if path and "." in path else ""
    if (class_name or code) and path is not None and suffix != ".py":
        raise ModelError(f"{path}: --class and --code read Python source (a .py file)")
    if suffix == ".pt2":
        from .pt2 import read_pt2

        return read_pt2(path, given, channels)  # type: ignore[arg-type]
    if suffix in (".keras", ".h5", ".hdf5"):
        from .keras import read_keras

        return read_keras(path, given, channels)  # type: ignore[arg-type]
    if suffix == ".py" or (path is None and code):
        return read_source(path, class_name, code, given, channels)
    raise ModelError(f"{path}: convcli reads {', '.join(MODEL_SUFFIXES)} and .onnx models")


def _parse(path: str | None) -> tuple[str, ast.Module, str]:
    """Parse the file: its syntax tree (empty for ``--code`` alone) and short name."""
    if path is None:
        return "--code", ast.Module(body=[], type_ignores=[]), "code"
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_READ_BYTES + 1)
    except OSError as exc:
        raise ConvcliError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_READ_BYTES:
        raise ModelError(f"{path}: over 256 MiB; not a model's source")
    try:
        tree = ast.parse(data, filename=path)
    except (SyntaxError, ValueError) as exc:
        line = getattr(exc, "lineno", "?")
        raise ModelError(f"{path}:{line}: not Python: {getattr(exc, 'msg', exc)}") from None
    return path, tree, path.replace("\\", "/").rsplit("/", 1)[-1]


def read_source(
    path: str | None,
    class_name: str | None = None,
    code: str | None = None,
    given: tuple[int, int] | None = None,
    channels: int | None = None,
) -> ModelSummary:
    """Read a model from Python source (a file, ``--code``, or both) without running it.

    ``class_name`` builds a class of the file with its defaults; ``code`` is
    an expression that builds the model (``"LeNet(num_classes=5)"``); without
    a file, ``torch``, ``nn``, ``F``, ``keras`` and ``layers`` stand for their
    usual imports. The other parameters and the errors are
    :func:`read_model`'s; a message's place is ``file:line`` (``--code:1``
    in the expression).
    """
    from .pycalls import instantiate, model_path

    if class_name and code:
        raise ModelError("give --class or --code, not both")
    filename, tree, name = _parse(path)
    evaluator = Evaluator(filename, tree, DEFAULT_IMPORTS if path is None else {})
    if code is not None:
        try:
            expr = ast.parse(code.strip(), mode="eval").body
        except SyntaxError as exc:
            raise ModelError(f"--code:{exc.lineno}: not a Python expression: {exc.msg}") from None
        for node in ast.walk(expr):
            node.from_code = True  # type: ignore[attr-defined]
        model = evaluator.eval(expr, {})
        name = f"{name}: {code.strip()}" if path else code.strip()
    else:
        chosen = _choose(evaluator, class_name, filename)
        model = instantiate(evaluator, chosen, [], {}, chosen)
        name = f"{name}: {chosen.name}"
    layers = model_path(evaluator, model, filename)
    if channels is None and (evaluator.stated is None or evaluator.stated[0] is None):
        channels = first_channels(layers)
    shape = input_shape(evaluator.stated, given, channels, filename)
    return ModelSummary(name, "python", analyze(layers, shape, evaluator.notes.items))


def _choose(evaluator: Evaluator, class_name: str | None, filename: str) -> ast.ClassDef:
    if class_name is not None:
        if class_name not in evaluator.classes:
            known = ", ".join(sorted(evaluator.classes)) or "none"
            raise ModelError(f"{filename}: no class {class_name!r} (classes: {known})")
        return evaluator.classes[class_name]
    models = [c for c in evaluator.classes.values() if any(find_method(c, m) for m in _FORWARD)]
    if len(models) == 1:
        return models[0]
    names = ", ".join(c.name for c in models) or "none"
    raise ModelError(f"{filename}: give --class (classes: {names}) or --code")
