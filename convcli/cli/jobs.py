"""Where a batch's results go: pair each input with its output, and guard the outputs.

Shared by ``filter``, ``pool``, ``gallery`` and the tiled and pyramid routes:
:func:`plan_jobs` turns the command line's inputs (files, folders, ``-``,
URLs) and ``-o``/``--out-dir`` into :class:`Job` values, and
:func:`check_target` refuses to write over an input or an existing file.
Running the jobs is :mod:`convcli.cli.batch`'s work.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import click

from ..errors import ConvcliError, ImageError
from ..suffixes import IMAGE_FORMATS, IMAGE_SUFFIXES


@dataclass(frozen=True)
class WriteOptions:
    """How results are encoded and where they may go."""

    format: str | None = None
    overwrite: bool = False
    png_compression: int = 1
    jpeg_quality: int = 90
    max_pixels: int | None = None
    threads: int | None = None  # the PNG writer's (--threads)


@dataclass(frozen=True)
class Job:
    """One input and the output it is written to."""

    source: str
    target: str
    #: written beside its input under a name convcli chose (so the path is shown)
    beside: bool = False
    #: the manifest's SHA-256 of an existing output (--skip-existing checks it)
    expect_sha256: str | None = None


#: The longest tag :func:`derived_name` puts between an input's stem and its suffix.
MAX_TAG = 40


def derived_name(source: str, tags: Sequence[str], fmt: str | None = None) -> str:
    """Name the file a result goes to without -o or --out-dir: beside its input.

    ``<dir>/<stem>-<tag>.<suffix>``, where the tag joins ``tags`` (what was
    done: kernel names, ``max8``) with ``-``, keeps only ``[A-Za-z0-9._-]``
    (``gaussian:sigma=3`` -> ``gaussian-sigma3``), and is cut to
    :data:`MAX_TAG` characters. The suffix is the one ``fmt`` names, else the
    input's own (lower-cased).

    Examples
    --------
    >>> derived_name("photos/img.PNG", ["gaussian:sigma=3", "laplacian"])
    'photos/img-gaussian-sigma3-laplacian.png'
    >>> derived_name("img.png", ["max2x3"], "jpeg")
    'img-max2x3.jpg'
    """
    words = []
    for tag in tags:
        tag = tag.replace("=", "")  # sigma=3 -> sigma3
        tag = re.sub(r"[^A-Za-z0-9._-]+", "-", tag)  # every other character splits words
        words.append(tag)
    text = re.sub(r"-{2,}", "-", "-".join(words)).strip("-.")
    text = text[:MAX_TAG].rstrip("-.") or "out"
    from ..images.urls import is_url, url_stem

    if is_url(source):  # beside it at the same URL (s3://b/in/a.png -> s3://b/in/a-sobel.png)
        return f"{source.rpartition('/')[0]}/{url_stem(source)}-{text}{_suffix(source, fmt)}"
    path = Path(source)
    return str(path.with_name(f"{path.stem}-{text}{_suffix(source, fmt)}"))


def _suffix(source: str, fmt: str | None) -> str:
    """Return the extension of an output made from ``source``: ``fmt``'s, else the input's."""
    if fmt is not None:
        return "." + fmt.lower().lstrip(".").replace("jpeg", "jpg").replace("tiff", "tif")
    if source == "-":
        return ".png"
    return Path(source).suffix.lower()


def plan_jobs(
    inputs: tuple[str, ...],
    output: str | None,
    out_dir: str | None,
    fmt: str | None,
    tags: Sequence[str] = (),
    *,
    create: bool = True,
) -> list[Job]:
    """Pair each input with its output, or raise a click.UsageError saying what is missing.

    With -o or --out-dir the output is that (the folder is made unless
    ``create`` is False, as for ``--plan``). Without either, one input goes to
    standard output when that is not a terminal (``convcli filter a.png -k
    sobel > b.png``), and otherwise, like every input of a batch, to
    :func:`derived_name` ``(input, tags, fmt)`` beside it.
    """
    from ..images.atomic import check_stdin_data, stdout_is_terminal

    if output and out_dir:
        raise click.UsageError("give either -o/--output or --out-dir, not both")
    _check_format(fmt)
    files = _expand_inputs(inputs)
    if files == ["-"]:
        check_stdin_data(error=click.UsageError)  # before any spinner: it would wait forever
    folders = [i for i in inputs if i != "-" and os.path.isdir(i)]
    batch = len(files) > 1 or bool(folders)
    if folders and not out_dir and not output:
        raise click.UsageError(
            f"{folders[0]} is a directory: give --out-dir DIR (results written into the "
            "directory itself would be read again as inputs by the next run)"
        )
    if output:
        if batch:
            raise click.UsageError(
                f"{len(files)} inputs: -o names one file; give --out-dir DIR, or neither "
                "to write each result beside its input"
            )
        return [Job(files[0], output)]
    if not out_dir:
        if not batch and not stdout_is_terminal():
            return [Job(files[0], "-")]
        if files == ["-"]:
            raise click.UsageError(
                "standard input has no file name to write beside: give -o FILE, or "
                "redirect standard output"
            )
    elif create:
        _make_out_dir(out_dir)
    jobs = []
    seen: dict[str, str] = {}
    for src in files:
        target = _target(src, out_dir, fmt, tags)
        if target in seen:
            raise click.UsageError(f"{seen[target]} and {src} would both be written to {target}")
        seen[target] = src
        jobs.append(Job(src, target, beside=not out_dir))
    return jobs


def _check_format(fmt: str | None) -> None:
    """Refuse a ``--format`` that names no image format (a usage error)."""
    if fmt is not None and fmt.lower().lstrip(".") not in IMAGE_FORMATS:
        known = ", ".join(sorted(IMAGE_FORMATS))
        raise click.BadParameter(f"unknown format {fmt!r} (known: {known})", param_hint="--format")


def _expand_inputs(inputs: tuple[str, ...]) -> list[str]:
    """List the files the inputs name: each folder's image files (sorted), others as given."""
    files: list[str] = []
    for item in inputs:
        if item != "-" and os.path.isdir(item):
            found = []
            for p in sorted(Path(item).iterdir()):
                if p.suffix.lower() not in IMAGE_SUFFIXES:
                    continue
                if p.is_file():
                    found.append(str(p))
                else:  # said, never skipped in silence
                    click.echo(f"warning: skipping {p}: {_not_a_file(p)}", err=True)
            if not found:
                raise click.UsageError(f"{item}: directory holds no image files")
            files.extend(found)
        else:
            files.append(item)
    if files.count("-") > 1 or ("-" in files and len(files) > 1):
        raise click.UsageError(
            "standard input ('-') can only be the single input; every INPUT is read, "
            "so for standard output give -o - (or redirect it with >)"
        )
    return files


def _make_out_dir(out_dir: str) -> None:
    """Create ``--out-dir`` (a URL's folders need no making), or raise a UsageError."""
    from ..images.urls import is_url

    if is_url(out_dir):
        return
    try:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise click.UsageError(f"--out-dir {out_dir}: cannot create it ({exc.strerror})") from exc


def _target(src: str, out_dir: str | None, fmt: str | None, tags: Sequence[str]) -> str:
    """Return where the result of ``src`` goes: into ``out_dir``, else beside it."""
    from ..images.urls import is_read_only_url, is_url, url_join, url_stem

    if out_dir:
        stem = "stdin" if src == "-" else url_stem(src) if is_url(src) else Path(src).stem
        name = stem + _suffix(src, fmt)
        return url_join(out_dir, name) if is_url(out_dir) else str(Path(out_dir) / name)
    if is_read_only_url(src):
        raise click.UsageError(
            f"{src}: an {src.split('://', 1)[0].lower()}:// input cannot have its result "
            "written beside it (read-only): give -o FILE or --out-dir DIR"
        )
    return derived_name(src, tags, fmt)


def _not_a_file(path: Path) -> str:
    """Say why a folder entry with an image's name is not read."""
    if path.is_symlink() and not path.exists():
        return f"a symlink to {os.readlink(path)}, which does not exist"
    if path.is_dir():
        return "a directory"
    return "not a regular file"


#: glibc's ``mallopt`` parameters (``malloc.h``): freed memory kept for reuse, the
#: size from which a block is mapped on its own
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def reuse_freed_memory(mapped_from: int = 16 << 20, kept: int = 64 << 20) -> bool:
    """Let a batch's process reuse the memory of one file's arrays for the next (glibc).

    glibc maps every block of more than 128 KiB (an image's pixels, its
    float planes, Pillow's buffers) on its own and gives it back when it is
    freed, so every file page-faults all its arrays in again: about 600
    faults and a third of the CPU of a 512² JPEG's read, filter and write.
    Blocks below `mapped_from` bytes come from the heap instead, and up to
    `kept` bytes of freed heap stay with the process, so the memory a batch
    holds is bounded by one file's arrays plus `kept`, whatever the number
    of files. Returns False where there is no glibc ``mallopt`` (nothing
    changes there).
    """
    import ctypes  # numpy has imported it already

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, mapped_from) and mallopt(_M_TRIM_THRESHOLD, kept))


class OutputExistsError(ConvcliError):
    """A batch's output exists and ``--overwrite`` was not given."""


def check_target(job: Job, options: WriteOptions) -> None:
    """Refuse to write over an input, or over an existing file without --overwrite."""
    from ..images.io import same_file
    from ..images.urls import output_exists

    if same_file(job.source, job.target) or job.source == job.target != "-":
        raise ConvcliError(f"{job.target}: is the input; convcli never overwrites an input")
    if not options.overwrite and output_exists(job.target):
        raise OutputExistsError(f"{job.target} exists; pass --overwrite to replace it")


def extension_format(path: str) -> str | None:
    """Return the format a file's extension names, or None if it names none."""
    from ..images.io import output_format

    try:
        return output_format(path)
    except ImageError:
        return None
