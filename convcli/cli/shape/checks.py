"""The checks ``convcli shape`` makes of its options against each other (usage errors, exit 2).

Each raises :class:`click.UsageError` naming the options that clash; none
reads a file or imports more than Click.
"""

from __future__ import annotations

from typing import Any

import click

Pair = tuple[int, int]

__all__ = ["check_in_range", "check_kinds", "check_layer", "check_network", "refuse_with_model"]


def refuse_with_model(model: str, options: dict[str, Any]) -> None:
    """Refuse layer and network options with a model file: it describes its own layers."""
    given = [name for name, value in options.items() if value]
    if given:
        raise click.UsageError(f"{given[0]} cannot be used with a model file ({model})")


def check_network(sources: list[str], window: dict[str, Any], inputs: tuple[Pair, ...]) -> None:
    """One network source, no single-layer option, at most one --in."""
    if len(sources) > 1:
        raise click.UsageError(f"use only one of {', '.join(sources)}")
    for name, value in window.items():
        if value:
            raise click.UsageError(
                f"{name} describes a single layer; it cannot be used with {sources[0]}"
            )
    if len(inputs) > 1:
        raise click.UsageError(f"{sources[0]} takes one --in (got {len(inputs)})")


def check_in_range(
    in_range: Pair | None,
    inputs: tuple[Pair, ...],
    depth: int | None,
    dtype: str | None,
    count_as: str | None,
) -> None:
    """Refuse, with a network's --in-range, the options that it replaces or does not take."""
    if in_range is None:
        return
    if count_as:
        raise click.UsageError("--count-as counts a network's MACs: drop --in-range")
    if inputs or depth or dtype:
        raise click.UsageError("--in-range gives the sizes: drop --in, --depth and --dtype")


def check_layer(window: dict[str, Any], channels: int | None) -> None:
    """Check the single-layer options against each other (usage errors, exit 2)."""
    check_kinds(window, channels)
    kernel = window["--k"]
    if window["--out"] is not None:
        if kernel is None:
            raise click.UsageError("--out needs --k (the kernel size)")
        for name in ("--transposed", "--ceil-mode", "--filters", "--dense"):
            if window[name]:
                raise click.UsageError(f"--out cannot be combined with {name}")
        return
    if kernel is None:
        if window["--dense"] is None:
            raise click.UsageError("give --k (the kernel size), or --dense N")
        for name in ("--s", "--p", "--d", "--filters", "--transposed", "--pool"):
            if window[name]:
                raise click.UsageError(f"{name} describes a layer's window: it needs --k")


def check_kinds(window: dict[str, Any], channels: int | None) -> None:
    """Check pooling, transposed, filter and bias options against each other."""
    padding, pool = window["--p"], window["--pool"]
    transposed, filters, no_bias = window["--transposed"], window["--filters"], window["--no-bias"]
    if window["--output-padding"] is not None and not transposed:
        raise click.UsageError("--output-padding needs --transposed")
    if window["--ceil-mode"] and not pool:
        raise click.UsageError("--ceil-mode needs --pool")
    if pool and transposed:
        raise click.UsageError("use only one of --pool and --transposed")
    if pool and window["--d"] is not None:
        raise click.UsageError("--d (dilation) does not apply to --pool")
    if pool and (filters or no_bias):
        raise click.UsageError("a pooling layer has no filters or bias: drop --filters/--no-bias")
    if filters and channels is None:
        raise click.UsageError("--filters needs --channels (the input channels C)")
    if no_bias and not (filters or window["--dense"]):
        raise click.UsageError("--no-bias needs --filters or --dense")
    if transposed and isinstance(padding, str) and padding != "valid":
        raise click.UsageError(
            f"--p {padding} does not apply to --transposed: give the forward convolution's "
            "padding as a number"
        )
