"""Option decorators shared by the commands, so that each option is defined once.

Option names follow the library's keyword names (``--pad-mode`` is
``pad_mode=``), so a command body only forwards them.
"""

from __future__ import annotations

from collections.abc import Callable

import click

from .params import INT_PAIR, NONNEG_INT_PAIR, PADDING

#: ``--pad-mode`` choices: the engine's PAD_MODES (reflect, the default, first), then
#: its PAD_MODE_ALIASES (zero = constant = zeros, edge = replicate, wrap = circular).
#: Written out so that --help needs no numpy; a test checks them against the engine.
PAD_MODE_CHOICES = (
    "reflect",
    "zeros",
    "symmetric",
    "replicate",
    "circular",
    "zero",
    "constant",
    "edge",
    "wrap",
)


def _stack(*decorators: Callable) -> Callable:
    def apply(f: Callable) -> Callable:
        for decorator in reversed(decorators):
            f = decorator(f)
        return f

    return apply


def geometry_options(default_padding: str = "same", default_pad_mode: str = "reflect") -> Callable:
    """``--stride``, ``--padding``, ``--dilation`` and ``--pad-mode``."""
    return _stack(
        click.option(
            "--stride",
            "-s",
            type=INT_PAIR,
            default="1",
            show_default=True,
            help="Step between windows: N or HxW.",
        ),
        click.option(
            "--padding",
            "-p",
            type=PADDING,
            default=default_padding,
            show_default=True,
            help="Padding per side: N, HxW, before:after, or same / valid / full.",
        ),
        click.option(
            "--dilation",
            "-d",
            type=INT_PAIR,
            default="1",
            show_default=True,
            help="Spacing between kernel taps: N or HxW.",
        ),
        pad_mode_option(default_pad_mode),
    )


def pad_mode_option(
    default: str = "reflect",
    help: str = "How the border is filled (reflect: d c b|a b c d; symmetric: c b a|a b c d).",
) -> Callable:
    """Add ``--pad-mode MODE``: one of :data:`PAD_MODE_CHOICES`.

    The modes are listed in the help text (where it wraps) rather than in the
    metavar (which would run past 80 columns).
    """
    return click.option(
        "--pad-mode",
        type=click.Choice(PAD_MODE_CHOICES, case_sensitive=False),
        metavar="MODE",
        default=default,
        show_default=True,
        help=f"{help} MODE: {', '.join(PAD_MODE_CHOICES)}.",
    )


#: The engine's strategies (convcli.engine.strategies.STRATEGIES, kept here so --help needs no numpy).
STRATEGY_CHOICES = ("auto", "direct", "separable", "fft", "im2col", "native")


def threads_option(f: Callable) -> Callable:
    """``--threads``: how many cores the command computes on.

    The command passes the value on as ``threads=`` to everything that sizes
    a thread pool (the engine, the pixel mapping, pooling, the PNG writer),
    inside ``--jobs`` worker processes too, through the task's bound
    arguments. Unset (None), each of them asks
    :func:`convcli.engine.threads.default_threads`.
    """
    return click.option(
        "--threads",
        type=click.IntRange(min=1),
        default=None,
        help="Threads to compute with (default: $CONVCLI_THREADS, else every usable core).",
    )(f)


def output_padding_option(f: Callable) -> Callable:
    """``--output-padding``: a transposed convolution's extra cells after (bottom, right)."""
    return click.option(
        "--output-padding",
        type=NONNEG_INT_PAIR,
        default="0",
        show_default=True,
        metavar="N|HxW",
        help="With --transposed: extra cells after (bottom, right).",
    )(f)


def engine_options(f: Callable) -> Callable:
    """``--strategy`` and ``--threads``: how the engine computes, and on how many cores."""
    return _stack(
        click.option(
            "--strategy",
            type=click.Choice(STRATEGY_CHOICES, case_sensitive=False),
            default="auto",
            show_default=True,
            help="How each tile is computed: auto picks by a cost model; direct "
            "(shift and add), separable (rank-1 kernels), fft (large kernels), im2col "
            "(patch matrix), native (the C core; see convcli --version). All give the same "
            "result up to rounding.",
        ),
        threads_option,
    )(f)


def is_missing(path: str) -> bool:
    """Tell whether a local input path names nothing (``-`` and URLs are checked when read)."""
    import os

    from ..images.urls import is_url

    return path != "-" and not is_url(path) and not os.path.lexists(path)


def existing_inputs(
    ctx: click.Context, param: click.Parameter, value: str | tuple[str, ...]
) -> str | tuple[str, ...]:
    """Refuse an input file that does not exist before anything runs: a usage error (exit 2).

    As :class:`click.Path` with ``exists=True`` does, but for standard input
    (``-``) and URLs too, which are checked when they are read.
    """
    for path in (value,) if isinstance(value, str) else value:
        if is_missing(path):
            raise click.BadParameter(f"{path}: no such file")
    return value


class VanishingOutput(click.ClickException):
    """An output that would not outlive the command (``memory://``): exit 2, one line."""

    exit_code = 2


def lasting_output(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Refuse a ``memory://`` output: it would vanish when the command exits (exit 2)."""
    from ..images.urls import is_process_memory_url

    if value is not None and is_process_memory_url(value):
        option = "--out-dir" if param.name == "out_dir" else "-o"
        raise VanishingOutput(
            f"{option} {value}: memory:// lives only as long as this process, so the result "
            "would vanish when convcli exits; write to a file or to an s3://, gs:// or "
            "file:// URL"
        )
    return value


def image_output_options(f: Callable) -> Callable:
    """Add where and how image results are written, and how a batch runs."""
    return _stack(
        click.option(
            "-o",
            "--output",
            type=click.Path(allow_dash=True),  # a folder for an existing .zarr output
            callback=lasting_output,
            help="Output file; its extension picks the format. '-' is standard output (PNG unless "
            "--format says otherwise). Default: standard output when it is redirected or "
            "piped, else a file beside the input (see above).",
        ),
        click.option(
            "--out-dir",
            type=click.Path(file_okay=False),
            callback=lasting_output,
            help="Write each result into this directory under its input's name.",
        ),
        click.option(
            "--format",
            "-f",
            "format_",
            metavar="FORMAT",
            help="Output format: png, jpeg, tiff, bmp, webp, gif, ppm, pgm, npy (default: "
            "from the output's extension; in --out-dir, the input's).",
        ),
        click.option("--overwrite", is_flag=True, help="Replace existing output files."),
        click.option(
            "--jobs",
            "-j",
            type=click.IntRange(min=1),
            default=1,
            show_default=True,
            help="Process this many files in parallel processes.",
        ),
        click.option("--quiet", "-q", is_flag=True, help="No progress bar and no notes on stderr."),
        click.option(
            "--max-pixels",
            type=click.IntRange(min=1),
            default=None,
            help="Largest image read whole (default: Pillow's decompression-bomb limit, ~89 MP); "
            "larger ones are refused, but filter streams a larger TIFF or .zarr in tiles.",
        ),
        click.option(
            "--png-compression",
            type=click.IntRange(0, 9),
            default=1,
            show_default=True,
            help="PNG compression: 0 stores, 1 is fast and suits photos and filter results, 2-9 "
            "also try zlib's string matching at that level (slower; smaller for drawings).",
        ),
        click.option(
            "--jpeg-quality",
            type=click.IntRange(1, 100),
            default=90,
            show_default=True,
            help="Quality of JPEG output (WebP is written lossless).",
        ),
    )(f)
