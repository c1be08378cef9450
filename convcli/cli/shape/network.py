"""``convcli shape --arch/--layers/--spec``: a network from a preset, the spec language or a file."""

from __future__ import annotations

import sys
from typing import Any

import click

from ...errors import ShapeError
from .common import fail
from .model import show_network

__all__ = ["MAX_CHECKED_SIZES", "load_network", "read_spec", "show_sizes", "show_spec_network"]

Pair = tuple[int, int]


def load_network(
    layers_text: str | None, arch: str | None, spec: Any
) -> tuple[str, list[Any], tuple[int, int, int] | None]:
    """The network's name, layers and default input (C, H, W) from --arch, --spec or --layers."""
    from ...arithmetic.presets import ARCHITECTURES
    from ...arithmetic.spec import load_spec, parse_layers

    if arch:
        preset = ARCHITECTURES[arch]
        return arch, list(preset.layers), preset.input_shape
    if spec is not None:
        name = getattr(spec, "name", "spec")
        try:
            layers, default = load_spec(read_spec(spec, name))
        except ShapeError as exc:
            raise fail(exc, f"--spec {name}: ") from None
        return name, layers, default
    try:
        return "network", parse_layers(layers_text or ""), None
    except ShapeError as exc:
        raise fail(exc, "--layers: ") from None


def show_spec_network(
    size: Pair | None,
    channels: int | None,
    layers_text: str | None,
    arch: str | None,
    spec: Any,
    fmt: str,
    depth: int | None = None,
    dtype: str | None = None,
    in_range: Pair | None = None,
) -> None:
    """Analyse a network from --arch, --layers or --spec on one input, or solve --in-range."""
    from ...arithmetic.network import analyze_network

    name, layers, default = load_network(layers_text, arch, spec)
    if in_range is not None:
        c = channels or (default[0] if default else 3)
        show_sizes(name, layers, c, in_range, fmt)
        return
    if size is None:
        if default is None:
            raise click.UsageError("give the input size with --in (and --channels, default 3)")
        c, h, w = default
        if channels:
            c = channels
    else:
        c = channels or (default[0] if default else 3)
        h, w = size
    from ...errors import LimitError

    try:
        summary = analyze_network(layers, (c, h, w))
    except LimitError:
        raise
    except ShapeError as exc:
        hint = _nearest_hint(layers, c, h) if h == w else ""
        raise fail(ShapeError(f"{exc}{hint}")) from None

    show_network(name, summary, fmt, depth, dtype or "float32")


def _nearest_hint(layers: list[Any], channels: int, n: int) -> str:
    """``; nearest sizes that work: 296 and 304`` (empty when there is no rule)."""
    from ...arithmetic.insizes import input_rule

    rule = input_rule(layers, channels)
    if rule is None or not rule.offsets:
        return ""
    near = [str(m) for m in rule.nearest(n) if m is not None]
    what = "nearest sizes that work" if len(near) > 1 else "nearest size that works"
    return f"; {what}: {' and '.join(near)} ({rule.text()})"


#: --in-range checks each size when the sizes follow no rule, up to this many
MAX_CHECKED_SIZES = 100_000


def show_sizes(name: str, layers: list[Any], channels: int, bounds: Pair, fmt: str) -> None:
    """--in-range LOW..HIGH: the sizes that work, as a rule and a list.

    The table shows the first 200; ``--json``, ``--csv`` and ``--quiet``
    list them all, up to :data:`~convcli.arithmetic.limits.MAX_LISTED_CHOICES`.
    """
    from itertools import islice

    from ...arithmetic.insizes import input_rule, size_works
    from ...arithmetic.limits import MAX_LISTED_CHOICES
    from ...errors import LimitError
    from ...output import to_json

    low, high = bounds
    rule = input_rule(layers, channels)
    if rule is None:
        if high - low + 1 > MAX_CHECKED_SIZES:
            raise click.UsageError(
                f"--in-range {low}..{high}: these sizes follow no rule and each is checked; "
                f"give at most {MAX_CHECKED_SIZES:,} sizes"
            )
        checked = [n for n in range(low, high + 1) if size_works(layers, channels, n)]
        count, sizes, text = len(checked), iter(checked), "no rule (each size checked)"
    else:
        count, sizes, text = rule.count(low, high), rule.sizes(low, high), rule.text()
    if fmt == "table":
        import textwrap

        from ...output import table_width

        click.echo(f"{name}: sizes {low}..{high} that work: {text} ({count:,} sizes)")
        shown = " ".join(str(n) for n in islice(sizes, 200)) + (" …" if count > 200 else "")
        if shown:
            click.echo(textwrap.fill(shown, table_width(sys.stdout)))
        return
    if count > MAX_LISTED_CHOICES:
        raise LimitError(
            f"--in-range {low}..{high} --{fmt}: {count:,} sizes is over the limit of "
            f"{MAX_LISTED_CHOICES:,} listed one by one; the table (without --{fmt}) gives the "
            "rule, or narrow the range"
        )
    listed = list(sizes)
    if fmt == "json":
        data: dict[str, Any] = {"name": name, "range": [low, high], "rule": text, "sizes": listed}
        if rule is not None:
            data.update(first=rule.first, period=rule.period, offsets=list(rule.offsets))
        click.echo(to_json(data))
    else:
        head = "size\n" if fmt == "csv" else ""
        click.echo(head + "".join(f"{n}\n" for n in listed), nl=False)


def read_spec(spec: Any, name: str) -> str:
    """The text of a ``--spec`` file: UTF-8, at most the size of a file read whole."""
    from ...arithmetic.limits import MAX_READ_BYTES
    from ...errors import LimitError

    try:
        text = spec.read(MAX_READ_BYTES + 1)
    except UnicodeDecodeError as exc:
        raise click.UsageError(
            f"--spec {name}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset "
            f"{exc.start}); a spec is JSON or the layer language"
        ) from None
    if len(text) > MAX_READ_BYTES:
        raise LimitError(
            f"--spec {name}: more than {MAX_READ_BYTES} characters; the limit for a file "
            "convcli reads whole is 256 MiB"
        )
    if "\0" in text:
        raise click.UsageError(
            f"--spec {name}: holds NUL bytes (a binary file?); a spec is JSON or the layer language"
        )
    return text
