"""Exceptions raised by convcli.

Every error convcli raises on purpose derives from :class:`ConvcliError`, so a
caller can catch them all in one place (the command line turns them into a
one-line message and a non-zero exit). The subclasses that describe bad
*values* also derive from :class:`ValueError`, so code that already guards a
numerical call with ``except ValueError`` keeps working.
"""

from __future__ import annotations

__all__ = [
    "ArrayTypeError",
    "ConvcliError",
    "ImageError",
    "KernelError",
    "LimitError",
    "ParameterError",
    "PixelLimitError",
    "SettingError",
    "ShapeError",
    "install_hint",
]


def install_hint(extra: str) -> str:
    """Say what a person should run for an optional extra (``cluster``, ``onnx``, ...).

    convcli is installed from a clone (there is no published package yet), so the
    hint is the command that works there: ``pip install '.[EXTRA]'`` in its folder.

    Examples
    --------
    >>> install_hint("cluster")
    "pip install '.[cluster]' (in convcli's folder)"
    """
    return f"pip install '.[{extra}]' (in convcli's folder)"


class ConvcliError(Exception):
    """Base class of every error convcli raises on purpose."""


class ShapeError(ConvcliError, ValueError):
    """Sizes, strides, paddings or array shapes that do not fit together."""


class ParameterError(ShapeError):
    """A parameter that is not a shape and has a value convcli does not accept.

    For example a thread count, a strategy, a memory budget, an alpha or range
    mode, a learning rate. The message names the parameter in backticks.

    Catch it as ``ParameterError`` (or :class:`ConvcliError`, or
    ``ValueError``). convcli 0.1 raised :class:`ShapeError` for these values,
    so for the 0.3 releases a ParameterError is also a ShapeError and code
    that catches ShapeError still catches them. That is deprecated: from 0.4
    ParameterError will derive from ConvcliError and ValueError only.
    """


class LimitError(ParameterError):
    """A size over convcli's resource policy (:mod:`convcli.arithmetic.limits`).

    Raised before anything is allocated; the command line reports it as a
    usage error (exit 2).
    """


class SettingError(ParameterError):
    """An environment variable convcli reads holds a value it cannot honour.

    ``CONVCLI_THREADS``, ``CONVCLI_ENGINE``, ``CONVCLI_NATIVE_ISA``: the
    user's setting, not a fault of any input, so the command line reports it
    as a usage error (exit 2), once.
    """


class KernelError(ConvcliError, ValueError):
    """A kernel that cannot be parsed, is unknown, or holds invalid values."""


class ArrayTypeError(ConvcliError, TypeError):
    """An array of a kind convcli does not compute with (object, complex, strings, ragged lists).

    Also a :class:`TypeError`, as numpy's own refusals of such arrays are.
    """


class ImageError(ConvcliError):
    """An image that cannot be read, decoded or written."""


class PixelLimitError(LimitError, ImageError):
    """An image with more pixels than the limit it is read under (``--max-pixels``).

    A resource limit (exit 2 on the command line, as every :class:`LimitError`)
    that is also an :class:`ImageError`, as it was before it had its own class.
    """
