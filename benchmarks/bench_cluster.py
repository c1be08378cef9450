"""Batch throughput on a Dask cluster: images per second, and the files-per-task default.

Run from the repository root (needs ``pip install '.[cluster]'``)::

    python benchmarks/bench_cluster.py             # 400 images of 256×256, about a minute
    python benchmarks/bench_cluster.py --quick     # 24 tiny images: checks that it runs

Each row runs the installed command as a person would, on one folder of
grayscale PNGs (random pixels, made once in ``--workdir``), ``-k sobel``,
``--out-dir`` a fresh folder, and reports the median wall time of
``--repeat`` runs (start-up of the command and of the cluster included) as
images per second:

- in process, ``--jobs 1`` and ``--jobs 2``;
- ``--scheduler local:2`` with ``--files-per-task`` 1, 4, 16 and the default;
- ``vips sobel`` / ImageMagick ``convert`` in a shell loop, when installed.

No figure is asserted anywhere; results go in benchmarks/README.md with the
machine they ran on.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def make_images(folder: Path, count: int, size: int) -> None:
    import numpy as np
    import PIL.Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        path = folder / f"img{i:05d}.png"
        if not path.exists():
            pixels = rng.integers(0, 256, (size, size), dtype=np.uint8)
            PIL.Image.fromarray(pixels).save(path)


def _version(tool: str) -> str:
    try:
        return subprocess.run([tool, "-version"], capture_output=True, text=True).stdout
    except OSError:
        return ""


def timed(cmd: list[str] | str, out: Path, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        start = time.perf_counter()
        subprocess.run(cmd, check=True, shell=isinstance(cmd, str), capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "convcli-bc")
    args = parser.parse_args()
    count, size = (24, 32) if args.quick else (400, 256)
    repeat = 1 if args.quick else args.repeat
    src = args.workdir / f"in-{count}-{size}"
    out = args.workdir / "out"
    make_images(src, count, size)
    convcli = [shutil.which("convcli") or "convcli", "filter", str(src), "-k", "sobel"]
    convcli += ["--out-dir", str(out), "--quiet", "--overwrite"]
    rows = [
        ("convcli --jobs 1", convcli),
        ("convcli --jobs 2", [*convcli, "--jobs", "2"]),
    ]
    for n in (1, 4, 16):
        rows.append(
            (
                f"convcli --scheduler local:2 --files-per-task {n}",
                [*convcli, "--scheduler", "local:2", "--files-per-task", str(n)],
            )
        )
    rows.append(
        ("convcli --scheduler local:2 (default grouping)", [*convcli, "--scheduler", "local:2"])
    )
    if shutil.which("vips"):
        rows.append(
            (
                "vips sobel, shell loop",
                f'for f in {src}/*.png; do vips sobel "$f" {out}/$(basename "$f"); done',
            )
        )
    if shutil.which("convert") and "ImageMagick" in _version("convert"):
        rows.append(
            (
                "ImageMagick convert -morphology Convolve Sobel, shell loop",
                f'for f in {src}/*.png; do convert "$f" -morphology Convolve Sobel '
                f'{out}/$(basename "$f"); done',
            )
        )
    print(
        f"{count} images of {size}×{size}, median of {repeat}; {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {sys.version.split()[0]}"
    )
    print("| run | seconds | images/s |\n|---|---|---|")
    for name, cmd in rows:
        seconds = timed(cmd, out, repeat)
        print(f"| {name} | {seconds:.2f} | {count / seconds:.0f} |", flush=True)


if __name__ == "__main__":
    main()
