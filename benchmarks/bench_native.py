"""The native core against OpenCV (issue 20): ratios in one interleaved run.

``filter2d`` on a float32 image with reflect padding (OpenCV's
``BORDER_REFLECT_101``): random 3x3, 5x5, 7x7 and 11x11 kernels against
``cv2.filter2D``, and a 31x31 Gaussian against ``cv2.sepFilter2D``, on 2
threads and on 1; then the path a photo takes, ``filter_image`` of a
12-megapixel RGB uint8 image with ``sobel-x`` and range ``clip``, against
``cv2.filter2D`` on the same uint8 array, and the 64->128 3x3 conv layer at
112² (``conv2d``, padding 1) against ``torch.nn.functional.conv2d``. Every
round times each implementation once, in turn, so a change in the
machine's load hits both sides of a ratio alike; the ratio reported is the
median over rounds of convcli's time over the reference's. Run it again
with ``CONVCLI_ENGINE=numpy`` for the numpy engine's figures, or
``CONVCLI_NATIVE_ISA=generic`` for another variant's.

    python benchmarks/bench_native.py            # 2048², 15 rounds
    python benchmarks/bench_native.py --quick    # tiny sizes (tests/test_benchmarks.py)
    python benchmarks/bench_native.py --overhead # where one call's time goes (1 thread)

torch's OpenMP threads spin for a while after each of its calls; in the
same process they would take a core from convcli's BLAS in the next turn
(measured: the 2-thread conv layer at 1.8× torch instead of 1.3×), so the
script sets ``OMP_WAIT_POLICY=PASSIVE`` unless it is already set, which
leaves torch's own time unchanged.

``--overhead`` splits one single-threaded ``filter2d`` call: the bare C
``correlate`` into a preallocated output (the kernel alone), the same with
the input scan on (the NaN and magnitude check ``filter2d`` fuses into it),
and the whole ``filter2d`` call, each against ``cv2.filter2D``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable

# before torch (and its OpenMP runtime) is imported: see the docstring
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np

import convcli
from convcli.engine import native

try:
    import cv2
except ImportError:
    cv2 = None
try:
    import torch
except ImportError:
    torch = None

TARGETS = {3: 0.7, 5: 0.7, 7: 0.7, 11: 0.7, "gauss31": 0.8, "photo": 1.0, "layer": 1.0}
LABELS = {"gauss31": "31×31 Gaussian σ=5", "photo": "uint8 photo, sobel-x clip"}


def machine() -> str:
    """CPU model, cores and load, for the table's caption."""
    model = platform.processor() or platform.machine()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{model}, {os.cpu_count()} cores, load {load:.1f}; {native.describe()}"


def gaussian(sigma: float, radius: int) -> np.ndarray:
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    g = np.exp(-(x * x) / (2 * sigma * sigma))
    return g / g.sum()


def timed(f: Callable[[], object]) -> float:
    start = time.perf_counter()
    f()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, a few rounds")
    parser.add_argument(
        "--overhead", action="store_true", help="the C kernel alone vs the whole call"
    )
    args = parser.parse_args()
    size, rounds = (128, 3) if args.quick else (args.size, args.rounds)
    rng = np.random.default_rng(20)
    img = rng.standard_normal((size, size)).astype(np.float32)
    print(f"# bench_native: {size}² float32, reflect, {rounds} interleaved rounds")
    print(f"# {machine()}")
    if cv2 is None:
        print("OpenCV: not installed (pip install '.[bench]'); no ratios")
    if args.overhead:
        _overhead(img, rng, rounds)
        return
    cases: list[tuple[object, np.ndarray, Callable[[int], object] | None]] = []
    for k in (3, 5, 7, 11):
        w = rng.standard_normal((k, k)).astype(np.float32)
        ref = None
        if cv2 is not None:

            def ref(threads: int, w: np.ndarray = w) -> object:
                cv2.setNumThreads(threads)
                return cv2.filter2D(img, -1, w, borderType=cv2.BORDER_REFLECT_101)

        cases.append((k, w, ref))
    taps = gaussian(5.0, 15).astype(np.float32)
    ref = None
    if cv2 is not None:

        def ref(threads: int) -> object:
            cv2.setNumThreads(threads)
            return cv2.sepFilter2D(img, -1, taps, taps, borderType=cv2.BORDER_REFLECT_101)

    cases.append(("gauss31", np.outer(taps, taps), ref))
    print(
        "| case | threads | strategy auto picks | agrees | convcli ms | reference ms | ratio "
        "| target |"
    )
    print("|---|---:|---|---|---:|---:|---:|---:|")
    for threads in (2, 1):
        for name, w, ref in cases:

            def mine(t: int, w: np.ndarray = w) -> object:
                return convcli.filter2d(img, w, threads=t)

            _row(name, threads, _picked(img, w, threads), mine, ref, rounds, 1e-5)
        _row("photo", threads, "", *_photo(args.quick), rounds, 0)
        _row("layer", threads, "", *_layer(args.quick), rounds, 1e-4)


def _row(
    name: object,
    threads: int,
    picked: str,
    mine: Callable[[int], object],
    ref: Callable[[int], object] | None,
    rounds: int,
    tolerance: float,
) -> None:
    """Time ``mine`` and ``ref`` in turn for ``rounds`` rounds; print the table row."""
    got = np.asarray(mine(threads), dtype=np.float64)  # warm-up
    agrees = "n/a"
    if ref is not None:
        expected = np.asarray(ref(threads), dtype=np.float64)
        scale = float(np.abs(expected).max())
        close = got.shape == expected.shape and np.allclose(
            got, expected, rtol=0, atol=tolerance * scale
        )
        agrees = "ok" if close else "DIFFERS"
    times, theirs, ratios = [], [], []
    for _ in range(rounds):
        a = timed(lambda: mine(threads))
        times.append(a)
        if ref is not None:
            b = timed(lambda: ref(threads))  # type: ignore[misc]
            theirs.append(b)
            ratios.append(a / b)
    if isinstance(name, int):
        label = f"{name}×{name}"
    elif name == "layer":
        label = "conv layer 64→128, 3×3, 112²" if rounds > 3 else "conv layer (quick)"
    else:
        label = LABELS[str(name)]
    ref_ms = f"{statistics.median(theirs) * 1e3:.2f}" if theirs else "n/a"
    ratio = f"{statistics.median(ratios):.2f}" if ratios else "n/a"
    print(
        f"| {label} | {threads} | {picked or 'n/a'} | {agrees} "
        f"| {statistics.median(times) * 1e3:.2f} | {ref_ms} | {ratio} | ≤ {TARGETS[name]} |"  # type: ignore[index]
    )


def _overhead(img: np.ndarray, rng: np.random.Generator, rounds: int) -> None:
    """One thread: the bare C call, with the scan, and ``filter2d``, each vs cv2.filter2D."""
    from convcli.engine.convolution import resolve_tiling

    mod = native.module()
    if mod is None:
        print(f"no native core: {native.describe()}")
        return
    print("| kernel | bare C ms | C + scan ms | filter2d ms | cv2 ms | filter2d / bare C |")
    print("|---|---:|---:|---:|---:|---:|")
    if cv2 is not None:
        cv2.setNumThreads(1)
    out = np.empty_like(img)
    for k in (3, 5, 7, 11):
        w = rng.standard_normal((k, k)).astype(np.float32)
        geo = resolve_tiling(img.shape, w.shape, 1, "same", 1, "reflect")
        maps = (np.asarray(geo.rows, np.int64), np.asarray(geo.cols, np.int64))
        rest = ((1, 1), (1, 1), 0.0, 0, img.shape[0], False)
        calls: dict[str, Callable[[], object]] = {
            "bare": lambda w=w, m=maps, r=rest: mod.correlate(img, *m, w, out, *r),
            "scan": lambda w=w, m=maps, r=rest: mod.correlate(img, *m, w, out, *r, True),
            "filter2d": lambda w=w: convcli.filter2d(img, w, threads=1),
        }
        if cv2 is not None:
            calls["cv2"] = lambda w=w: cv2.filter2D(img, -1, w, borderType=cv2.BORDER_REFLECT_101)
        times: dict[str, list[float]] = {name: [] for name in calls}
        for f in calls.values():
            f()  # warm-up
        for _ in range(rounds):
            for name, f in calls.items():
                times[name].append(timed(f))
        ms = {name: statistics.median(t) * 1e3 for name, t in times.items()}
        ref = f"{ms['cv2']:.2f}" if "cv2" in ms else "n/a"
        print(
            f"| {k}×{k} | {ms['bare']:.2f} | {ms['scan']:.2f} | {ms['filter2d']:.2f} | {ref} "
            f"| {ms['filter2d'] / ms['bare']:.2f} |"
        )


def _photo(quick: bool) -> tuple[Callable[[int], object], Callable[[int], object] | None]:
    """``filter_image`` of an RGB uint8 photo (12 MP) with sobel-x, range clip; cv2.filter2D."""
    from convcli.images.filtering import FilterSettings, filter_image
    from convcli.images.io import Image

    h, w = (60, 80) if quick else (3000, 4000)
    pixels = np.random.default_rng(12).integers(0, 256, (h, w, 3), dtype=np.uint8)
    image = Image(pixels=pixels)
    kernel = convcli.get_kernel("sobel-x")

    def mine(threads: int) -> object:
        settings = FilterSettings(threads=threads)
        return filter_image(image, [kernel], settings, value_range="clip").pixels

    if cv2 is None:
        return mine, None
    weights = np.asarray(kernel.weights, dtype=np.float32)

    def ref(threads: int) -> object:
        cv2.setNumThreads(threads)
        return cv2.filter2D(pixels, -1, weights, borderType=cv2.BORDER_REFLECT_101)

    return mine, ref


def _layer(quick: bool) -> tuple[Callable[[int], object], Callable[[int], object] | None]:
    """``conv2d`` of 1×64×112² with 128 3×3 filters, padding 1; torch's conv2d."""
    rng = np.random.default_rng(64)
    c_in, c_out, size = (4, 8, 16) if quick else (64, 128, 112)
    x = rng.standard_normal((1, c_in, size, size)).astype(np.float32)
    w = rng.standard_normal((c_out, c_in, 3, 3)).astype(np.float32)

    def mine(threads: int) -> object:
        return convcli.conv2d(x, w, padding=1, threads=threads)

    if torch is None:
        return mine, None
    tx, tw = torch.from_numpy(x), torch.from_numpy(w)

    def ref(threads: int) -> object:
        torch.set_num_threads(threads)
        with torch.no_grad():
            return torch.nn.functional.conv2d(tx, tw, padding=1).numpy()

    return mine, ref


def _picked(img: np.ndarray, w: np.ndarray, threads: int) -> str:
    """The strategy ``auto`` runs for this call (the cost model, asked the same way)."""
    from convcli.arithmetic.geometry import Geometry
    from convcli.engine.costs import choose_strategy
    from convcli.engine.tiling import DEFAULT_MEMORY_BUDGET, Problem

    geo = Geometry.resolve(img.shape, w.shape, padding="same")
    problem = Problem.of(geo, 1, 1, 1, 1)
    return choose_strategy(
        problem, w[None, None], np.dtype(np.float32), DEFAULT_MEMORY_BUDGET, threads, 4
    )


if __name__ == "__main__":
    main()
