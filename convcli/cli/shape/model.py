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

__all__ = [
    "ABBREVIATIONS",
    "NETWORK_HEADERS",
    "WIDE",
    "abbreviate",
    "fit_title",
    "fit_words",
    "join_lines",
    "megabytes",
    "show_network",
    "show_onnx",
]

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
    way = click.get_current_context().params.get("count_as") or "convcli"
    if way != "convcli":  # --count-as: the rows' MACs as that tool counts them
        from ...arithmetic.conventions import recount

        summary = recount(summary, way)
    shown = summary.collapse(depth) if depth else summary
    if fmt == "quiet":
        click.echo("x".join(str(v) for v in summary.shown_output))
        return
    if summary.notes:
        import textwrap

        from ...output import table_width

        cols = table_width(sys.stderr)
        for note in summary.notes:
            click.echo(textwrap.fill(f"Note: {note}", cols), err=True)
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
                    "count_as": way,
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
    """Build the rows of ``--json`` and ``--csv``: every field, full numbers."""
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
            "repeat": r.repeat,
        }
        for r in rows
    ]


def network_totals(summary: Any, dtype: str) -> dict[str, Any]:
    """Sum up the totals of ``--json`` and the table's caption."""
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
        "peak_activations": summary.peak_activations,
        "peak_activation_bytes": summary.peak_bytes(dtype),
        "forward_backward_bytes": summary.forward_backward_bytes(dtype),
        "input_bytes": summary.input_bytes(dtype),
    }
    totals["total_bytes"] = (
        totals["input_bytes"] + totals["param_bytes"] + totals["forward_backward_bytes"]
    )
    return totals


#: Long words of layer names and their short forms in a narrow table (the
#: caption lists those used; --json and --csv keep the full names).
ABBREVIATIONS = {
    "bottleneck": "btl",
    "adaptiveavgpool": "aapool",
    "adaptivemaxpool": "ampool",
    "BatchNormalization": "BN",
    "GlobalAveragePool": "GAPool",
    "GlobalMaxPool": "GMPool",
    "ConvTranspose": "ConvT",
    "AveragePool": "AvgPool",
    "nobias": "nb",
    "shortcut": "sc",
}


def abbreviate(text: str, used: set[str]) -> str:
    """``text`` with each word of :data:`ABBREVIATIONS` shortened; ``used`` collects them."""
    words = []
    for word in text.split(" "):
        short = ABBREVIATIONS.get(word)
        if short is not None:
            used.add(word)
        words.append(short or word)
    return " ".join(words)


def fit_words(text: str, size: int) -> str:
    """``text`` cut after a whole word, with ``…``, to at most ``size`` characters."""
    if len(text) <= size:
        return text
    words = text.split(" ")
    while words:
        words.pop()
        kept = " ".join(words).rstrip()
        if kept.strip() and len(kept) + 2 <= size:
            return f"{kept} …"
    return text[: max(size - 1, 0)] + "…"


def fit_title(name: str, shapes: str, size: int) -> str:
    """Return ``NAME: SHAPES`` in ``size`` characters: the name is cut, the shapes kept.

    Examples
    --------
    >>> fit_title("nn.Sequential(nn.Conv2d(3, 16, 5), nn.ReLU())", "N×3×32×32 → N×16×28×28", 50)
    'nn.Sequential(nn.Conv2d(3…: N×3×32×32 → N×16×28×28'
    """
    title = f"{name}: {shapes}"
    room = size - len(shapes) - 2
    if len(title) <= size or room < 10:
        return title
    return f"{fit_words(name, room)}: {shapes}"


def _cells(
    rows: Sequence[Any], dtype: str, wide: bool, narrow: bool, used: set[str]
) -> list[list[str]]:
    """Format the table's cells: full numbers, or short counts and abbreviated names (``narrow``)."""
    from ...arithmetic.counts import memory_bytes
    from ...output import format_int, format_pair, format_shape, short_count

    count = short_count if narrow else format_int
    table = []
    for r in rows:
        label = {"add": "+ shortcut", "cat": "cat shortcut"}.get(r.kind, r.config)
        indent = (" " if narrow else "  ") * r.depth
        if narrow:
            label = abbreviate(label, used)

        def number(value: int, r: Any = r) -> str:
            if not value and r.leaf:
                return "—"
            return count(value) if r.leaf else f"({count(value)})"

        cells = [r.index, indent + label, format_shape(r.shown_shape)]
        cells += [number(r.params), number(r.macs)]
        if wide:
            cells += [number(r.flops), megabytes(memory_bytes(r.activations, dtype))]
        cells += [format_pair(r.rf), format_pair(r.jump)]
        table.append(cells)
    return table


def _boxed_width(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> int:
    """Measure the width of :func:`render_table`'s box around these cells, nothing wrapped."""
    from rich.cells import cell_len

    widths = [
        max([cell_len(h), *(cell_len(row[i]) for row in rows)]) for i, h in enumerate(headers)
    ]
    return sum(widths) + 3 * len(headers) + 1


def _network_table(name: str, summary: Any, shown: Any, dtype: str, totals: dict[str, Any]) -> None:
    """Print the table: one row per layer, the totals in its caption; one line per row.

    When the full numbers do not fit the terminal, counts get k/M/G units
    and long names short forms (listed in the caption); when even that box
    does not fit, the columns are drawn without one and the names cut after
    a whole word. ``--json`` and ``--csv`` keep every full value.
    """
    from ...output import color_enabled, format_count, format_int, format_shape, render_table

    width = terminal_width()
    wide = width >= WIDE
    headers = ["#", "layer", "output", "params", "MACs"]
    if wide:
        headers += ["FLOPs", "act. MB"]
    headers += ["RF", "jump"]
    used: set[str] = set()
    table_rows = _cells(shown.rows, dtype, wide, False, used)
    narrow = _boxed_width(headers, table_rows) > width
    if narrow:
        table_rows = _cells(shown.rows, dtype, wide, True, used)
    styles = ["bold" if not r.leaf else None for r in shown.rows]
    total = format_int(summary.total_params)
    short = format_count(summary.total_params)
    parts = [
        f"Total parameters: {total}" + ("" if short == total else f" ({short})"),
        f"MACs: {format_count(summary.total_macs)}",
        f"FLOPs: {format_count(summary.total_flops)}",
        "",
        f"{dtype}, MB = 10⁶ bytes: params {megabytes(totals['param_bytes'])}",
        f"activations {megabytes(totals['activation_bytes'])}",
        f"peak {megabytes(totals['peak_activation_bytes'])}",
        f"input {megabytes(totals['input_bytes'])}",
    ]
    if narrow:
        legend = [f"{ABBREVIATIONS[w]} = {w}" for w in sorted(used, key=str.lower)]
        if legend:
            legend[0] = f"short names: {legend[0]}"
        parts += ["", *legend, "", "full values: --json, --csv"]
    color = color_enabled(sys.stdout)
    shapes = f"{format_shape(summary.shown_input)} → {format_shape(summary.shown_output)}"
    if narrow and _boxed_width(headers, table_rows) > width:
        _columns_table(headers, table_rows, fit_title(name, shapes, width), parts, width)
        return
    title = f"{name}: {shapes}"

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
    title = fit_title(name, shapes, table_width)
    echo_table(render(join_lines(parts, table_width)))


def _columns_table(
    headers: list[str], rows: list[list[str]], title: str, parts: list[str], width: int
) -> None:
    """Print the table without a box, its names cut to what the terminal leaves them."""
    from rich.cells import cell_len

    from ...output import render_columns

    others = sum(
        max([cell_len(h), *(cell_len(row[i]) for row in rows)])
        for i, h in enumerate(headers)
        if h != "layer"
    )
    longest = max(cell_len(row[1]) for row in rows)
    gap = 2 if width - others - 2 * (len(headers) - 1) >= longest else 1
    room = width - others - gap * (len(headers) - 1)
    fitted = [
        [fit_words(cell, room) if i == 1 else cell for i, cell in enumerate(row)] for row in rows
    ]
    echo_table(
        render_columns(
            headers,
            fitted,
            title=title,
            caption=join_lines(parts, width),
            right=headers[2:],
            gap=gap,
        )
    )


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


def show_onnx(
    path: str,
    dims: Sequence[str],
    fmt: str,
    depth: int | None,
    dtype: str,
    size: tuple[int, int] | None = None,
) -> None:
    """Read an ONNX model (``--dim`` binding its symbolic dimensions) and print its summary."""
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
        summary = analyze_onnx(path, bound, size)
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
