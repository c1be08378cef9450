"""The statements the source evaluator runs: assignments, loops, ``if``, ``return``.

:class:`Statements` is the statement half of
:class:`~convcli.models.pysource.Evaluator` (which evaluates the
expressions): a statement that cannot be followed without running the
model stops the reading with its ``file:line``.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from typing import Any

from .common import ModelError
from .pyvalues import Instance, Module, Ref, Return, Tensor, TensorMethod

__all__ = ["MAX_STEPS", "Statements"]

#: statements a model's source may run (loops included) before convcli gives up
MAX_STEPS = 200_000


class Statements:
    """Run statements; the expressions in them are the subclass' (:meth:`eval`)."""

    steps: int

    def eval(self, node: ast.expr, env: dict[str, Any]) -> Any:
        """Evaluate an expression (the Evaluator's)."""
        raise NotImplementedError

    def binop(self, node: ast.AST, op: ast.operator, left: Any, right: Any) -> Any:
        """Apply a binary operator (the Evaluator's)."""
        raise NotImplementedError

    def fail(self, node: ast.AST, message: str) -> ModelError:
        """Make the error for ``node`` (the Evaluator's)."""
        raise NotImplementedError

    def run(self, body: Sequence[ast.stmt], env: dict[str, Any]) -> None:
        """Run the statements of ``body`` in ``env``."""
        for stmt in body:
            self.stmt(stmt, env)

    def stmt(self, node: ast.stmt, env: dict[str, Any]) -> None:
        """Run one statement; refuse one that cannot be followed statically."""
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise self.fail(
                node, f"more than {MAX_STEPS:,} statements run: not a model's constructor"
            )
        if isinstance(node, ast.Return):
            raise Return(self.eval(node.value, env) if node.value else None)
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if node.value is not None:
                value = self.eval(node.value, env)
                for target in targets:
                    self.assign(target, value, env)
        elif isinstance(node, ast.AugAssign):
            value = self.binop(
                node, node.op, self.eval(node.target, env), self.eval(node.value, env)
            )
            self.assign(node.target, value, env)
        elif isinstance(node, ast.Expr):
            self.expression(node, env)
        elif isinstance(node, ast.For):
            self.loop(node, env)
        elif isinstance(node, ast.If):
            self.branch(node, env)
        elif not isinstance(node, ast.Pass):
            raise self.fail(node, f"cannot read a {type(node).__name__} statement statically")

    def expression(self, node: ast.Expr, env: dict[str, Any]) -> None:
        """Run an expression statement: a docstring, ``super().__init__()``, a list's append."""
        if isinstance(node.value, ast.Constant):
            return  # a docstring
        call = node.value
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute):
            owner = call.func.value
            if call.func.attr == "__init__" or (
                isinstance(owner, ast.Name)
                and owner.id == "self"
                and call.func.attr == "save_hyperparameters"
            ):
                return  # super().__init__(), d2l's save_hyperparameters(): no layers
            if call.func.attr in ("append", "extend", "add_module"):
                self.mutate(call, env)
                return
        raise self.fail(node, f"cannot read the statement {ast.unparse(node)[:60]!r} statically")

    def loop(self, node: ast.For, env: dict[str, Any]) -> None:
        """Run a ``for`` loop over a list, tuple or range known statically."""
        items = self.eval(node.iter, env)
        if isinstance(items, Module) and items.children is not None:
            items = items.children
        if not isinstance(items, (list, tuple, range)) or node.orelse:
            raise self.fail(node, f"a for loop over {ast.unparse(node.iter)!r}, not a known list")
        for item in items:
            self.assign(node.target, item, env)
            self.run(node.body, env)

    def branch(self, node: ast.If, env: dict[str, Any]) -> None:
        """Run the branch of an ``if`` whose condition is known before the run."""
        try:
            test = self.eval(node.test, env)
        except ModelError:
            test = Tensor(())
        if isinstance(test, (Tensor, Module, Ref, TensorMethod)):
            raise self.fail(node, f"a condition on {ast.unparse(node.test)!r} decided at run time")
        self.run(node.body if test else node.orelse, env)

    def mutate(self, call: ast.Call, env: dict[str, Any]) -> None:
        """Run ``xs.append(m)``, ``xs.extend(ms)`` or ``add_module(name, m)`` on a known list."""
        assert isinstance(call.func, ast.Attribute)
        target = self.eval(call.func.value, env)
        args = [self.eval(a, env) for a in call.args]
        if isinstance(target, Module) and target.children is not None:
            target = target.children
        if not isinstance(target, list):
            raise self.fail(call, f"{ast.unparse(call.func)} on something that is not a list")
        if call.func.attr == "append":
            target.append(args[0])
        elif call.func.attr == "extend":
            target.extend(args[0])
        else:
            target.append(args[1])

    def assign(self, target: ast.expr, value: Any, env: dict[str, Any]) -> None:
        """Bind ``value`` to a name, ``self.attr`` or a tuple of them."""
        if isinstance(target, ast.Name):
            env[target.id] = value
        elif isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
            owner = env.get(target.value.id)
            if not isinstance(owner, Instance):
                raise self.fail(target, f"cannot assign {ast.unparse(target)} statically")
            owner.attrs[target.attr] = value
        elif isinstance(target, (ast.Tuple, ast.List)) and isinstance(value, (list, tuple)):
            if len(target.elts) != len(value):
                raise self.fail(target, "unpacking a different number of values")
            for t, v in zip(target.elts, value, strict=True):
                self.assign(t, v, env)
        else:
            raise self.fail(target, f"cannot assign to {ast.unparse(target)!r} statically")

    def body(self, fn: ast.FunctionDef, env: dict[str, Any]) -> Any:
        """Run a function's body in ``env``: the value it returns."""
        try:
            self.run(fn.body, env)
        except Return as ret:
            return ret.value
        except RecursionError:
            raise self.fail(fn, "the model calls itself without end") from None
        return None
