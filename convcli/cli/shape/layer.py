"""``convcli shape --in N --k K``: one layer, as tables, JSON, CSV or bare sizes."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import click

from ...arithmetic.layer import LayerReport, analyze_layer
from ...arithmetic.support import effective_kernel_size
from ...errors import ShapeError
from .common import TwoAxes, echo_table, fail, pad_text, plural, warn
from .common import width as terminal_width

__all__ = ["LAYER_HEADERS", "show_layers"]

Pair = tuple[int, int]

LAYER_HEADERS = [
    "layer",
    "in_h",
    "in_w",
    "kernel_h",
    "kernel_w",
    "stride_h",
    "stride_w",
    "dilation_h",
    "dilation_w",
    "pad_top",
    "pad_bottom",
    "pad_left",
    "pad_right",
    "output_padding_h",
    "output_padding_w",
    "out_h",
    "out_w",
    "formula_h",
    "formula_w",
    "uncovered_rows",
    "uncovered_cols",
    "channels",
    "filters",
    "params",
    "macs",
    "dense_equivalent_params",
    "dense_units",
    "dense_params",
]


def show_layers(
    inputs: Sequence[Pair],
    kernel: Pair | None,
    stride: Pair | None,
    padding: Any,
    dilation: Pair | None,
    channels: int | None,
    filters: int | None,
    bias: bool,
    dense: int | None,
    transposed: bool,
    output_padding: Pair | None,
    pool: bool,
    ceil_mode: bool,
    fmt: str,
) -> None:
    """Analyse one layer on each input and print it as tables, JSON, CSV or bare sizes."""
    reports: list[LayerReport] = []
    for size in inputs:
        try:
            report = analyze_layer(
                size,
                kernel,
                stride=stride,
                padding=padding,
                dilation=dilation,
                channels=channels,
                filters=filters,
                bias=bias,
                dense=dense,
                transposed=transposed,
                output_padding=output_padding,
                pool=pool,
                ceil_mode=ceil_mode,
            )
        except ShapeError as exc:
            prefix = f"--in {size[0]}x{size[1]}: " if len(inputs) > 1 else ""
            raise fail(exc, prefix) from None
        reports.append(report)
    rows = [report.as_row() for report in reports]
    if kernel is not None:
        _warn_uncovered(rows)
    _print_layers(inputs, reports, rows, kernel is not None, filters, dense, fmt)


def _warn_uncovered(rows: list[dict[str, Any]]) -> None:
    """Warn, for each input, about the rows and columns no window reads."""
    for row in rows:
        parts = []
        if row["uncovered_rows"]:
            parts.append(plural(row["uncovered_rows"], "input row"))
        if row["uncovered_cols"]:
            parts.append(plural(row["uncovered_cols"], "input column"))
        if parts:
            warn(
                f"{row['in_h']}×{row['in_w']}: no window covers {' and '.join(parts)} "
                f"(kernel {row['kernel_h']}×{row['kernel_w']}, "
                f"stride {row['stride_h']}×{row['stride_w']})"
            )


def _print_layers(
    inputs: Sequence[Pair],
    reports: list[LayerReport],
    rows: list[dict[str, Any]],
    window: bool,
    filters: int | None,
    dense: int | None,
    fmt: str,
) -> None:
    """Print the reports in ``fmt``: tables, JSON, CSV or bare sizes (``quiet``)."""
    if fmt == "json":
        from ...output import to_json

        click.echo(to_json(rows))
    elif fmt == "csv":
        from ...output import to_csv

        headers = [h for h in LAYER_HEADERS if any(r.get(h) is not None for r in rows)]
        click.echo(to_csv(rows, headers), nl=False)
    elif fmt == "quiet":
        for size, row in zip(inputs, rows, strict=True):
            if not window:
                click.echo(row["dense_params"])
            elif row["out_h"] == row["out_w"] and not isinstance(size, TwoAxes):
                click.echo(row["out_h"])
            else:
                click.echo(f"{row['out_h']}x{row['out_w']}")
    else:
        _layer_tables(reports, window, bool(filters), dense is not None)


def _layer_tables(reports: list[LayerReport], sizes: bool, params: bool, dense: bool) -> None:
    from ...output import color_enabled

    rows = [report.as_row() for report in reports]
    color = color_enabled(sys.stdout)
    width = terminal_width()
    if sizes:
        _size_table(rows, width, color)
    if params:
        _params_tables(reports, rows, width, color)
    if dense:
        _dense_table(reports, rows, width, color)


def _size_table(rows: list[dict[str, Any]], width: int, color: bool) -> None:
    """Each axis with its formula: one row per input (one per axis when they differ)."""
    kind = rows[0]["layer"]
    title = {
        "conv": "Convolution: ⌊(n − k + p + s)/s⌋",
        "pool": "Pooling: ⌈(n − k + p + s)/s⌉ (ceil mode)"
        if any("⌈" in r["formula_h"] + r["formula_w"] for r in rows)
        else "Pooling: ⌊(n − k + p + s)/s⌋",
        "transposed": "Transposed convolution: (n − 1)·s − p + d·(k − 1) + output_padding + 1",
    }[kind]
    table_rows = []
    for r in rows:
        axes = [
            (
                "H",
                r["in_h"],
                r["kernel_h"],
                r["dilation_h"],
                r["stride_h"],
                (r["pad_top"], r["pad_bottom"]),
                r["formula_h"],
                r["out_h"],
            ),
            (
                "W",
                r["in_w"],
                r["kernel_w"],
                r["dilation_w"],
                r["stride_w"],
                (r["pad_left"], r["pad_right"]),
                r["formula_w"],
                r["out_w"],
            ),
        ]
        if axes[0][1:] == axes[1][1:]:
            axes = [("H, W", *axes[0][1:])]
        for axis, n, k, d, s, pads, formula, out in axes:
            ktext = str(k) if d == 1 else f"{k} (d{d} → {effective_kernel_size(k, d)})"
            table_rows.append(
                [
                    axis,
                    str(n),
                    ktext,
                    str(s),
                    pad_text(pads),
                    str(sum(pads)),
                    formula,
                    str(out),
                ]
            )
    _fitted_table(
        ["axis", "n", "k", "s", "pad", "p", "formula", "out"],
        table_rows,
        title,
        ["n", "k", "s", "p", "out"],
        width,
        color,
    )


def _fitted_table(
    headers: list[str],
    rows: list[list[str]],
    title: str,
    right: list[str],
    width: int,
    color: bool,
    formula: str = "formula",
) -> None:
    """Print the table; when a formula would wrap in its cell, each goes on a line below it.

    The row's first cell names which row a formula line belongs to: ``H, W:
    ⌊(224 − 11 + 4 + 4)/4⌋ = ⌊55.25⌋ = 55``; a line longer than the terminal
    breaks at a space, never inside a number.
    """
    import textwrap

    from ...output import render_table

    def render(heads: list[str], cells: list[list[str]], colored: bool) -> str:
        return render_table(
            heads, cells, title=title, right=right, no_wrap=heads, width=width, color=colored
        )

    whole = render(headers, rows, False)
    if max(len(line) for line in whole.splitlines()) <= width:
        echo_table(render(headers, rows, color) if color else whole)
        return
    at = headers.index(formula)
    kept = [h for h in headers if h != formula]
    echo_table(render(kept, [row[:at] + row[at + 1 :] for row in rows], color))
    for row in rows:
        if not row[at]:
            continue
        line = f"{row[0]}: {row[at]}"
        click.echo(textwrap.fill(line, width, break_long_words=False, subsequent_indent="  "))


def _params_tables(
    reports: list[LayerReport], rows: list[dict[str, Any]], width: int, color: bool
) -> None:
    """Parameters, MACs and the fully connected equivalent, one table per input."""
    from ...output import format_count, format_int

    for report, r in zip(reports, rows, strict=True):
        c, f = r["channels"], r["filters"]
        kh, kw = r["kernel_h"], r["kernel_w"]
        h, w, oh, ow = r["in_h"], r["in_w"], r["out_h"], r["out_w"]
        has_bias = report.bias
        positions = f"{h}·{w}" if r["layer"] == "transposed" else f"{oh}·{ow}"
        fc_bias = f" + {f}·{oh}·{ow}" if has_bias else ""
        # integer arithmetic: both counts may be beyond a float (--in 10**400)
        dense_params, conv_params = r["dense_equivalent_params"], r["params"]
        ratio = (dense_params + conv_params // 2) // conv_params
        table_rows = [
            [
                "parameters",
                f"{f}·({c}·{kh}·{kw}{' + 1' if has_bias else ''})",
                format_int(r["params"]),
                format_count(r["params"]),
            ],
            [
                "multiply-accumulates",
                f"{positions}·{f}·{c}·{kh}·{kw}",
                format_int(r["macs"]),
                format_count(r["macs"]),
            ],
            [
                "fully connected instead",
                f"({c}·{h}·{w})·({f}·{oh}·{ow}){fc_bias}",
                format_int(r["dense_equivalent_params"]),
                format_count(r["dense_equivalent_params"]),
            ],
            ["weight sharing saves", "", f"{ratio:,}×", ""],
        ]
        _fitted_table(
            ["quantity", "formula", "count", "≈"],
            table_rows,
            f"Parameters: {c}×{h}×{w} → {f}×{oh}×{ow}",
            ["count", "≈"],
            width,
            color,
        )


def _dense_table(
    reports: list[LayerReport], rows: list[dict[str, Any]], width: int, color: bool
) -> None:
    """Print a fully connected layer of --dense units on each input."""
    from ...output import format_count, format_int

    table_rows = []
    for report, r in zip(reports, rows, strict=True):
        c, n = r["channels"], r["dense_units"]
        bias = f" + {n}" if report.bias else ""
        table_rows.append(
            [
                f"{c}×{r['in_h']}×{r['in_w']}",
                str(n),
                f"{c}·{r['in_h']}·{r['in_w']}·{n}{bias}",
                format_int(r["dense_params"]),
                format_count(r["dense_params"]),
            ]
        )
    _fitted_table(
        ["input", "units", "weights + biases", "parameters", ""],
        table_rows,
        "Fully connected layer on the same input",
        ["units", "parameters", ""],
        width,
        color,
        formula="weights + biases",
    )
