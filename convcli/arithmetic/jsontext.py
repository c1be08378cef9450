"""JSON text read as users give it: every refusal one error of the caller's type (pure Python).

Kernels, ``conv``'s matrices and network specs may be JSON. :func:`load_json`
is the one place that reads such text, so that what :func:`json.loads`
raises beyond :class:`json.JSONDecodeError` (a ``ValueError`` for an
integer longer than Python's limit on digits, a ``RecursionError`` for
objects nested thousands deep) is a clean error naming the input, never a
crash or an "internal error".

Examples
--------
>>> from convcli.errors import KernelError
>>> load_json("[[1, 2], [3, 4]]", "kernel 'k.json'", KernelError)
[[1, 2], [3, 4]]
>>> load_json("[" + "9" * 5000 + "]", "kernel 'k.json'", KernelError)
Traceback (most recent call last):
...
convcli.errors.KernelError: kernel 'k.json': a number of 5000 digits; the limit is 4300 digits
"""

from __future__ import annotations

import re
import sys
from typing import Any

from ..errors import ConvcliError, LimitError
from .limits import check_nesting

__all__ = ["check_digits", "load_json"]


def _digit_limit() -> int:
    """Python's limit on the digits of an integer read from text (0: none)."""
    getter = getattr(sys, "get_int_max_str_digits", None)
    return getter() if getter is not None else 0


def check_digits(text: str, what: str, error: type[ConvcliError] = LimitError) -> None:
    """Raise ``error`` when ``text`` holds a run of digits longer than Python reads as an int.

    Python refuses to convert integers of more than
    :func:`sys.get_int_max_str_digits` digits (4300 by default) to or from
    text, with a bare ``ValueError``; this says which input holds one.
    """
    limit = _digit_limit()
    if not limit or len(text) <= limit:
        return
    # one regex pass, tried only where a run of digits starts (a file may be 256 MiB)
    found = re.search(rf"(?<!\d)\d{{{limit + 1}}}", text)
    if found is not None:
        end = found.end()
        while end < len(text) and text[end].isdigit():
            end += 1
        longest = end - found.start()
        raise error(f"{what}: a number of {longest} digits; the limit is {limit} digits")


def load_json(text: str, what: str, error: type[ConvcliError]) -> Any:
    """Parse ``text`` as JSON; any refusal is an ``error`` whose message starts with ``what``.

    Brackets and braces nested deeper than
    :data:`~convcli.arithmetic.limits.MAX_NESTING` levels are refused before
    parsing; a number longer than Python's digit limit as the parser meets it
    (Python's ``ValueError`` says how long it is).
    """
    import json  # only for JSON input: the layer language and presets do without

    try:
        check_nesting(text, what)
    except LimitError as exc:
        raise error(str(exc)) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(
            f"{what}: not valid JSON ({exc.msg}, line {exc.lineno} column {exc.colno})"
        ) from None
    except ValueError as exc:  # "Exceeds the limit (4300 digits) ...: value has 5000 digits"
        digits = re.search(r"has (\d+) digits", str(exc))
        if digits is None:
            raise error(f"{what}: not valid JSON ({exc})") from None
        raise error(
            f"{what}: a number of {digits[1]} digits; the limit is {_digit_limit()} digits"
        ) from None
    except RecursionError:  # what the nesting check should leave none of
        raise error(f"{what}: not valid JSON (nested too deeply)") from None
