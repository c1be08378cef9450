"""Separable kernels: whole-image 1-D passes against the tiled engine (issue 21 item 15).

Prints, for box and Gaussian kernels of growing span on one float32 image,
the seconds of ``filter2d`` with the 2-D kernel (the tiles and cost model),
of ``filter2d_separable`` with its factors (two passes over the whole
image), and of ``scipy.ndimage`` (``uniform_filter`` /
``gaussian_filter``, mode ``mirror``) for scale, interleaved and repeated
so that a loaded machine hits every column alike; the best of the repeats
is shown with the ratio tiled / passes, and the halo: the padded image's
cells over the image's. ``PASSES_HALO`` in ``convcli/engine/passes.py``
is about where the ratio crosses 1.

    python benchmarks/bench_passes.py            # 1500x2000, a minute or two
    python benchmarks/bench_passes.py --quick    # 200x300, seconds
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import scipy.ndimage as ndi

from convcli import filter2d
from convcli.engine import passes
from convcli.engine.passes import PASSES_HALO, filter2d_separable
from convcli.engine.tiling import DEFAULT_MEMORY_BUDGET
from convcli.kernels.catalogue import get_kernel


def _best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small image, one repeat")
    args = parser.parse_args()
    shape = (200, 300) if args.quick else (1500, 2000)
    repeats = 1 if args.quick else 3
    img = np.random.default_rng(0).random(shape, dtype=np.float32)
    print(
        f"# {time.strftime('%Y-%m-%d %H:%M')} {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; image {shape[0]}x{shape[1]} "
        f"float32; PASSES_HALO = {PASSES_HALO}"
    )
    print(
        f"{'kernel':<22}{'halo':>6}{'tiled s':>10}{'passes s':>10}{'scipy s':>10}"
        f"{'tiled/passes':>14}"
    )
    specs = ["box:257", "box:1025", "box:2049", "box:4097"]
    specs += ["gaussian:sigma=32", "gaussian:sigma=128", "gaussian:sigma=256", "gaussian:sigma=512"]
    for spec in specs:
        k = get_kernel(spec)
        col, row = k.separable_factors()
        dense = np.outer(col, row)
        size = k.shape[0]
        sigma = k.params.get("sigma")

        def oracle(sigma=sigma, size=size):
            if sigma is None:
                return ndi.uniform_filter(img, size, mode="mirror")
            return ndi.gaussian_filter(img, sigma, mode="mirror", truncate=4)

        runs = {
            "tiled": lambda dense=dense: filter2d(img, dense),
            # the passes themselves, whatever the span (filter2d_separable hands a small
            # kernel to filter2d)
            "passes": lambda col=col, row=row: passes._passes(
                img,
                col,
                row,
                (1, "same", 1, "reflect"),
                0.0,
                np.dtype(np.float32),
                DEFAULT_MEMORY_BUDGET,
                1,
            ),
            "scipy": oracle,
        }
        best = {name: float("inf") for name in runs}
        for _ in range(repeats):  # interleaved: each round runs every column once
            for name, fn in runs.items():
                best[name] = min(best[name], _best(fn, 1))
        got = runs["passes"]()
        assert np.allclose(got, filter2d_separable(img, col, row), atol=1e-4), spec
        assert np.allclose(got, oracle(), atol=1e-4), spec
        halo = (shape[0] + size - 1) * (shape[1] + size - 1) / (shape[0] * shape[1])
        print(
            f"{spec:<22}{halo:>6.1f}{best['tiled']:>10.3f}{best['passes']:>10.3f}{best['scipy']:>10.3f}"
            f"{best['tiled'] / best['passes']:>14.2f}"
        )


if __name__ == "__main__":
    main()
