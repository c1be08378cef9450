"""Routing ``convcli filter`` to the tiled path for images larger than memory.

An input goes the tiled way (:mod:`convcli.images.tiled`, or
:mod:`convcli.cluster.tiled` with ``--scheduler``) when it is a ``.zarr``
array, a tiled TIFF with more pixels than ``--max-pixels``, or when the
output is a ``.zarr``. Everything else keeps the whole-image path.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import click

TIFF_SUFFIXES = (".tif", ".tiff", ".btf", ".tf8")


def chunk_option(f: Callable) -> Callable:
    """``--chunk``: the block side of an image filtered in tiles on a cluster."""
    return click.option(
        "--chunk",
        type=click.IntRange(min=1),
        default=None,
        help="With --scheduler, for a tiled TIFF or .zarr: block side in pixels, a multiple "
        "of the file's tile and at least 8x the kernel's halo (default about 2048).",
    )(f)


def is_streamed(source: str, output: str | None, max_pixels: int | None) -> bool:
    """Whether ``source`` (written to ``output``) takes the tiled path."""
    if source == "-":
        return False
    names = (source, output or "")
    if not any(n.rstrip("/\\").lower().endswith((".zarr", *TIFF_SUFFIXES)) for n in names):
        return False  # neither a TIFF nor a zarr array: no need to import the tiled machinery
    from ..images.tiled import is_zarr_path, probe_tiff

    if is_zarr_path(source) or (output is not None and is_zarr_path(output)):
        return True
    if max_pixels is None or Path(source).suffix.lower() not in TIFF_SUFFIXES:
        return False
    if not os.path.isfile(source):
        return False
    src = probe_tiff(source)
    return src is not None and src.tile is not None and src.pixels > max_pixels


def _target(source: str, output: str | None, out_dir: str | None, tags: list[str]) -> str:
    from .batch import derived_name

    if output:
        return output
    suffix = ".zarr" if source.rstrip("/").lower().endswith(".zarr") else ".tif"
    if out_dir:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        return str(Path(out_dir) / (Path(source.rstrip("/")).stem + suffix))
    return derived_name(source.rstrip("/"), tags, suffix.lstrip("."))


def run_streamed(
    sources: list[str],
    *,
    output: str | None,
    out_dir: str | None,
    tags: list[str],
    kernels: tuple,
    settings,
    value_range: str | None,
    gray: bool,
    alpha: str,
    overwrite: bool,
    quiet: bool,
    scaling,
    chunk: int | None,
) -> None:
    """Filter each source in tiles (or on the cluster ``scaling`` names)."""
    from ..images.tiled import is_zarr_path

    if len(kernels) != 1:
        raise click.UsageError(
            "an image filtered in tiles takes one --kernel (run filter again on the .zarr "
            "it writes to chain another)"
        )
    if gray or alpha != "keep":
        raise click.UsageError(
            "--gray and --alpha are not available for an image filtered in tiles"
        )
    if output and len(sources) > 1:
        raise click.UsageError(f"{len(sources)} inputs: -o names one file; give --out-dir DIR")
    if output == "-":
        raise click.UsageError("an image filtered in tiles is written to a file: give -o FILE")
    rng = value_range or "auto"
    kernel = kernels[0]
    if scaling is not None and scaling.enabled:
        from ..cluster.connect import open_client, parse_scheduler
        from ..cluster.tiled import filter_on_cluster

        spec = parse_scheduler(scaling.scheduler, scaling.scheduler_file)
        targets = [_target(s, output, out_dir, tags) for s in sources]
        for target in targets:
            if not is_zarr_path(target):
                raise click.UsageError(
                    f"{target}: with --scheduler an image in tiles is written to a .zarr"
                )
        with open_client(spec) as client:
            if not quiet:
                click.echo(f"cluster: {spec.describe()}", err=True)
            for source, target in zip(sources, targets, strict=True):
                _, side = filter_on_cluster(
                    client,
                    source,
                    target,
                    kernel,
                    settings,
                    value_range=rng,
                    chunk=chunk,
                    overwrite=overwrite,
                )
                if not quiet:
                    click.echo(f"wrote {target} (blocks of {side}x{side})", err=True)
        return
    if chunk is not None:
        raise click.UsageError("--chunk needs --scheduler (or --scheduler-file)")
    from ..images.tiled import filter_tiled

    for source in sources:
        target = _target(source, output, out_dir, tags)
        filter_tiled(source, target, kernel, settings, value_range=rng, overwrite=overwrite)
        if not quiet:
            click.echo(f"wrote {target}", err=True)


__all__ = ["chunk_option", "is_streamed", "run_streamed"]
