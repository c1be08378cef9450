"""``convcli shape --out``: solving backwards for stride and padding, in closed form."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from typing import Any

import click

from ...arithmetic.sizes import conv_formula, effective_kernel_size, padding_words
from ...errors import ShapeError
from .common import echo_table, fail, width

__all__ = ["SOLVE_HEADERS", "solve"]

Pair = tuple[int, int]

SOLVE_HEADERS = [
    "axis",
    "n",
    "out",
    "kernel",
    "dilation",
    "stride",
    "pad_before",
    "pad_after",
    "padding",
    "total_padding",
    "note",
    "formula",
]


def solve(
    inputs: Sequence[Pair],
    target: Pair,
    kernel: Pair,
    stride: Pair | None,
    padding: Any,
    dilation: Pair | None,
    pool: bool,
    fmt: str,
    show_all: bool = False,
) -> None:
    """Solve each input and axis for stride and padding, in closed form.

    The table shows runs of strides (one padding each), at most
    :data:`SOLVE_ROWS` in all unless ``show_all``; JSON, CSV and ``--quiet``
    list every choice, streamed as they are made.
    """
    from ...arithmetic.solve import solve_strides

    d = dilation or (1, 1)
    solved: list[tuple[str, Any]] = []
    for size in inputs:
        problems = []
        for axis in (0, 1):
            pad_axis = padding
            if isinstance(padding, tuple):
                pad_axis = padding[axis]
            problems.append(
                (
                    size[axis],
                    target[axis],
                    kernel[axis],
                    d[axis],
                    None if stride is None else stride[axis],
                    pad_axis,
                )
            )
        labels = ["H", "W"]
        if problems[0] == problems[1]:
            problems, labels = problems[:1], ["H, W"]
        for label, (n, out, k, dil, st, pad) in zip(labels, problems, strict=True):
            max_padding = k // 2 if pool else None
            try:
                found = solve_strides(n, out, k, dil, st, pad, max_padding)
            except ShapeError as exc:
                raise fail(exc) from None
            if not found:
                raise click.UsageError(
                    f"no stride and padding turn {n} into {out} with a {k}-wide "
                    f"{'window' if pool else 'kernel'}"
                    + (f" (dilation {dil})" if dil != 1 else "")
                    + (f" and stride {st}" if st is not None else "")
                )
            solved.append((label, found))
    if fmt == "table":
        _solve_table(solved, show_all)
    else:
        from ...arithmetic.limits import check_listed_choices

        check_listed_choices(sum(found.count for _, found in solved), f"--{fmt}")
        _stream(_solve_lines(solved, fmt))


def _solve_rows(solved: Sequence[tuple[str, Any]]) -> Iterator[dict[str, Any]]:
    """One row per choice, in order (lazily: there may be billions)."""
    for label, found in solved:
        n, out, k, dil = found.n, found.out, found.k, found.dilation
        for s, before, after in found.choices():
            yield {
                "axis": label,
                "n": n,
                "out": out,
                "kernel": k,
                "dilation": dil,
                "stride": s,
                "pad_before": before,
                "pad_after": after,
                "padding": str(before) if before == after else f"{before}:{after}",
                "total_padding": before + after,
                "note": ", ".join(padding_words(n, k, s, (before, after), dil)),
                "formula": conv_formula(n, k, s, (before, after), dil),
            }


def _solve_lines(solved: Sequence[tuple[str, Any]], fmt: str) -> Iterator[str]:
    """Write the choices as JSON (a list, as ``to_json`` writes it), CSV or ``stride padding`` lines."""
    if fmt == "quiet":
        for _, found in solved:
            for s, before, after in found.choices():
                yield f"{s} {before}\n" if before == after else f"{s} {before}:{after}\n"
        return
    rows = _solve_rows(solved)
    if fmt == "csv":
        from ...output import to_csv

        yield to_csv([], SOLVE_HEADERS)
        for row in rows:
            yield to_csv([row], SOLVE_HEADERS).partition("\n")[2]
    else:
        from ...output import to_json

        yield "["
        for index, row in enumerate(rows):
            item = to_json(row).replace("\n", "\n  ")
            yield f"{',' if index else ''}\n  {item}"
        yield "\n]\n"


def _stream(pieces: Iterator[str], chunk: int = 1 << 16) -> None:
    """Write ``pieces`` to stdout in chunks of about ``chunk`` characters."""
    buffer: list[str] = []
    size = 0
    for piece in pieces:
        buffer.append(piece)
        size += len(piece)
        if size >= chunk:
            click.echo("".join(buffer), nl=False)
            buffer, size = [], 0
    click.echo("".join(buffer), nl=False)


#: the table of --out shows at most this many rows (runs of strides) for one
#: problem (one --in, both axes alike); several share about 6
SOLVE_ROWS = 10


def _solve_table(solved: Sequence[tuple[str, Any]], show_all: bool) -> None:
    """Print the choices as runs of strides: at most :data:`SOLVE_ROWS` rows unless ``show_all``.

    One problem (one input, both axes alike) names itself in the title; several
    get the ``axis`` and ``n → out`` columns. A run of strides is checked with
    the formula in ``s`` (and ``p``, for ``same`` padding that grows with ``s``).
    """
    from itertools import islice

    from ...output import color_enabled, render_table

    one = len(solved) == 1
    # several problems have four more columns, so their rows are taller
    limit = None if show_all else SOLVE_ROWS if one else max(2, 6 // len(solved))
    rows = []
    counts = []
    cut = ranged = False
    for label, found in solved:
        n, out, k, dil = found.n, found.out, found.k, found.dilation
        span = effective_kernel_size(k, dil)
        runs = list(islice(found.ranges(), None if limit is None else limit + 1))
        if limit is not None and len(runs) > limit:
            runs, cut = runs[:limit], True
        for run in runs:
            before, after = run.before, run.after
            growing = run.step and run.count > 1
            if run.count == 1:
                check = conv_formula(n, k, run.first, (before, after), dil)
            else:
                ranged = True
                p = "p" if growing else str(run.total)
                check = f"⌊({n} − {span} + {p} + s)/s⌋ = {out}"
            strides = str(run.first) if run.count == 1 else f"{run.first}–{run.last}"
            if len(strides) > 20:  # two lines rather than a table wider than the screen
                strides = strides.replace("–", "–\n")
            cells = [
                strides,
                "same" if growing else str(before) if before == after else f"{before}:{after}",
                f"{run.total}–{run.last_total}" if growing else str(run.total),
                ", ".join(run.words),
                check,
            ]
            if not one:
                kernel = str(k) if dil == 1 else f"{k} d{dil}"
                cells = [label, f"{n} → {out}", kernel, *cells]
            rows.append(cells)
        if found.count > len(runs):
            where = "" if one else f"{label} {n} → {out}: "
            counts.append(f"{where}{found.count:,} choices in all")
    headers = ["--s", "--p", "p", "note", "check"]
    title = "Stride and padding choices"
    if one:
        label, found = solved[0]
        kernel = f"k {found.k}" + ("" if found.dilation == 1 else f" d{found.dilation}")
        axes = "both axes" if label == "H, W" else f"axis {label}"
        title = f"{title}: {found.n} → {found.out}, {kernel}, {axes}"
    else:
        headers = ["axis", "n → out", "k", *headers]
    caption = None
    if counts or cut:
        notes = [*counts, "s: any stride of the row's range"] if ranged else counts
        if cut:
            notes.append("the first rows shown, --all shows every row")
        notes.append("--csv, --json or --quiet list every choice")
        caption = "; ".join(notes)
    echo_table(
        render_table(
            headers,
            rows,
            title=title,
            caption=caption,
            right=["k", "--s", "p"],
            no_wrap=["n → out"],
            width=width(),
            color=color_enabled(sys.stdout),
        )
    )
