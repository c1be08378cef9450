"""The resource policy: every size convcli would allocate is checked here first (pure Python).

One table of limits, derived from the same 256 MiB default memory budget as
the engine's tiling, so that an absurd request (a 100000-tap box, a kernel
file that is ``/dev/zero``, a JSON kernel nested 2000 levels deep) is a
:class:`~convcli.errors.LimitError` naming the parameter, the size it
would need and the limit, before anything is allocated, never a
``MemoryError``, ``RecursionError`` or a process killed by the system.

Examples
--------
>>> check_kernel_taps(3, 3, "kernel 'box'")
>>> check_kernel_taps(100000, 100000, "kernel 'box'")
Traceback (most recent call last):
...
convcli.errors.LimitError: kernel 'box': 100000×100000 = 10000000000 taps (80.0 GB) is over the limit of 33554432 taps (256 MiB of float64)
>>> check_nesting("[[1, 2], [3, 4]]", "kernel file 'k.json'")
2
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator

from ..errors import LimitError

__all__ = [
    "DEFAULT_MEMORY_BUDGET",
    "FORMAT_MAX_SIDE",
    "MAX_KERNEL_TAPS",
    "MAX_LAYERS",
    "MAX_LEARN_UNKNOWNS",
    "MAX_LEARN_WORK",
    "MAX_LISTED_CHOICES",
    "MAX_NESTING",
    "MAX_OUTPUT_PIXELS",
    "MAX_READ_BYTES",
    "MAX_RESIDUE_CLASSES",
    "MAX_SOLUTIONS",
    "bytes_text",
    "check_allocation",
    "check_format_side",
    "check_kernel_taps",
    "check_layers",
    "check_learn_unknowns",
    "check_learn_work",
    "check_listed_choices",
    "check_nesting",
    "check_output_pixels",
    "check_padded_axis",
    "check_weights_fit",
    "layer_limit",
    "output_pixel_limit",
]

#: The engine's default working-memory budget (the same number as
#: :data:`convcli.engine.tiling.DEFAULT_MEMORY_BUDGET`): bytes of tiles,
#: blocks and scratch one call may hold at once, besides its input and output.
#: Raised by: `memory_budget=` of conv2d and filter2d
DEFAULT_MEMORY_BUDGET = 256 * 2**20
#: A kernel's weights (float64) fit in the budget: 2**25 taps, e.g. 5792×5792. A
#: large box or Gaussian is kept as its two 1-D factors, 2**25 taps each: box:20001
#: filters as two running sums, gaussian:sigma=1000 as two passes of 8001 taps.
#: Raised by: none (a kernel file or array of any size goes to `filter2d`/`conv2d`,
#: which check it against `memory_budget=`; factors go to `filter2d_separable`)
MAX_KERNEL_TAPS = DEFAULT_MEMORY_BUDGET // 8
#: Brackets inside brackets in a JSON kernel or matrix, or a layer spec.
#: Raised by: none (fixed: deeper nesting means a generated or hostile file)
MAX_NESTING = 64
#: The most bytes read from one kernel or matrix file (the budget again).
#: Raised by: none (fixed: a larger kernel is a .npy, which is mapped, not read)
MAX_READ_BYTES = DEFAULT_MEMORY_BUDGET
#: The most pixels an output may have: Pillow's MAX_IMAGE_PIXELS, the default
#: ``--max-pixels`` for inputs (1024 * 1024 * 1024 // 4 // 3). ``--max-pixels``
#: sets it for outputs too (in Python, :func:`output_pixel_limit`); it bounds
#: the padded length of one axis as well.
#: Raised by: `--max-pixels`; in Python, `with output_pixel_limit(n):`
MAX_OUTPUT_PIXELS = 89_478_485

#: The most (stride, before, after) answers solve_stride_padding lists (each
#: about 160 bytes in a list: the budget again); solve_strides counts any
#: number and lists them lazily.
#: Raised by: none (`solve_strides` counts any number)
MAX_SOLUTIONS = DEFAULT_MEMORY_BUDGET // 160
#: The most stride and padding choices ``shape --out`` lists one by one (``--json``,
#: ``--csv``, ``--quiet``: about 350 MB of JSON); its table shows any number as
#: runs of strides.
MAX_LISTED_CHOICES = 1_000_000
#: The most residue classes ``uncovered_cells`` walks on an axis of more than 2**20
#: cells (the windows' stride against the taps' dilation; a few integer operations each).
MAX_RESIDUE_CLASSES = 2**16
#: The most rows a network's analysis holds (one per layer, block and addition;
#: ResNet-152 has about 500). ``N*(...)`` counts its layers N times up to 64 layers
#: in all; a longer repeat is kept as its first and last repetitions and one row
#: for those between, whatever N (``1000000*relu`` is one row), so only layers
#: really written out, or repeats nested many deep, reach the limit.
#: Raised by: `--max-layers` of shape; in Python, `with layer_limit(n):`
MAX_LAYERS = 10_000
#: The most unknowns (kernel taps, plus one for a bias) `learn` solves for: its
#: (n + 1)² float64 factor of the normal equations fits in a quarter of the
#: budget (2896² × 8 bytes = 64 MiB), e.g. a 53×53 kernel.
#: Raised by: none (fixed)
MAX_LEARN_UNKNOWNS = 2896
#: The most multiply-adds `learn` spends folding its patch matrix into the factor
#: (a QR update per band of target rows, about 5·m·n² for m equations and n
#: unknowns): about five minutes at the 30-60 GFLOP/s of two cores. Estimated
#: before any work, so a run that would take an hour is refused at once.
#: Raised by: none (use a smaller `--size`, or a crop of the image: the work
#: grows with both)
MAX_LEARN_WORK = 10**13


_OUTPUT_LIMIT: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "convcli_output_pixel_limit", default=None
)


@contextlib.contextmanager
def output_pixel_limit(pixels: int | None) -> Iterator[None]:
    """Check outputs (and padded axes) against ``pixels`` inside the block, not the default.

    ``None`` keeps the default, :data:`MAX_OUTPUT_PIXELS`. The command line
    runs each image inside ``output_pixel_limit(--max-pixels)``, so the
    option that lifts the input limit lifts the output limit with it.

    Examples
    --------
    >>> with output_pixel_limit(200_000_000):
    ...     check_output_pixels(10100, 10100, "padding")
    >>> check_output_pixels(10100, 10100, "padding")
    Traceback (most recent call last):
    ...
    convcli.errors.LimitError: padding: the output would be 10100×10100 = 102010000 pixels, over the limit of 89478485 pixels (the default --max-pixels; raise it with --max-pixels)
    """
    if pixels is not None and (isinstance(pixels, bool) or int(pixels) < 1):
        raise LimitError(f"the output pixel limit must be a positive integer, got {pixels!r}")
    token = _OUTPUT_LIMIT.set(None if pixels is None else int(pixels))
    try:
        yield
    finally:
        _OUTPUT_LIMIT.reset(token)


def _output_limit() -> tuple[int, str]:
    """The output pixel limit in force, and how a message names it."""
    limit = _OUTPUT_LIMIT.get()
    if limit is None:
        return MAX_OUTPUT_PIXELS, "the default --max-pixels; raise it with --max-pixels"
    return limit, "--max-pixels"


#: The widest and tallest image each format can hold (GIF and JPEG store a
#: side in 16 bits, libjpeg stops at 65500, WebP at 16383).
#: Raised by: none (the format's own limit: write .png, .tif or .npy)
FORMAT_MAX_SIDE = {"GIF": 65535, "JPEG": 65500, "WEBP": 16383}


def check_format_side(fmt: str, height: int, width: int, what: str) -> None:
    """Raise LimitError when a ``height`` × ``width`` image is too large for ``fmt``.

    Examples
    --------
    >>> check_format_side("GIF", 70000, 10, "big.gif")
    Traceback (most recent call last):
    ...
    convcli.errors.LimitError: big.gif: a GIF is at most 65535 pixels on a side; this image is 70000×10 (write .png, .tif or .npy)
    """
    side = FORMAT_MAX_SIDE.get(fmt.upper())
    if side is not None and max(height, width) > side:
        raise LimitError(
            f"{what}: a {fmt.upper()} is at most {side} pixels on a side; this image is "
            f"{height}×{width} (write .png, .tif or .npy)"
        )


def machine_memory() -> int:
    """Bytes this process may allocate at most: RAM, or a lower ``ulimit -v``/``-d``."""
    try:
        limit = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):  # pragma: no cover - not POSIX
        limit = 2**63
    try:
        import resource

        for which in (resource.RLIMIT_AS, getattr(resource, "RLIMIT_DATA", resource.RLIMIT_AS)):
            soft = resource.getrlimit(which)[0]
            if soft != resource.RLIM_INFINITY and soft > 0:
                limit = min(limit, soft)
    except ImportError:  # pragma: no cover - not POSIX
        pass
    return limit


def check_allocation(nbytes: int, what: str, advice: str = "") -> None:
    """Raise LimitError when an array of ``nbytes`` could never be allocated here.

    The last check for a size nothing else bounds (``max_pixels=None``, a
    library call with no budget): above the machine's memory (or ``ulimit``)
    numpy or Pillow would raise a bare ``MemoryError``, or the system kill the
    process, after a long wait.

    Examples
    --------
    >>> check_allocation(8, "a tiny array")
    >>> check_allocation(2**70, "im2col of a (1, 1, 2**33, 2**33) input")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    convcli.errors.LimitError: im2col of a (1, 1, 2**33, 2**33) input: needs 1180591620717.4 GB, more than this machine can allocate (...)
    """
    have = machine_memory()
    if nbytes > have:
        raise LimitError(
            f"{what}: needs {bytes_text(nbytes)}, more than this machine can allocate "
            f"({bytes_text(have)}){'; ' + advice if advice else ''}"
        )


def bytes_text(n: int) -> str:
    """A byte count for a message: ``268.4 MB``, ``512 bytes`` (integers only)."""
    for unit, size in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n >= size:  # integer arithmetic: n may be far beyond a float
            whole, tenth = divmod((10 * n + size // 2) // size, 10)
            return f"{whole}.{tenth} {unit}"
    return f"{n} bytes"


def check_kernel_taps(height: int, width: int, what: str) -> None:
    """Raise LimitError when a ``height`` × ``width`` kernel is over :data:`MAX_KERNEL_TAPS`."""
    taps = height * width
    if taps > MAX_KERNEL_TAPS:
        raise LimitError(
            f"{what}: {height}×{width} = {taps} taps ({bytes_text(8 * taps)}) is over the limit "
            f"of {MAX_KERNEL_TAPS} taps (256 MiB of float64)"
        )


def check_output_pixels(height: int, width: int, what: str) -> None:
    """Raise LimitError when a ``height`` × ``width`` output is over the limit.

    The limit is :data:`MAX_OUTPUT_PIXELS`, or what :func:`output_pixel_limit` set.
    """
    pixels = height * width
    limit, named = _output_limit()
    if pixels > limit:
        raise LimitError(
            f"{what}: the output would be {height}×{width} = {pixels} pixels, over the limit "
            f"of {limit} pixels ({named})"
        )


def check_weights_fit(nbytes: int, budget: int, what: str) -> None:
    """Raise LimitError when a kernel's weights (``nbytes``) alone exceed the memory ``budget``.

    Tiles get what the weights leave of the budget; with nothing left they
    would be one pixel each, every one paying for the whole kernel, and a
    call would run for hours rather than fail.

    Examples
    --------
    >>> check_weights_fit(72, 2**20, "3x3 float64")
    >>> check_weights_fit(13_436_928, 8 * 2**20, "16x16x81x81 float64")
    Traceback (most recent call last):
    ...
    convcli.errors.LimitError: the kernel weights (16x16x81x81 float64) take 13.4 MB, more than the memory budget of 8.4 MB: use a smaller kernel, or (in Python) a larger `memory_budget`
    >>> check_weights_fit(1_042_568, 1_000_000, "361x361 float64")
    Traceback (most recent call last):
    ...
    convcli.errors.LimitError: the kernel weights (361x361 float64) take 1042568 bytes, more than the memory budget of 1000000 bytes: use a smaller kernel, or (in Python) a larger `memory_budget`
    """
    if nbytes > budget:
        need, have = bytes_text(nbytes), bytes_text(budget)
        if need == have:  # 1.0 MB against 1.0 MB says nothing: give the bytes
            need, have = f"{nbytes} bytes", f"{budget} bytes"
        raise LimitError(
            f"the kernel weights ({what}) take {need}, more than the memory budget "
            f"of {have}: use a smaller kernel, or (in Python) a larger `memory_budget`"
        )


def check_padded_axis(n: int, before: int, after: int, what: str) -> None:
    """Raise LimitError when padding makes one axis longer than the output pixel limit.

    The engine maps every padded position of an axis to a source index (8
    bytes each) before it filters; 'same' padding for a huge dilation asks
    for as many positions as the dilated span, whatever the output's size.

    Examples
    --------
    >>> check_padded_axis(24, 1, 1, "padding")
    >>> check_padded_axis(24, 10**11, 10**11, "padding")
    Traceback (most recent call last):
    ...
    convcli.errors.LimitError: padding: 100000000000 + 100000000000 cells around an axis of 24 make 200000000024 positions, over the limit of 89478485 (the default --max-pixels; raise it with --max-pixels); use a smaller padding or dilation
    """
    length = n + before + after
    limit, named = _output_limit()
    if length > limit:
        raise LimitError(
            f"{what}: {before} + {after} cells around an axis of {n} make {length} positions, "
            f"over the limit of {limit} ({named}); use a smaller padding or dilation"
        )


_LAYER_LIMIT: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "convcli_layer_limit", default=None
)


@contextlib.contextmanager
def layer_limit(rows: int | None) -> Iterator[None]:
    """Check networks against ``rows`` rows inside the block, not :data:`MAX_LAYERS`.

    ``None`` keeps the default. ``convcli shape --max-layers N`` runs its
    analysis inside ``layer_limit(N)``.

    Examples
    --------
    >>> with layer_limit(20_000):
    ...     check_layers(15_000, "layer spec")
    >>> check_layers(15_000, "layer spec")
    Traceback (most recent call last):
    ...
    convcli.errors.LimitError: layer spec: 15,000 rows to hold; the limit is 10,000 rows (raise it with --max-layers)
    """
    if rows is not None and (isinstance(rows, bool) or int(rows) < 1):
        raise LimitError(f"the layer limit must be a positive integer, got {rows!r}")
    token = _LAYER_LIMIT.set(None if rows is None else int(rows))
    try:
        yield
    finally:
        _LAYER_LIMIT.reset(token)


def check_layers(count: int, what: str) -> None:
    """Raise LimitError when a network's analysis would hold more than the layer limit's rows.

    The limit is :data:`MAX_LAYERS`, or what :func:`layer_limit` set. Called
    with the rows counted *before* any is made (a long repeat counts its
    first and last repetitions and one row between them).
    """
    limit = _LAYER_LIMIT.get()
    if limit is None:
        limit = MAX_LAYERS
    if count > limit:
        raise LimitError(
            f"{what}: {count:,} rows to hold; the limit is {limit:,} rows "
            "(raise it with --max-layers)"
        )


def check_listed_choices(count: int, what: str) -> None:
    """Raise LimitError when ``count`` choices are more than :data:`MAX_LISTED_CHOICES`.

    Checked before the first one is written, so that a refused listing is
    no listing at all (never a JSON document cut short).

    Examples
    --------
    >>> check_listed_choices(119_047, "--json")
    >>> check_listed_choices(10**30, "--json")
    Traceback (most recent call last):
    ...
    convcli.errors.LimitError: --json: 1000000000000000000000000000000 choices is over the limit of 1,000,000 listed one by one; the table (without --json) shows them as runs of strides, or give --s or --p to narrow them
    """
    if count > MAX_LISTED_CHOICES:
        raise LimitError(
            f"{what}: {count} choices is over the limit of {MAX_LISTED_CHOICES:,} listed one by "
            "one; the table (without --json) shows them as runs of strides, or give --s or --p "
            "to narrow them"
        )


def check_learn_unknowns(unknowns: int, what: str) -> None:
    """Raise LimitError when `learn` would solve for more than :data:`MAX_LEARN_UNKNOWNS` unknowns.

    ``learn`` keeps an (n + 1)² factor of its normal equations (its patch
    matrix is folded in band by band, so the image's size does not matter);
    this bounds n.

    Examples
    --------
    >>> check_learn_unknowns(81, "`size` 9×9")
    >>> check_learn_unknowns(3600, "`size` 60×60")
    Traceback (most recent call last):
    ...
    convcli.errors.LimitError: `size` 60×60: 3600 unknowns need a 3601×3601 matrix (103.7 MB); the limit is 2896 unknowns (a 53×53 kernel; a quarter of the 256 MiB budget)
    """
    if unknowns > MAX_LEARN_UNKNOWNS:
        side = unknowns + 1
        raise LimitError(
            f"{what}: {unknowns} unknowns need a {side}×{side} matrix ({bytes_text(8 * side * side)}); "
            f"the limit is {MAX_LEARN_UNKNOWNS} unknowns (a 53×53 kernel; a quarter of the "
            "256 MiB budget)"
        )


def check_learn_work(work: int, what: str) -> None:
    """Raise LimitError when `learn`'s factorisation would take more than :data:`MAX_LEARN_WORK`.

    Examples
    --------
    >>> check_learn_work(10**9, "`size` 9×9 on 100×100")
    >>> check_learn_work(6 * 10**13, "`size` 31×31 on 2000×1500×3")
    Traceback (most recent call last):
    ...
    convcli.errors.LimitError: `size` 31×31 on 2000×1500×3: about 60000 G multiply-adds (an hour or more), over the limit of 10000 G; use a smaller --size or a crop of the image
    """
    if work > MAX_LEARN_WORK:
        hours = "an hour or more" if work > 5 * MAX_LEARN_WORK else "many minutes"
        raise LimitError(
            f"{what}: about {work // 10**9} G multiply-adds ({hours}), over the limit of "
            f"{MAX_LEARN_WORK // 10**9} G; use a smaller --size or a crop of the image"
        )


def check_nesting(text: str, what: str, limit: int = MAX_NESTING) -> int:
    """The deepest bracket nesting of ``text``; LimitError above ``limit``.

    Counts ``[``/``]``, ``(``/``)`` and ``{``/``}`` outside double-quoted
    strings, without parsing, so a 2000-deep input is refused before a
    recursive parser sees it.
    """
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            continue
        if char == '"':
            in_string = True
        elif char in "[({":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    raise LimitError(
                        f"{what}: brackets nested more than {limit} deep; "
                        f"the limit is {limit} levels"
                    )
        elif char in "])}":
            depth -= 1
    return deepest
