"""What a built-in kernel is: its parameters, its provenance and how it is built.

A :class:`KernelFactory` holds one entry of the catalogue; :func:`parse_params`
turns the parameter part of a spec (``"size=7,sigma=1.5"``, ``"2,y"``) into
the keyword arguments it is called with.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import KernelError
from .builders import Factors
from .kernel import Kernel

__all__ = ["KernelFactory", "Param", "convert_param", "parse_params", "unknown_params_message"]


@dataclass(frozen=True)
class Param:
    """One parameter of a built-in kernel.

    ``default=None`` means "derived from the other parameters" (Gaussian size
    and sigma); ``choices`` restricts a ``str`` parameter.
    """

    name: str
    type: type
    default: Any
    help: str
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class KernelFactory:
    """A built-in kernel: how to build it, its parameters and provenance.

    Call it with keyword arguments (already converted to the parameter
    types) to get a :class:`Kernel`; :func:`get_kernel` parses a spec string
    into that call.
    """

    name: str
    description: str
    source: str
    build: Callable[..., Any]
    params: tuple[Param, ...] = ()
    aliases: tuple[str, ...] = ()
    combine: str | None = None

    @property
    def param_names(self) -> tuple[str, ...]:
        """The parameter names, in positional order."""
        return tuple(p.name for p in self.params)

    @property
    def usage(self) -> str:
        """The spec syntax with defaults, e.g. ``box[:size=3]``."""
        if not self.params:
            return self.name
        parts = [f"{p.name}={'auto' if p.default is None else p.default}" for p in self.params]
        return f"{self.name}[:{','.join(parts)}]"

    def __call__(self, **kwargs: Any) -> Kernel:
        """Build the kernel from parameters already converted to their types."""
        unknown = sorted(set(kwargs) - set(self.param_names))
        if unknown:
            raise KernelError(unknown_params_message(self, unknown[0]))
        values = {p.name: kwargs.get(p.name, p.default) for p in self.params}
        built = self.build(**values)
        if self.combine == "magnitude":
            gx, gy = built
            return Kernel(
                self.name,
                gx,
                self.description,
                self.source,
                parts=(gx, gy),
                combine="magnitude",
            )
        params = values
        if isinstance(built, tuple) and not isinstance(built, Factors):
            built, params = built  # builders with derived parameters return them too
        if isinstance(built, Factors):
            return Kernel(
                self.name, None, self.description, self.source, params=params, factors=built
            )
        return Kernel(self.name, built, self.description, self.source, params=params)


def unknown_params_message(factory: KernelFactory, given: str) -> str:
    """Say that ``factory`` has no parameter ``given``, listing the ones it has."""
    if not factory.params:
        return f"kernel {factory.name!r} takes no parameters, got {given!r}"
    return (
        f"kernel {factory.name!r} has no parameter {given!r}; "
        f"its parameters are {', '.join(factory.param_names)}"
    )


def convert_param(factory: KernelFactory, param: Param, text: str) -> Any:
    """Convert one parameter's text to its type, or raise a KernelError showing the usage."""
    valid = f"(usage: {factory.usage})"
    if param.type is int:
        try:
            return int(text)
        except ValueError:
            raise KernelError(
                f"kernel {factory.name!r}: `{param.name}` must be a whole number, "
                f"got {text!r} {valid}"
            ) from None
    if param.type is float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise KernelError(
                f"kernel {factory.name!r}: `{param.name}` must be a finite number, "
                f"got {text!r} {valid}"
            )
        return value
    choice = text.lower()
    if param.choices and choice not in param.choices:
        raise KernelError(
            f"kernel {factory.name!r}: `{param.name}` must be one of "
            f"{', '.join(param.choices)}, got {text!r}"
        )
    return choice


def parse_params(factory: KernelFactory, arg_text: str) -> dict[str, Any]:
    """Turn a spec's parameter part (``"7,sigma=1.5"``) into keyword arguments for ``factory``.

    Values are positional (in :attr:`KernelFactory.param_names` order) and/or
    ``key=value``; each is converted to its parameter's type.

    Raises
    ------
    KernelError
        An unknown parameter (listing the valid ones), too many values, a
        positional value after a ``key=value`` one, a parameter given twice,
        or a value of the wrong type.
    """
    kwargs: dict[str, Any] = {}
    items = [item.strip() for item in arg_text.split(",")] if arg_text.strip() else []
    positional_done = False
    for position, item in enumerate(items):
        if "=" in item:
            key, _, value = item.partition("=")
            key = key.strip().lower()
            positional_done = True
            param = next((p for p in factory.params if p.name == key), None)
            if param is None:
                raise KernelError(unknown_params_message(factory, key))
        else:
            if positional_done:
                raise KernelError(
                    f"kernel {factory.name!r}: positional value {item!r} after a "
                    f"key=value parameter (usage: {factory.usage})"
                )
            if position >= len(factory.params):
                if not factory.params:
                    raise KernelError(unknown_params_message(factory, item))
                raise KernelError(
                    f"kernel {factory.name!r} takes at most {len(factory.params)} "
                    f"parameter(s) ({', '.join(factory.param_names)}), got {len(items)}"
                )
            param, value = factory.params[position], item
        if param.name in kwargs:
            raise KernelError(f"kernel {factory.name!r}: `{param.name}` is given twice")
        kwargs[param.name] = convert_param(factory, param, value.strip())
    return kwargs
