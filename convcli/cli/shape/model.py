"""A network's or model's summary rendered: the table, JSON or CSV; and ONNX files read.

Every reader of a network (the spec language, presets, ONNX, and model
files) hands a :class:`~convcli.arithmetic.summary.NetworkSummary` to
:func:`show_network`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import click

from ...errors import ShapeError
from .common import echo_table
from .common import width as terminal_width

__all__ = ["NETWORK_HEADERS", "WIDE", "join_lines", "megabytes", "show_network", "show_onnx"]

NETWORK_HEADERS = [
    "index",
    "depth",
    "layer",
    "config",
    "output",
    "params",
    "macs",
    "rf_h",
    "rf_w",
    "jump_h",
    "jump_w",
    "leaf",
    "flops",
    "output_size",
    "activations",
    "param_bytes",
    "activation_bytes",
]
#: from this width on, the network table also shows FLOPs and memory per row
WIDE = 130


def show_network(
    name: str, summary: Any, fmt: str, depth: int | None, dtype: str, source: str = "network"
) -> None:
    """Print a :class:`~convcli.arithmetic.network.NetworkSummary` as a table, JSON or CSV.

    ``depth`` collapses it to its first levels of nesting; the totals come
    from the whole network either way.
    """
    shown = summary.collapse(depth) if depth else summary
    if fmt == "quiet":
        click.echo("x".join(str(v) for v in summary.shown_output))
        return
    for note in summary.notes:
        click.echo(f"Note: {note}", err=True)
    data_rows = network_rows(shown.rows, dtype)
    totals = network_totals(summary, dtype)
    if fmt == "json":
        from ...output import to_json

        for row, r in zip(data_rows, shown.rows, strict=True):
            row["output"] = list(r.shown_shape)
        click.echo(
            to_json(
                {
                    "name": name,
                    "source": source,
                    "input": list(summary.shown_input),
                    "output": list(summary.shown_output),
                    **totals,
                    "depth": depth,
                    "notes": list(summary.notes),
                    "layers": data_rows,
                }
            )
        )
        return
    if fmt == "csv":
        from ...output import to_csv

        click.echo(to_csv(data_rows, NETWORK_HEADERS), nl=False)
        return
    _network_table(name, summary, shown, dtype, totals)


def network_rows(rows: Sequence[Any], dtype: str) -> list[dict[str, Any]]:
    """The rows of ``--json`` and ``--csv``: every field, full numbers."""
    from ...arithmetic.counts import memory_bytes

    return [
        {
            "index": r.index,
            "depth": r.depth,
            "layer": r.kind,
            "config": r.config,
            "output": "x".join(str(v) for v in r.shown_shape),
            "params": r.params,
            "macs": r.macs,
            "rf_h": r.rf[0] if r.rf else None,
            "rf_w": r.rf[1] if r.rf else None,
            "jump_h": r.jump[0] if r.jump else None,
            "jump_w": r.jump[1] if r.jump else None,
            "leaf": r.leaf,
            "flops": r.flops,
            "output_size": r.output_size,
            "activations": r.activations,
            "param_bytes": memory_bytes(r.params, dtype),
            "activation_bytes": memory_bytes(r.activations, dtype),
        }
        for r in rows
    ]


def network_totals(summary: Any, dtype: str) -> dict[str, Any]:
    """The totals of ``--json`` and the table's caption."""
    from ...arithmetic.counts import memory_bytes

    totals = {
        "total_params": summary.total_params,
        "total_macs": summary.total_macs,
        "total_flops": summary.total_flops,
        "total_activations": summary.total_activations,
        "dtype": dtype,
        "bytes_per_value": memory_bytes(1, dtype),
        "param_bytes": summary.param_bytes(dtype),
        "activation_bytes": summary.activation_bytes(dtype),
        "forward_backward_bytes": summary.forward_backward_bytes(dtype),
        "input_bytes": summary.input_bytes(dtype),
    }
    totals["total_bytes"] = (
        totals["input_bytes"] + totals["param_bytes"] + totals["forward_backward_bytes"]
    )
    return totals


def _network_table(name: str, summary: Any, shown: Any, dtype: str, totals: dict[str, Any]) -> None:
    """The table: one row per layer, the totals in its caption."""
    from ...arithmetic.counts import memory_bytes
    from ...output import (
        color_enabled,
        format_count,
        format_int,
        format_pair,
        format_shape,
        render_table,
    )

    width = terminal_width()
    wide = width >= WIDE
    table_rows = []
    styles: list[str | None] = []
    for r in shown.rows:
        label = r.config if r.kind != "add" else "+ shortcut"
        params = format_int(r.params) if r.leaf else f"({format_int(r.params)})"
        macs = format_int(r.macs) if r.leaf else f"({format_int(r.macs)})"
        cells = [
            r.index,
            "  " * r.depth + label,
            format_shape(r.shown_shape),
            params if r.params or not r.leaf else "—",
            macs if r.macs or not r.leaf else "—",
        ]
        if wide:
            flops = format_int(r.flops) if r.leaf else f"({format_int(r.flops)})"
            cells.append(flops if r.flops or not r.leaf else "—")
            cells.append(megabytes(memory_bytes(r.activations, dtype)))
        cells += [format_pair(r.rf), format_pair(r.jump)]
        table_rows.append(cells)
        styles.append("bold" if not r.leaf else None)
    headers = ["#", "layer", "output", "params", "MACs"]
    if wide:
        headers += ["FLOPs", "act. MB"]
    headers += ["RF", "jump"]
    parts = [
        f"Total parameters: {format_int(summary.total_params)} "
        f"({format_count(summary.total_params)})",
        f"MACs: {format_count(summary.total_macs)}",
        f"FLOPs: {format_count(summary.total_flops)}",
        "",
        f"{dtype}, MB = 10⁶ bytes: params {megabytes(totals['param_bytes'])}",
        f"activations {megabytes(totals['activation_bytes'])}",
        f"input {megabytes(totals['input_bytes'])}",
    ]
    color = color_enabled(sys.stdout)
    title = f"{name}: {format_shape(summary.shown_input)} → {format_shape(summary.shown_output)}"

    def render(caption: str | None, color: bool = color) -> str:
        return render_table(
            headers,
            table_rows,
            title=title,
            caption=caption,
            right=headers[2:],
            styles=styles,
            width=width,
            color=color,
        )

    table_width = max(len(line) for line in render(None, color=False).splitlines())
    echo_table(render(join_lines(parts, table_width)))


def join_lines(parts: list[str], width: int) -> str:
    """Join ``parts`` with `` · `` into lines of at most ``width``; ``""`` starts a new line."""
    lines: list[str] = []
    line = ""
    for part in parts:
        if not part:
            if line:
                lines.append(line)
            line = ""
        elif line and len(line) + 5 + len(part) > width:
            lines.append(line)
            line = part
        else:
            line = f"{line}  ·  {part}" if line else part
    if line:
        lines.append(line)
    return "\n".join(lines)


def show_onnx(path: str, dims: Sequence[str], fmt: str, depth: int | None, dtype: str) -> None:
    import os

    from ...arithmetic.onnx_model import UnboundDimensionError, analyze_onnx
    from ...errors import ConvcliError

    if not path.lower().endswith(".onnx"):
        raise click.UsageError(f"{path!r}: shape reads ONNX models (a .onnx file)")
    bound: dict[str, int] = {}
    for item in dims:
        name, _, value = item.partition("=")
        if not name or not value.isdigit() or int(value) < 1:
            raise click.UsageError(f"--dim {item!r}: write NAME=N with N >= 1, e.g. --dim N=1")
        bound[name.strip()] = int(value)
    if not os.path.isfile(path):
        raise click.UsageError(f"{path!r}: no such file")
    try:
        summary = analyze_onnx(path, bound)
    except UnboundDimensionError as exc:
        raise click.UsageError(str(exc)) from None
    except ShapeError as exc:
        raise click.ClickException(str(exc)) from None
    except ConvcliError as exc:
        raise click.ClickException(str(exc)) from None
    show_network(os.path.basename(path), summary, fmt, depth, dtype, source="onnx")


def megabytes(size: int) -> str:
    """Bytes as decimal megabytes (10^6 bytes): two decimals, two digits under 0.1 MB.

    Examples
    --------
    >>> megabytes(102_228_128), megabytes(3136)
    ('102.23', '0.0031')
    """
    if size >= 10**5 or size == 0:  # in integers: a size may be beyond a float
        whole, cents = divmod((size + 5000) // 10**4, 100)
        return f"{whole:,}.{cents:02d}"
    return f"{size / 1e6:.2g}"
