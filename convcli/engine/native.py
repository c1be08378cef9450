"""The ``native`` strategy: convcli's optional C core, and which variant of it runs.

The extension ``convcli.engine._native`` (C, ``src/native/``) computes the
direct and the separable 2-D correlation of one plane: each output block
(4 rows by up to 64 columns) is summed in vector registers over all the
kernel's taps, from a small ring of padded rows gathered once through the
pad mode's index maps (the C side knows no pad modes). It releases the GIL,
so :func:`run` spreads bands of output rows over the engine's thread pool.

Which variant runs:

- ``CONVCLI_ENGINE=numpy`` turns the native core off (the numpy strategies
  run, as they do when the extension was not built).
- Otherwise the fastest variant this CPU runs (``avx512``, ``avx2`` with
  FMA, or ``generic``: the compiler's baseline, SSE2 or NEON);
  ``CONVCLI_NATIVE_ISA=generic|avx2|avx512`` forces one, and a variant the
  CPU lacks is refused (:class:`~convcli.errors.ParameterError`).

:func:`describe` says which, and why, in one line (``convcli --version``);
this module imports numpy only to run.
"""

from __future__ import annotations

import importlib
import os
import threading
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ..errors import LimitError, ParameterError, SettingError, ShapeError

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "ENGINE_ENV",
    "ISA_ENV",
    "Status",
    "describe",
    "module",
    "reads_every_row",
    "reads_pixels",
    "reset",
    "run",
    "status",
    "takes",
    "takes_dtype",
]

#: Environment variable: ``numpy`` turns the native core off.
ENGINE_ENV = "CONVCLI_ENGINE"
#: Environment variable: force a native variant (``generic``, ``avx2`` or ``avx512``).
ISA_ENV = "CONVCLI_NATIVE_ISA"
#: The variants a build may have, slowest first.
VARIANTS = ("generic", "avx2", "avx512")

#: Output cells per native call (a band of rows): at least this many, so the rows
#: a band gathers beyond its own (the kernel's span) and the cost of a call and of
#: waking a thread are a small share of it.
BAND_CELLS = 1 << 17


#: The largest size, stride, dilation or span the C core indexes with (its sizes
#: are C ``Py_ssize_t``; a larger one is left to the numpy strategies, which take
#: Python integers).
INDEX_MAX = 2**31 - 1


def takes_dtype(dtype: Any) -> bool:
    """Whether the C core computes in ``dtype``: float32 or float64, native byte order."""
    import numpy as np

    dt = np.dtype(dtype)
    return dt.isnative and dt in (np.dtype(np.float32), np.dtype(np.float64))


def takes(problem: Any, dtype: Any) -> bool:
    """Tell whether the C core can run ``problem`` in ``dtype``.

    ``problem`` is a :class:`~convcli.engine.tiling.Problem`; ``dtype`` must be one
    the core computes in, and every size within :data:`INDEX_MAX`.

    Examples
    --------
    >>> from convcli.engine.tiling import Problem
    >>> p = Problem(1, 1, 1, 1, (3, 3), (1, 1), (1, 1), (8, 8))
    >>> takes(p, "float32"), takes(p, "float16")
    (True, False)
    >>> takes(Problem(1, 1, 1, 1, (3, 3), (10**12, 1), (1, 1), (1, 8)), "float32")
    False
    """
    sizes = (*problem.kernel_size, *problem.stride, *problem.dilation, *problem.out, *problem.span)
    return takes_dtype(dtype) and max(sizes) <= INDEX_MAX


@dataclass(frozen=True)
class Status:
    """Which engine runs: the extension module (None: numpy), its variant, and why."""

    module: Any
    isa: str | None
    reason: str


_lock = threading.Lock()
_status: list[Status] = []


def reset() -> None:
    """Forget the status, so the next call reads the environment again (for tests)."""
    with _lock:
        _status.clear()


def status() -> Status:
    """Return the engine this process runs, decided once from the environment.

    Raises
    ------
    ParameterError
        For an unknown ``CONVCLI_ENGINE`` or ``CONVCLI_NATIVE_ISA``, or a
        forced variant this CPU (or this build) does not run.
    """
    with _lock:
        if not _status:
            _status.append(_decide())
        return _status[0]


def _decide() -> Status:
    engine = os.environ.get(ENGINE_ENV, "").strip().lower()
    if engine not in ("", "auto", "native", "numpy"):
        raise SettingError(f"{ENGINE_ENV}={engine!r} is not one of: auto, native, numpy")
    if engine == "numpy":
        return Status(None, None, f"{ENGINE_ENV}=numpy")
    try:
        # the compiled half of this module (src/native); nothing else imports it
        mod: ModuleType = importlib.import_module(f"{__package__}._native")
    except ImportError as exc:
        if engine == "native":
            raise SettingError(
                f"{ENGINE_ENV}=native, but the native extension is not built: {exc}"
            ) from exc
        return Status(None, None, f"native extension not built: {exc}")
    forced = os.environ.get(ISA_ENV, "").strip().lower()
    supported = mod.supported()
    if forced:
        if forced not in VARIANTS:
            raise SettingError(f"{ISA_ENV}={forced!r} is not one of: {', '.join(VARIANTS)}")
        if forced not in supported:
            raise SettingError(
                f"{ISA_ENV}={forced}: this CPU (or build) does not run it; "
                f"it runs: {', '.join(supported)}"
            )
        mod.use(forced)
        return Status(mod, forced, f"forced by {ISA_ENV}")
    mod.use(supported[-1])
    return Status(mod, supported[-1], "the fastest variant this CPU runs")


def module() -> Any:
    """Return the native extension, or None when the numpy engine runs."""
    return status().module


def describe() -> str:
    """One line saying which engine runs and why.

    Examples
    --------
    >>> describe().startswith("engine: ")
    True
    """
    try:
        s = status()
    except ParameterError as exc:
        return f"engine: error: {exc}"
    if s.module is None:
        return f"engine: numpy ({s.reason})"
    return f"engine: native {s.isa} ({s.reason})"


def workspace(problem: Any, itemsize: int, separable: bool) -> int:
    """Bytes one native call allocates (its ring of padded rows and tap lists)."""
    mod = module()
    assert mod is not None
    kh, kw = problem.kernel_size
    return int(
        mod.workspace_bytes(
            kh, kw, problem.stride, problem.dilation, problem.out[1], itemsize, separable
        )
    )


def band_memory(problem: Any, rows: int, itemsize: int, in_itemsize: int, convert: bool) -> int:
    """Count the bytes of a band of ``rows`` output rows besides the workspace.

    Those are the source rows it converts to the compute dtype, when the input
    is not in it already.
    """
    if not convert:
        return 0
    width = problem.span[1] + (problem.out[1] - 1) * problem.stride[1]
    src_rows = (rows - 1) * problem.stride[0] + problem.span[0]
    return src_rows * width * (itemsize + in_itemsize)


def plan(
    problem: Any,
    budget: int,
    threads: int,
    itemsize: int,
    in_itemsize: int,
    convert: bool,
    separable: bool,
) -> tuple[int, int] | None:
    """Plan (band rows, threads) for a native call within ``budget``.

    None if even one one-row band on one thread overruns it.
    """
    space = workspace(problem, itemsize, separable)
    oh = problem.out[0]
    threads = max(1, min(threads, problem.n * problem.c_out * oh))
    while threads >= 1:
        per = budget // threads
        rows = max(-(-BAND_CELLS // max(problem.out[1], 1)), -(-oh // (4 * threads)))
        rows = min(rows, oh)
        while rows > 1 and space + band_memory(problem, rows, itemsize, in_itemsize, convert) > per:
            rows //= 2
        if space + band_memory(problem, rows, itemsize, in_itemsize, convert) <= per:
            return rows, threads
        threads -= 1
    return None


def reads_pixels(dtype: Any) -> bool:
    """Tell whether the C core reads a source of ``dtype`` as it is.

    It converts each cell as it gathers a row: uint8 and native uint16 pixels
    (no converted copy of the input).

    Examples
    --------
    >>> reads_pixels("uint8"), reads_pixels(">u2"), reads_pixels("int16")
    (True, False, False)
    """
    import numpy as np

    return np.dtype(dtype) in (np.dtype(np.uint8), np.dtype(np.uint16))


def reads_every_row(geo: Any, problem: Any, height: int) -> bool:
    """Tell whether the outputs of ``geo`` read every one of the ``height`` source rows.

    If so, :func:`run`'s ``scanned`` covers the whole input (a stride or dilation
    down may skip rows, a ``valid`` geometry's may not reach the last ones).

    Examples
    --------
    >>> from convcli.engine.convolution import resolve_tiling
    >>> from convcli.engine.tiling import Problem
    >>> geo = resolve_tiling((5, 5), (3, 3), 1, "same", 1, "reflect")
    >>> reads_every_row(geo, Problem.of(geo.geometry, 1, 1, 1, 1), 5)
    True
    >>> geo = resolve_tiling((5, 5), (1, 1), 2, 0, 1, "zeros")
    >>> reads_every_row(geo, Problem.of(geo.geometry, 1, 1, 1, 1), 5)
    False
    """
    import numpy as np

    (sh, _), (dh, _) = problem.stride, problem.dilation
    kh = problem.kernel_size[0]
    if dh != 1 or sh > kh:  # the padded rows read are then not one stretch
        return False
    padded = np.asarray(geo.rows)[: (problem.out[0] - 1) * sh + kh]
    seen = np.zeros(height, dtype=bool)
    seen[padded[padded >= 0]] = True
    return bool(seen.all())


def _runs(problem: Any, dtype: np.dtype) -> Any:
    """Return the extension if it runs ``problem`` in ``dtype``, else raise ParameterError."""
    mod = module()
    if mod is None:
        raise ParameterError(f"strategy 'native' is not available: {status().reason}")
    if not takes(problem, dtype):
        raise ParameterError(
            f"strategy 'native' computes in float32 or float64 with sizes, strides and "
            f"dilations up to {INDEX_MAX}: use another strategy (or 'auto')"
        )
    return mod


def run(
    x: np.ndarray,
    weight: np.ndarray,
    geo: Any,
    problem: Any,
    dtype: np.dtype,
    pad_value: float,
    budget: int,
    threads: int,
    factors: Any = None,
    scanned: list[tuple[float, bool]] | None = None,
    out: np.ndarray | None = None,
    value_range: str | None = None,
) -> np.ndarray:
    """Correlate (N, C_in, H, W) with (C_out, C_in/groups, kh, kw) natively; no bias.

    Each task is one band of output rows of one output plane, summed over its
    group's input channels (``accumulate``); tasks run on ``threads`` threads
    (the C side releases the GIL). ``factors`` (from
    :func:`~convcli.engine.strategies.separable_factors`) selects the
    separable kernels. uint8 and uint16 pixels are converted as each row is
    gathered (:func:`reads_pixels`); another input not in ``dtype`` is converted
    one band of source rows at a time.

    With ``scanned`` (an input in ``dtype``), each call also reads the largest
    magnitude of every source row it gathers, while the row is in cache, and
    appends its ``(largest, finite)`` to the list (see :func:`reads_every_row`).

    ``out``, if given, is where the (N, C_out, out_h, out_w) result goes (any
    strides): of ``dtype``, or uint8 pixels for one input channel per group
    read as it is, each sum stored as :func:`convcli.images.pixels.to_pixels`
    stores ``clip`` (or, with ``value_range="abs"``, ``abs``) of it.

    Raises
    ------
    LimitError
        When even one band of one row overruns ``budget``.
    """
    import numpy as np

    from .factors import NATIVE_RUNNING_TAPS
    from .threads import run_parallel

    mod = _runs(problem, dtype)
    n = x.shape[0]
    c_out = weight.shape[0]
    oh, ow = geo.out
    convert = x.dtype != dtype and not reads_pixels(x.dtype)
    if out is not None and out.dtype != dtype and (convert or problem.cg != 1):
        raise ParameterError("uint8 `out` needs one input channel per group, read as it is")
    scan = scanned is not None and x.dtype == dtype
    found = plan(
        problem, budget, threads, dtype.itemsize, x.dtype.itemsize, convert, factors is not None
    )
    if found is None:
        need = workspace(problem, dtype.itemsize, factors is not None)
        raise LimitError(
            f"the native core needs {need} bytes of working memory for this kernel, "
            f"more than the memory budget of {budget} bytes"
        )
    rows_per_band, threads = found
    w = np.ascontiguousarray(weight, dtype=dtype)
    if factors is not None:
        cols_f = np.ascontiguousarray(factors[0], dtype=dtype)
        rows_f = np.ascontiguousarray(factors[1], dtype=dtype)
    row_map = np.ascontiguousarray(geo.rows, dtype=np.int64)
    col_map = np.ascontiguousarray(geo.cols, dtype=np.int64)
    sh = problem.stride[0]
    span_h = problem.span[0]
    if out is not None and out.shape != (n, c_out, oh, ow):
        raise ShapeError(f"`out` must have shape {(n, c_out, oh, ow)}, got {out.shape}")
    result = np.empty((n, c_out, oh, ow), dtype=dtype) if out is None else out
    cg, og = problem.cg, problem.og

    def source(k: int, c: int, r0: int, r1: int) -> tuple[np.ndarray, np.ndarray, int, int]:
        """Return the plane to read and its row map for output rows [r0, r1)."""
        plane = x[k, c]
        if not convert:
            return plane, row_map, r0, r1
        # only the source rows the band reads, in the compute dtype
        part = row_map[r0 * sh : (r1 - 1) * sh + span_h]
        used, inverse = np.unique(np.maximum(part, 0), return_inverse=True)
        local = np.where(part < 0, -1, inverse.reshape(part.shape)).astype(np.int64)
        return np.asarray(plane[used], dtype=dtype), local, 0, r1 - r0

    def work(task: tuple[int, int, int, int]) -> None:
        k, o, r0, r1 = task
        g = o // og
        for ci in range(cg):
            c = g * cg + ci
            src, rmap, a, b = source(k, c, r0, r1)
            dest = result[k, o] if not convert else result[k, o, r0:r1]
            if factors is not None:
                found = mod.correlate_separable(
                    src,
                    rmap,
                    col_map,
                    cols_f[o, ci],
                    rows_f[o, ci],
                    dest,
                    problem.stride,
                    problem.dilation,
                    pad_value,
                    a,
                    b,
                    ci > 0,
                    scan,
                    value_range,
                    NATIVE_RUNNING_TAPS,
                )
            else:
                found = mod.correlate(
                    src,
                    rmap,
                    col_map,
                    w[o, ci],
                    dest,
                    problem.stride,
                    problem.dilation,
                    pad_value,
                    a,
                    b,
                    ci > 0,
                    scan,
                    value_range,
                )
            if scan:
                scanned.append(found)  # type: ignore[union-attr]

    tasks = (
        (k, o, r0, min(r0 + rows_per_band, oh))
        for k in range(n)
        for o in range(c_out)
        for r0 in range(0, oh, rows_per_band)
    )
    count = n * c_out * -(-oh // rows_per_band)
    run_parallel(work, tasks, max(1, min(threads, count)))
    return result
