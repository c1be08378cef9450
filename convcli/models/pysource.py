"""PyTorch, Keras and Flax models read from their Python source with :mod:`ast`.

Nothing is imported or run: neither torch, TensorFlow nor JAX, nor the
user's module. A small evaluator walks the class's constructor (``__init__``,
Flax's ``setup``) and its forward pass (``forward``, Keras' ``call``, Flax's
``__call__``), or an expression given with ``--code``. It knows literals,
arithmetic on numbers, names bound in the file, ``for`` loops over ranges
and lists, the frameworks' layers with their documented defaults
(:mod:`convcli.models.pylayers`), classes of the same file, and a tensor's
way through calls, ``view``/``reshape``/``flatten`` and ``+`` (a residual
block). Anything else (a condition on a run-time value, an unknown
function, ``torch.cat``) stops the reading with its ``file:line``: convcli
does not guess.

A class with no forward that derives from d2l's ``Module`` or ``Classifier``
runs ``self.net``, as d2l's ``Module.forward`` does.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Mapping
from typing import Any

from ..arithmetic.limits import MAX_LAYERS
from .common import ModelError, Notes, join_residual
from .pystatements import MAX_STEPS, Statements
from .pyvalues import Batch, Bound, Failed, Instance, Module, Ref, Return, Tensor, TensorMethod

__all__ = [
    "BUILTINS",
    "DEFAULT_IMPORTS",
    "MAX_STEPS",
    "Batch",
    "Evaluator",
    "Instance",
    "Module",
    "Ref",
    "Return",
    "Tensor",
    "find_method",
]

#: names a ``--code`` expression may use without imports
DEFAULT_IMPORTS = {
    "torch": "torch",
    "nn": "torch.nn",
    "F": "torch.nn.functional",
    "keras": "keras",
    "layers": "keras.layers",
    "tf": "tensorflow",
}
_BINOPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
    ast.Div: operator.truediv,
}
_COMPARE = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_FORWARD = ("forward", "call", "__call__")
_NO_NAMES = (ast.Import, ast.ImportFrom, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
#: Python built-ins a model's constructor may use
BUILTINS = ("range", "len", "int", "min", "max", "list", "tuple")
_KERAS_PREFIXES = ("keras.layers.", "tensorflow.keras.layers.", "tf_keras.layers.")


class Evaluator(Statements):
    """Evaluates the statements and expressions convcli understands; refuses the rest."""

    def __init__(self, filename: str, tree: ast.Module, imports: Mapping[str, str]) -> None:
        self.file = filename
        self.names: dict[str, Any] = {k: Ref(k) for k in BUILTINS}
        self.names.update({k: Ref(v) for k, v in imports.items()})
        self.classes: dict[str, ast.ClassDef] = {}
        self.notes = Notes()
        self.stated: tuple[int | None, int | None, int | None] | None = None
        self.steps = 0
        self.channels_last = False  # set by a Flax, JAX or Keras import or call
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                self.import_(node)
            elif isinstance(node, ast.ClassDef):
                self.classes[node.name] = node
        for node in tree.body:  # module-level names, in order; a failure waits for a use
            if isinstance(node, _NO_NAMES) or (
                isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            ):
                continue
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                try:
                    self.stmt(node, self.names)
                    continue
                except ModelError as exc:
                    error = exc
            else:
                error = self.fail(
                    node, f"names bound by this {type(node).__name__} are not followed"
                )
            for target in ast.walk(node):
                if isinstance(target, ast.Name) and isinstance(target.ctx, ast.Store):
                    self.names[target.id] = Failed(error)

    def fail(self, node: ast.AST, message: str) -> ModelError:
        """Make the error for ``node``: its ``file:line`` in front of ``message``."""
        return ModelError(f"{self.where(node)}: {message}")

    def where(self, node: ast.AST) -> str:
        """``file:line`` of ``node`` (``--code:line`` for the expression given on the command line)."""
        name = "--code" if getattr(node, "from_code", False) else self.file
        return f"{name}:{getattr(node, 'lineno', '?')}"

    def import_(self, node: ast.Import | ast.ImportFrom) -> None:
        """Bind an import's names to what they refer to (``nn`` → ``torch.nn``)."""
        for alias in node.names:
            if isinstance(node, ast.Import):
                qual = alias.name
                local = alias.asname or alias.name.split(".")[0]
                if alias.asname is None:
                    qual = local
            else:
                qual = f"{node.module}.{alias.name}" if node.module else alias.name
                local = alias.asname or alias.name
            qual = qual.replace("tensorflow.keras", "keras").replace("tf_keras", "keras")
            self.names[local] = Ref(qual)
            self.channels_last |= qual.startswith(("flax", "jax", "keras"))

    # ------------------------------------------------------------------ expressions

    def eval(self, node: ast.expr, env: dict[str, Any]) -> Any:
        """Evaluate an expression known statically; refuse anything else at its line."""
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return self.name(node, env)
        if isinstance(node, (ast.Dict, ast.Tuple, ast.List, ast.ListComp)):
            return self.collection(node, env)
        if isinstance(node, ast.Attribute):
            return self.attribute(node, self.eval(node.value, env))
        if isinstance(node, ast.BinOp):
            return self.binop(node, node.op, self.eval(node.left, env), self.eval(node.right, env))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            value = self.eval(node.operand, env)
            if isinstance(value, (int, float)):
                return -value
        if isinstance(node, (ast.IfExp, ast.Compare, ast.BoolOp)) or (
            isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)
        ):
            return self.logic(node, env)
        if isinstance(node, ast.Subscript):
            return self.subscript(node, env)
        if isinstance(node, ast.Call):
            return self.call(node, env)
        raise self.fail(node, f"cannot evaluate {ast.unparse(node)[:60]!r} statically")

    def name(self, node: ast.Name, env: dict[str, Any]) -> Any:
        """Look a name up: the local scope, the module's names, its classes, the constants."""
        if isinstance(env.get(node.id), Failed):
            raise env[node.id].error
        if node.id in env:
            return env[node.id]
        if node.id in self.names:
            value = self.names[node.id]
            if isinstance(value, Failed):
                raise value.error
            return value
        if node.id in self.classes:
            return self.classes[node.id]
        if node.id in ("True", "False", "None"):
            return {"True": True, "False": False, "None": None}[node.id]
        raise self.fail(node, f"{node.id!r} is not defined (nor imported) here")

    def collection(self, node: ast.expr, env: dict[str, Any]) -> Any:
        """Evaluate a dict, tuple or list display, or a list comprehension over a known list."""
        if isinstance(node, ast.Dict):
            keys = [k for k in node.keys if k is not None]
            if len(keys) != len(node.values):
                raise self.fail(node, "a dict with ** cannot be read statically")
            return {
                self.eval(k, env): self.eval(v, env) for k, v in zip(keys, node.values, strict=True)
            }
        if isinstance(node, (ast.Tuple, ast.List)):
            values: list[Any] = []
            for elt in node.elts:
                if isinstance(elt, ast.Starred):
                    values.extend(self.eval(elt.value, env))
                else:
                    values.append(self.eval(elt, env))
            return tuple(values) if isinstance(node, ast.Tuple) else values
        assert isinstance(node, ast.ListComp)
        if len(node.generators) != 1:
            raise self.fail(node, f"cannot evaluate {ast.unparse(node)[:60]!r} statically")
        gen = node.generators[0]
        items = self.eval(gen.iter, env)
        if not isinstance(items, (list, tuple, range)) or gen.ifs:
            raise self.fail(node, "a comprehension over something that is not a known list")
        out = []
        for item in items:
            inner = dict(env)
            self.assign(gen.target, item, inner)
            out.append(self.eval(node.elt, inner))
        return out

    def attribute(self, node: ast.Attribute, owner: Any) -> Any:
        """Read ``owner.attr``: a deeper import, an object's attribute or method, a tensor's."""
        if isinstance(owner, Ref):
            qual = f"{owner.qual}.{node.attr}"
            for prefix in ("tensorflow.keras.", "tf_keras."):
                qual = qual.replace(prefix, "keras.")
            return Ref(qual)
        if isinstance(owner, Instance):
            if node.attr in owner.attrs:
                return owner.attrs[node.attr]
            method = find_method(owner.cls, node.attr)
            if method is not None:
                return Bound(owner, method)
            raise self.fail(node, f"self.{node.attr} is not set in the constructor")
        if isinstance(owner, Tensor):
            return TensorMethod(owner, node.attr)
        raise self.fail(node, f"cannot read {ast.unparse(node)!r} statically")

    def logic(self, node: ast.expr, env: dict[str, Any]) -> Any:
        """Evaluate ``a if c else b``, comparisons, ``and``/``or``/``not`` known statically."""

        def known(expr: ast.expr) -> Any:
            value = self.eval(expr, env)
            if isinstance(value, (Tensor, Module, Ref, Instance, TensorMethod)):
                raise self.fail(expr, f"{ast.unparse(expr)!r} is decided at run time")
            return value

        if isinstance(node, ast.IfExp):
            return self.eval(node.body if known(node.test) else node.orelse, env)
        if isinstance(node, ast.UnaryOp):
            return not known(node.operand)
        if isinstance(node, ast.BoolOp):
            values = [known(v) for v in node.values]
            return all(values) if isinstance(node.op, ast.And) else any(values)
        assert isinstance(node, ast.Compare)
        left = known(node.left)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = known(right_node)
            if type(op) not in _COMPARE:
                raise self.fail(node, f"cannot compare with {ast.unparse(node)!r} statically")
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True

    def binop(self, node: ast.AST, op: ast.operator, left: Any, right: Any) -> Any:
        """Apply ``op``: arithmetic on numbers, lists joined, ``a + b`` of tensors (a residual)."""
        if isinstance(left, Tensor) and isinstance(right, Tensor) and isinstance(op, ast.Add):
            return Tensor(join_residual(left.path, right.path, self.where(node)))
        numbers = (int, float)
        if type(op) in _BINOPS and isinstance(left, numbers) and isinstance(right, numbers):
            if isinstance(op, ast.Pow) and abs(right) > 64:
                raise self.fail(node, f"a power of {right}: not a layer size")
            value = _BINOPS[type(op)](left, right)
            if isinstance(value, int) and value.bit_length() > 64:
                raise self.fail(node, f"a number of {value.bit_length()} bits: not a layer size")
            return value
        if (
            isinstance(op, ast.Add)
            and isinstance(left, (list, tuple))
            and type(left) is type(right)
        ):
            return [*left, *right] if isinstance(left, list) else (*left, *right)
        if isinstance(op, ast.Mult) and isinstance(left, list) and isinstance(right, int):
            if len(left) * right > MAX_LAYERS:
                raise self.fail(node, f"a list of {len(left) * right:,} items: over {MAX_LAYERS}")
            return left * right
        raise self.fail(node, "an operation convcli cannot follow statically")

    def subscript(self, node: ast.Subscript, env: dict[str, Any]) -> Any:
        """Index a known list, tuple, dict or container; ``x.shape[0]`` is the batch."""
        owner = self.eval(node.value, env)
        if isinstance(owner, TensorMethod) and owner.name == "shape":
            if self.eval(node.slice, env) == 0:
                return Batch()
        if isinstance(owner, Module) and owner.children is not None:
            owner = owner.children
        index = self.eval(node.slice, env)
        if isinstance(owner, (list, tuple)) and isinstance(index, int):
            return owner[index]
        if isinstance(owner, dict) and index in owner:
            return owner[index]
        raise self.fail(node, f"cannot index {ast.unparse(node)!r} statically")

    def arguments(self, node: ast.Call, env: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        """Evaluate a call's positional (``*xs`` of a known list included) and keyword arguments."""
        args: list[Any] = []
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                value = self.eval(arg.value, env)
                if isinstance(value, Module) and value.children is not None:
                    value = value.children
                if not isinstance(value, (list, tuple)):
                    raise self.fail(arg, f"*{ast.unparse(arg.value)} is not a known list")
                args.extend(value)
            else:
                args.append(self.eval(arg, env))
        kwargs = {}
        for kw in node.keywords:
            if kw.arg is None:
                raise self.fail(node, "**kwargs cannot be read statically")
            kwargs[kw.arg] = self.eval(kw.value, env)
        return args, kwargs

    def call(self, node: ast.Call, env: dict[str, Any]) -> Any:
        """Evaluate a call (:func:`convcli.models.pycalls.call`)."""
        from .pycalls import call

        func = self.eval(node.func, env)
        args, kwargs = self.arguments(node, env)
        return call(self, node, func, args, kwargs)


def find_method(cls: ast.ClassDef, name: str) -> ast.FunctionDef | None:
    """Find the method ``name`` defined in the class body, if any."""
    for stmt in cls.body:
        if isinstance(stmt, ast.FunctionDef) and stmt.name == name:
            return stmt
    return None
