"""``convcli kernels``: list the built-in kernels, show one, write it to a file."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import click

from .options import lasting_output
from .params import KERNEL

if TYPE_CHECKING:
    import numpy as np

    from ..kernels.kernel import Kernel

LIST_FORMATS = ("table", "text", "json", "csv")
SHOW_FORMATS = ("table", "text", "json", "npy")
LIST_HEADERS = ["name", "usage", "aliases", "size", "sum", "separable", "description"]


def _rows() -> list[dict[str, Any]]:
    """One row per built-in kernel (made with its default parameters)."""
    from ..kernels.catalogue import KERNELS, kernel_names

    rows = []
    for name in kernel_names(aliases=False):
        factory = KERNELS[name]
        kernel = factory()
        aliases = [a for a in factory.aliases]
        rows.append(
            {
                "name": name,
                "usage": factory.usage,
                "aliases": aliases,
                "size": f"{kernel.shape[0]}x{kernel.shape[1]}",
                "sum": None if kernel.is_magnitude else _round(kernel.sum),
                "separable": kernel.is_separable,
                "description": factory.description,
            }
        )
    return rows


def _round(value: float) -> float | int:
    """Round away float noise; a whole number becomes an int."""
    value = round(value, 12)
    return int(value) if float(value).is_integer() else value


def _color() -> bool:
    """Tell whether standard output takes colour."""
    from ..output import color_enabled

    return color_enabled(sys.stdout)


def _list(fmt: str) -> None:
    """Print the built-in kernels as a table, tab-separated text, JSON or CSV."""
    from ..output import render_table, to_csv, to_json

    rows = _rows()
    if fmt == "json":
        click.echo(to_json(rows))
        return
    if fmt == "csv":
        flat = [{**r, "aliases": " ".join(r["aliases"])} for r in rows]
        click.echo(to_csv(flat, LIST_HEADERS), nl=False)
        return

    def text(r: dict[str, Any]) -> list[str]:
        total = "—" if r["sum"] is None else f"{r['sum']:g}"
        sep = "yes" if r["separable"] else "no"
        usage = r["usage"] + (f" (alias {', '.join(r['aliases'])})" if r["aliases"] else "")
        return [usage, r["size"].replace("x", "×"), total, sep, r["description"]]

    if fmt == "text":
        for r in rows:
            click.echo("\t".join(text(r)))
        return
    click.echo(
        render_table(
            ["kernel", "size", "sum", "separable", "description"],
            [text(r) for r in rows],
            right=["size", "sum"],
            caption="sizes with default parameters; sum — is a gradient magnitude "
            "sqrt(gx² + gy²); `convcli kernels show NAME` prints the values",
            width=_width(),
            color=_color(),
        ),
        nl=False,
    )


def _width() -> int:
    """Return the terminal's (or ``COLUMNS``') width, 80 on a pipe, at most 160."""
    from ..output import table_width

    return min(160, table_width(sys.stdout))


#: ``--format`` of the list, for ``convcli kernels`` and ``convcli kernels list`` alike
_list_format_option = click.option(
    "--format",
    "-f",
    "fmt",
    type=click.Choice(LIST_FORMATS, case_sensitive=False),
    default="table",
    show_default=True,
    help="List as a table, tab-separated text, JSON or CSV.",
)


@click.group("kernels", invoke_without_command=True)
@_list_format_option
@click.pass_context
def kernels_cmd(ctx: click.Context, fmt: str) -> None:
    """List the built-in kernels: size, sum, separability and what each does.

    `convcli kernels show SPEC` prints one kernel's values and writes it in a
    form `convcli filter -k FILE` reads back.

    \N{BACKSPACE}
    Example:
      convcli kernels
      convcli kernels --format json
      convcli kernels show gaussian:size=5,sigma=1
      convcli kernels show sobel-x --format text -o sobel-x.txt
    """
    if ctx.invoked_subcommand is None:
        _list(fmt.lower())


@kernels_cmd.command("list")
@_list_format_option
def list_cmd(fmt: str) -> None:
    """List the built-in kernels (the same as `convcli kernels`).

    \N{BACKSPACE}
    Example:
      convcli kernels list --format csv
    """
    _list(fmt.lower())


#: Rows or columns beyond which `kernels show` prints only the corners.
MAX_SHOWN = 32
#: Rows (and columns) kept at each end of a larger kernel.
CORNER = 8


def _corners(n: int) -> list[int | None]:
    """List the indices shown along a side of ``n``: all, or the ends with None for the gap."""
    if n <= MAX_SHOWN:
        return list(range(n))
    return [*range(CORNER), None, *range(n - CORNER, n)]


def _shade(value: float, top: float) -> str:
    """Choose the style of a nonzero weight: red if negative, green if positive.

    The bright shade is for a weight larger than half the largest, so -2 and
    -1 of Sobel differ.

    The tables use the 16 standard colours (every terminal shows them, the same way);
    dark shades take white text and bright ones black, so every value stays readable.
    """
    hue = "red" if value < 0 else "green"
    if abs(value) > top / 2:
        return f"bold black on bright_{hue}"
    return f"bold white on {hue}"


def _shaded(weights: np.ndarray, title: str, color: bool) -> str:
    """Render the values as tables (text), background shaded by sign and magnitude.

    A kernel wider or taller than :data:`MAX_SHOWN` shows its corners only,
    ``…`` in place of the rest, so the table costs the same at any size. A
    kernel too wide for the terminal is shown in blocks of whole columns,
    each titled with the columns it holds, so that no line is wider than the
    terminal and no value is cut.
    """
    from rich.text import Text

    from ..output import render_table
    from ..output.numbers import matrix_formatter

    top = float(abs(weights).max()) or 1.0
    number = matrix_formatter(weights.ravel())  # one format for the whole matrix
    picked_rows, picked_cols = _corners(weights.shape[0]), _corners(weights.shape[1])
    if len(picked_rows) < weights.shape[0] or len(picked_cols) < weights.shape[1]:
        note = f"corners of {weights.shape[0]}×{weights.shape[1]}; --format text has every value"
        title = f"{title} ({note})" if title else note
    rows = []
    for i in picked_rows:
        cells = []
        for j in picked_cols:
            if i is None or j is None:
                cells.append(Text("…", style="dim"))
                continue
            v = float(weights[i, j])
            text = number(v)
            style = "dim" if v == 0 else _shade(v, top) if color else ""
            cells.append(Text(text, style=style))
        rows.append(cells)
    width = _width()
    blocks = _column_blocks(
        [max(len(row[k].plain) for row in rows) for k in range(len(rows[0]))], width
    )
    out = []
    for first, stop in blocks:
        shown = [j for j in picked_cols[first:stop] if j is not None]
        label = title
        if len(blocks) > 1 and shown:
            span = f"columns {shown[0]}–{shown[-1]}" if len(shown) > 1 else f"column {shown[0]}"
            label = f"{title}: {span}" if title else span
        headers = [str(k) for k in range(first, stop)]
        out.append(
            render_table(
                headers,
                [row[first:stop] for row in rows],
                title=label or None,
                right=headers,
                width=width,
                color=color,
                show_header=False,
            )
        )
    return "".join(out)


def _column_blocks(widths: list[int], width: int) -> list[tuple[int, int]]:
    """Split columns of these text widths into runs whose boxed table fits ``width``.

    A boxed table is each column's text plus three characters (a space each
    side and a rule), plus one for the last rule. Each block holds at least
    one column, so a column wider than the terminal is a block of its own.

    Examples
    --------
    >>> _column_blocks([8, 11, 11, 10], 80)
    [(0, 4)]
    >>> _column_blocks([8, 11, 11, 10], 30)
    [(0, 2), (2, 4)]
    """
    blocks: list[tuple[int, int]] = []
    first, used = 0, 1
    for k, size in enumerate(widths):
        if k > first and used + size + 3 > width:
            blocks.append((first, k))
            first, used = k, 1
        used += size + 3
    blocks.append((first, len(widths)))
    return blocks


@kernels_cmd.command("show")
@click.argument("spec", type=KERNEL, metavar="KERNEL")
@click.option(
    "--format",
    "-f",
    "fmt",
    type=click.Choice(SHOW_FORMATS, case_sensitive=False),
    default=None,
    help="table (shaded values), text (the kernel-file format), json or npy; all but table "
    "are read back by `convcli filter -k FILE` [default: table, or from -o's extension].",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True),
    callback=lasting_output,
    help="Write to this file instead of standard output.",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
def show_cmd(spec: Kernel, fmt: str | None, output: str | None, overwrite: bool) -> None:
    """Print one kernel's values, or write it as a kernel file.

    KERNEL is a built-in name with parameters (gaussian:size=5,sigma=1), an
    inline matrix or a kernel file. The table shades positive weights green
    and negative ones red, bright where a weight is over half the largest
    (on a terminal).

    \N{BACKSPACE}
    Example:
      convcli kernels show gaussian:size=5,sigma=1
      convcli kernels show log:size=7 --format json -o log.json
      convcli filter photo.png -k log.json --range offset -o log.png
    """
    from ..images.atomic import write_bytes

    kernel = spec
    if fmt is None:
        ext = os.path.splitext(output or "")[1].lower()
        fmt = {".npy": "npy", ".json": "json", "": "table"}.get(ext, "text")
        if output is not None and output != "-" and fmt == "table":
            fmt = "text"
    fmt = fmt.lower()
    if fmt == "table":
        if output not in (None, "-"):
            raise click.UsageError(
                "--format table prints to the terminal; use text, json or npy with -o"
            )
        _show_table(kernel)
        return
    data = _kernel_bytes(kernel, fmt)
    write_bytes(output, data, overwrite=overwrite, binary=fmt == "npy", what=".npy data")


def _show_table(kernel: Kernel) -> None:
    """Print the kernel's name, facts and description, then its values shaded."""
    import numpy as np

    from ..output import stdout_console

    color = _color()
    console = stdout_console(
        force_terminal=color,
        no_color=not color,
        highlight=False,
        width=_width(),
    )
    h, w = kernel.shape
    facts = [f"{h}×{w}"]
    if not kernel.is_magnitude:
        facts.append(f"sum {_round(kernel.sum):g}")
    facts.append("separable" if kernel.is_separable else "not separable")
    params = ",".join(
        f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in kernel.params.items()
    )
    label = kernel.name + (f":{params}" if params else "")
    parts: tuple[np.ndarray, ...]
    if kernel.parts is not None:  # a gradient magnitude: its two kernels
        parts = kernel.parts
    else:
        parts = (kernel.weights,)  # may be refused
    console.print(f"[bold]{label}[/bold]: {', '.join(facts)}")
    if kernel.description:
        console.print(kernel.description, markup=False)
    titles = ["x part", "y part"] if kernel.is_magnitude else [""]
    for part, title in zip(parts, titles, strict=True):
        click.echo(_shaded(np.asarray(part), title, color), nl=False)
    if kernel.offset:
        console.print(f"offset {kernel.offset:g} added after the sum")


def _kernel_bytes(kernel: Kernel, fmt: str) -> bytes:
    """Encode the kernel as a file ``convcli filter -k FILE`` reads: text, json or npy."""
    import json

    import numpy as np

    from ..errors import ConvcliError
    from ..kernels.files import format_kernel_text

    if kernel.is_magnitude and fmt != "text":
        raise ConvcliError(
            f"kernel {kernel.name!r} is the magnitude of two kernels and has no single "
            f"matrix; write its parts (e.g. {kernel.name}-x and {kernel.name}-y) instead"
        )
    if fmt == "text":
        return format_kernel_text(kernel).encode("utf-8")
    if fmt == "json":
        head: dict[str, Any] = {"name": kernel.name, "description": kernel.description}
        if kernel.offset:
            head["offset"] = kernel.offset
        lines = [
            f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}," for k, v in head.items()
        ]
        rows = ",\n".join(f"    {json.dumps(row)}" for row in kernel.weights.tolist())
        text = "{\n" + "\n".join(lines) + f'\n  "weights": [\n{rows}\n  ]\n}}\n'
        return text.encode("utf-8")
    from ..teaching.matrices import matrix_bytes

    data = matrix_bytes(np.asarray(kernel.weights, dtype=np.float64), "npy")
    if kernel.offset:
        raise ConvcliError(
            f"kernel {kernel.name!r} has an offset ({kernel.offset:g}) that .npy cannot "
            "hold; use --format text or json"
        )
    return data
