"""``convcli shape --arch/--layers/--spec``: a network from a preset, the spec language or a file."""

from __future__ import annotations

from typing import Any

import click

from ...errors import ShapeError
from .common import fail
from .model import show_network

__all__ = ["read_spec", "show_spec_network"]

Pair = tuple[int, int]


def show_spec_network(
    size: Pair | None,
    channels: int | None,
    layers_text: str | None,
    arch: str | None,
    spec: Any,
    fmt: str,
    depth: int | None = None,
    dtype: str | None = None,
) -> None:
    from ...arithmetic.network import analyze_network
    from ...arithmetic.presets import ARCHITECTURES
    from ...arithmetic.spec import load_spec, parse_layers

    default: tuple[int, int, int] | None = None
    name = "network"
    if arch:
        preset = ARCHITECTURES[arch]
        layers, default, name = list(preset.layers), preset.input_shape, arch
    elif spec is not None:
        name = getattr(spec, "name", "spec")
        try:
            layers, default = load_spec(read_spec(spec, name))
        except ShapeError as exc:
            raise fail(exc, f"--spec {name}: ") from None
    else:
        try:
            layers = parse_layers(layers_text or "")
        except ShapeError as exc:
            raise fail(exc, "--layers: ") from None
    if size is None:
        if default is None:
            raise click.UsageError("give the input size with --in (and --channels, default 3)")
        c, h, w = default
        if channels:
            c = channels
    else:
        c = channels or (default[0] if default else 3)
        h, w = size
    try:
        summary = analyze_network(layers, (c, h, w))
    except ShapeError as exc:
        raise fail(exc) from None

    show_network(name, summary, fmt, depth, dtype or "float32")


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
