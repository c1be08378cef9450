"""Which BLAS kernel runs the matrix products, and a note when it is a slow one.

``im2col`` (a CNN layer's path) spends nearly all its time in one BLAS
``gemm`` per tile. OpenBLAS picks its kernel for the CPU when it is loaded,
unless ``OPENBLAS_CORETYPE`` forces one; forcing an older one (as
``Prescott``, an SSE kernel, on an AVX2 machine) doubles a layer's time or
worse. :func:`blas_note` says so in one line, for diagnostics and the
benchmarks (never as a warning in a normal run); :func:`blas_summary` names
the kernel and thread count of each BLAS library loaded. Both ask
threadpoolctl, imported only when they are called.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["blas_note", "blas_summary", "cpu_tier", "kernel_tier"]

#: OpenBLAS x86 core names by the widest vector instructions their kernels use:
#: 3 AVX-512, 2 AVX2 and FMA, 1 AVX; any other x86 name is 0 (SSE).
_OPENBLAS_TIERS: dict[str, int] = {
    **dict.fromkeys(("skylakex", "cooperlake", "sapphirerapids"), 3),
    **dict.fromkeys(("haswell", "zen", "excavator"), 2),
    **dict.fromkeys(("sandybridge", "bulldozer", "piledriver", "steamroller"), 1),
}


def kernel_tier(architecture: str) -> int:
    """Return the vector tier of an OpenBLAS x86 kernel (see :data:`_OPENBLAS_TIERS`).

    Examples
    --------
    >>> kernel_tier("Haswell"), kernel_tier("SkylakeX"), kernel_tier("Katmai")
    (2, 3, 0)
    """
    return _OPENBLAS_TIERS.get(architecture.lower(), 0)


def cpu_tier(flags: set[str] | None = None) -> int | None:
    """Return the vector tier this CPU supports (as :func:`kernel_tier`); None off x86 Linux.

    ``flags`` are ``/proc/cpuinfo``'s, read when not given.

    Examples
    --------
    >>> cpu_tier({"avx", "avx2", "fma"}), cpu_tier({"sse2"}), cpu_tier({"avx512f", "avx2"})
    (2, 0, 3)
    """
    if flags is None:
        try:
            with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
                line = next((ln for ln in f if ln.startswith("flags")), "")
        except OSError:
            return None
        if not line:
            return None
        flags = set(line.split(":", 1)[1].split())
    if "avx512f" in flags:
        return 3
    if {"avx2", "fma"} <= flags:
        return 2
    return 1 if "avx" in flags else 0


def blas_note(
    info: list[dict[str, Any]] | None = None,
    environ: Mapping[str, str] | None = None,
    tier: int | None = None,
) -> str | None:
    """One line when ``OPENBLAS_CORETYPE`` forces a slower BLAS kernel than this CPU's, else None.

    ``info`` is :func:`threadpoolctl.threadpool_info` (read when not given:
    it lists the BLAS libraries loaded, with the kernel each runs),
    ``environ`` the environment and ``tier`` :func:`cpu_tier`'s answer.
    For diagnostics and benchmarks: a layer's GEMM takes about twice as
    long on an SSE kernel as on this CPU's AVX2 one.

    Examples
    --------
    >>> info = [{"internal_api": "openblas", "architecture": "Prescott", "prefix": "libopenblas"}]
    >>> blas_note(info, {"OPENBLAS_CORETYPE": "Prescott"}, tier=2)  # doctest: +NORMALIZE_WHITESPACE
    'OPENBLAS_CORETYPE=Prescott makes libopenblas run its Prescott kernel, slower than this
    CPU allows (unset it for the kernel OpenBLAS picks itself)'
    >>> blas_note(info, {}, tier=2) is None
    True
    """
    env = os.environ if environ is None else environ
    forced = env.get("OPENBLAS_CORETYPE", "").strip()
    if not forced:
        return None
    if tier is None:
        tier = cpu_tier()
    if tier is None:
        return None
    if info is None:
        from threadpoolctl import threadpool_info

        info = threadpool_info()
    for lib in info:
        arch = lib.get("architecture") or ""
        if lib.get("internal_api") == "openblas" and arch and kernel_tier(arch) < tier:
            return (
                f"OPENBLAS_CORETYPE={forced} makes {lib.get('prefix', 'OpenBLAS')} run its "
                f"{arch} kernel, slower than this CPU allows (unset it for the kernel "
                "OpenBLAS picks itself)"
            )
    return None


def blas_summary(info: list[dict[str, Any]] | None = None) -> Iterator[str]:
    """``"<library> <version>: <kernel> kernel, <n> threads"`` per BLAS library loaded."""
    if info is None:
        from threadpoolctl import threadpool_info

        info = threadpool_info()
    for lib in info:
        if lib.get("user_api") != "blas":
            continue
        arch = lib.get("architecture")
        kernel = f"{arch} kernel, " if arch else ""
        yield (
            f"{lib.get('internal_api')} {lib.get('version') or '?'} ({lib.get('prefix')}): "
            f"{kernel}{lib.get('num_threads')} threads"
        )
