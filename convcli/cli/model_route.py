"""``convcli shape MODEL.pt2|.keras|.h5|.py`` and ``--code``: the options, the errors.

The reading is :mod:`convcli.models`' (nothing of a framework is imported);
this module checks which options go with a model and turns the library's
errors into exit codes: a construct that cannot be read statically is a
usage error (exit 2), a file that cannot be read or shapes that do not fit
are failures (exit 1), as for ONNX models.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from ..errors import ConvcliError, ShapeError

#: options that describe one layer or another network: refused with a model
_NOT_WITH_A_MODEL = {
    "dims": "--dim",
    "kernel": "--k",
    "stride": "--s",
    "padding": "--p",
    "dilation": "--d",
    "filters": "--filters",
    "no_bias": "--no-bias",
    "dense": "--dense",
    "transposed": "--transposed",
    "output_padding": "--output-padding",
    "pool": "--pool",
    "ceil_mode": "--ceil-mode",
    "target": "--out",
    "layers": "--layers",
    "arch": "--arch",
    "spec": "--spec",
    "in_range": "--in-range",
}


class Unreadable(click.ClickException):
    """A model construct convcli cannot read without running it: exit 2, no usage line."""

    exit_code = 2


def read_model_options(params: Mapping[str, Any]) -> tuple[str, Any, str]:
    """Read the model that ``shape``'s options name: (name, NetworkSummary, source kind)."""
    import os

    from ..models.common import ModelError
    from ..models.read import read_model

    model, model_class, code = params.get("model"), params.get("model_class"), params.get("code")
    what = model or "--code"
    for key, option in _NOT_WITH_A_MODEL.items():
        if params.get(key):
            raise click.UsageError(f"{option} cannot be used with a model ({what})")
    inputs = params.get("inputs") or ()
    if len(inputs) > 1:
        raise click.UsageError(f"a model takes one --in (got {len(inputs)})")
    if model is not None and not os.path.isfile(model):
        raise click.UsageError(f"{model!r}: no such file")
    try:
        found = read_model(
            model, model_class, code, tuple(inputs[0]) if inputs else None, params.get("channels")
        )
    except ModelError as exc:
        raise Unreadable(str(exc)) from None
    except (ShapeError, ConvcliError) as exc:
        raise click.ClickException(str(exc)) from None
    return found.name, found.summary, found.source
