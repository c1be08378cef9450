"""Benchmark convcli's engine against scipy.ndimage and a naive numpy baseline.

Run from the repository root::

    python benchmarks/bench_engine.py            # the full table (a few minutes)
    python benchmarks/bench_engine.py --quick    # tiny sizes, to check it runs

Prints, per case, the median wall time of each implementation and the peak
memory it allocated through numpy (tracemalloc), in MiB. PyTorch joins the
conv-layer and pooling rows when it is installed. The naive baseline is a
fully materialised im2col + one matrix product (or a window view reduced
along its axes, for pooling); it is skipped where it would need more than
``--naive-limit`` bytes, and the row says how much it would have needed.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
import tracemalloc
from collections.abc import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import ndimage as ndi

import convcli

MiB = 2**20


def measure(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median seconds over ``repeat`` runs, and peak traced MiB of one run."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), peak / MiB


def naive_filter(img: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Untiled im2col of the reflect-padded image, then one matrix-vector product."""
    kh, kw = k.shape
    padded = np.pad(img, ((kh // 2, kh // 2), (kw // 2, kw // 2)), mode="reflect")
    cols = sliding_window_view(padded, (kh, kw)).reshape(-1, kh * kw)
    return (cols @ k.ravel()).reshape(img.shape)


def naive_conv(x: np.ndarray, w: np.ndarray, pad: int) -> np.ndarray:
    """Untiled im2col of a zero-padded batch, then one matrix product."""
    n, c = x.shape[:2]
    co, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    win = sliding_window_view(xp, (kh, kw), axis=(2, 3))  # n, c, oh, ow, kh, kw
    oh, ow = win.shape[2:4]
    cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(n * oh * ow, c * kh * kw)
    return (cols @ w.reshape(co, -1).T).reshape(n, oh, ow, co).transpose(0, 3, 1, 2)


def naive_pool(x: np.ndarray, k: int) -> np.ndarray:
    """A window view reduced along its window axes."""
    return sliding_window_view(x, (k, k), axis=(1, 2))[:, ::k, ::k].max(axis=(-2, -1))


def row(table: list, case: str, name: str, result: tuple[float, float] | str) -> None:
    table.append((case, name, result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: check that it runs")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per case (median)")
    parser.add_argument(
        "--naive-limit", type=float, default=2.0, help="GiB the naive baseline may use"
    )
    args = parser.parse_args()

    size = 128 if args.quick else 4096
    big = 256 if args.quick else 8000
    layer_hw = 16 if args.quick else 112
    repeat = 1 if args.quick else args.repeat
    limit = args.naive_limit * 2**30
    rng = np.random.default_rng(0)
    table: list = []

    try:
        import torch
    except ImportError:
        torch = None

    img = rng.random((size, size), dtype=np.float32)
    sobel = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float32)
    for k in (
        sobel,
        rng.standard_normal((5, 5)).astype(np.float32),
        rng.standard_normal((11, 11)).astype(np.float32),
    ):
        case = f"filter2d {size}² f32, {k.shape[0]}×{k.shape[1]}, same/reflect"
        row(table, case, "convcli", measure(lambda k=k: convcli.filter2d(img, k), repeat))
        row(
            table,
            case,
            "scipy.ndimage",
            measure(lambda k=k: ndi.correlate(img, k, mode="mirror"), repeat),
        )
        need = img.size * k.size * 4
        if need <= limit:
            row(table, case, "naive im2col", measure(lambda k=k: naive_filter(img, k), repeat))
        else:
            row(table, case, "naive im2col", f"skipped: needs {need / 2**30:.1f} GiB")

    ax = np.arange(-15, 16)
    g = np.exp(-(ax**2) / (2 * 5.0**2))
    gauss = np.outer(g, g / g.sum()).astype(np.float32) / g.sum()
    case = f"filter2d {size}² f32, 31×31 Gaussian σ=5 (separable)"
    row(table, case, "convcli", measure(lambda: convcli.filter2d(img, gauss), repeat))
    row(
        table,
        case,
        "scipy gaussian_filter",
        measure(lambda: ndi.gaussian_filter(img, 5.0, mode="mirror", truncate=3.0), repeat),
    )

    x = rng.standard_normal((1, 64, layer_hw, layer_hw)).astype(np.float32)
    w = rng.standard_normal((128, 64, 3, 3)).astype(np.float32)
    case = f"conv2d 1×64×{layer_hw}² → 128, 3×3, pad 1"
    row(table, case, "convcli", measure(lambda: convcli.conv2d(x, w, padding=1), repeat))
    row(table, case, "naive im2col", measure(lambda: naive_conv(x, w, 1), repeat))
    if torch is not None:
        xt, wt = torch.from_numpy(x), torch.from_numpy(w)
        row(
            table,
            case,
            "torch",
            measure(lambda: torch.nn.functional.conv2d(xt, wt, padding=1), repeat),
        )

    planes = rng.random((3, size, size), dtype=np.float32)
    case = f"max pool 2×2/2 of 3×{size}²"
    row(
        table,
        case,
        "convcli",
        measure(lambda: convcli.pool2d(planes.transpose(1, 2, 0), 2), repeat),
    )
    row(
        table,
        case,
        "scipy.ndimage",
        measure(
            lambda: ndi.maximum_filter(planes, size=(1, 2, 2), origin=(0, -1, -1))[:, ::2, ::2],
            repeat,
        ),
    )
    row(table, case, "naive window view", measure(lambda: naive_pool(planes, 2), repeat))
    if torch is not None:
        pt = torch.from_numpy(planes[None])
        row(table, case, "torch", measure(lambda: torch.nn.functional.max_pool2d(pt, 2), repeat))

    huge = rng.random((big, big), dtype=np.float32)
    k11 = rng.standard_normal((11, 11)).astype(np.float32)
    case = f"filter2d {big}² f32, 11×11, default 256 MiB budget"
    row(table, case, "convcli", measure(lambda: convcli.filter2d(huge, k11), 1))
    row(table, case, "naive im2col", f"skipped: needs {big * big * 121 * 4 / 2**30:.1f} GiB")

    print(
        f"# convcli {convcli.__version__}, numpy {np.__version__}, Python {platform.python_version()}, "
        f"{platform.machine()}, torch {'absent' if torch is None else torch.__version__}"
    )
    print()
    print("| case | implementation | median s | peak MiB |")
    print("|---|---|---:|---:|")
    for case, name, result in table:
        if isinstance(result, str):
            print(f"| {case} | {name} | {result} | |")
        else:
            print(f"| {case} | {name} | {result[0]:.3f} | {result[1]:.0f} |")


if __name__ == "__main__":
    main()
