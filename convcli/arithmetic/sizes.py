"""Convolution arithmetic: the one output-size formula and its relatives, in one namespace.

Pure Python (no numpy), so that ``convcli shape`` starts instantly. The
engine, pooling and the ``shape`` command all take their sizes from here.
Each fact has its own module; this one gathers their public names:

- :mod:`.outputs`: THE formula (:func:`output_size`), its transposed and
  pooling forms, :func:`pair`;
- :mod:`.padding`: the padding words, text and splits;
- :mod:`.formulas`: the formulas as text with the numbers put in;
- :mod:`.coverage`: the input cells no window reads;
- :mod:`.solve`: solving backwards for stride and padding.

The formula, for one axis of length ``n``, a kernel of ``k`` taps with
dilation ``d``, stride ``s`` and ``p_before + p_after`` cells of padding::

    out = floor((n + p_before + p_after - d*(k - 1) - 1) / s) + 1

which, with ``p = p_before + p_after`` and ``d = 1``, is the textbook's
``floor((n - k + p + s) / s)``.

Examples
--------
>>> output_size(224, 11, stride=4, padding=2)
55
>>> same_padding(224, 11, stride=4)
(3, 4)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .outputs import output_size, pair, pool_output_size, transposed_output_size
from .padding import (
    PAD_WORDS,
    PaddingSpec,
    PaddingSyntaxError,
    padding_words,
    parse_padding,
    resolve_padding,
    same_padding,
    split_total,
)
from .support import effective_kernel_size

if TYPE_CHECKING:
    from .coverage import uncovered_cells
    from .formulas import conv_formula, pool_formula, transposed_formula
    from .solve import solve_stride_padding

#: names whose modules load on first use (issue 22: ``solve``'s dataclasses and the
#: formulas' text cost a filter run milliseconds it never uses)
_LAZY = {
    "uncovered_cells": "coverage",
    "conv_formula": "formulas",
    "pool_formula": "formulas",
    "transposed_formula": "formulas",
    "solve_stride_padding": "solve",
}

__all__ = [
    "PAD_WORDS",
    "PaddingSpec",
    "PaddingSyntaxError",
    "conv_formula",
    "effective_kernel_size",
    "output_size",
    "padding_words",
    "pair",
    "parse_padding",
    "pool_formula",
    "pool_output_size",
    "resolve_padding",
    "same_padding",
    "solve_stride_padding",
    "split_total",
    "transposed_formula",
    "transposed_output_size",
    "uncovered_cells",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    # __import__, not importlib.import_module: -X importtime logs it (the start-up pins read it)
    value = getattr(__import__(f"{__package__}.{module}", fromlist=[name]), name)
    globals()[name] = value
    return value
