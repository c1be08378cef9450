"""Images larger than memory: peak RSS of ``convcli filter`` on a 24 000² tiled TIFF.

Writes a 24 000 × 24 000 uint8 tiled TIFF (576 MB, 256² tiles, no
compression; written tile by tile, never whole in memory), then runs
``convcli filter big.tif -k sobel -o out.tif`` as a user would (it goes the
tiled path because the image is above --max-pixels) and reports its wall
time and peak resident memory (``ru_maxrss`` of the child). Beside it,
libvips' ``vips sobel`` when the ``vips`` command is on PATH.

    python benchmarks/bench_huge.py            # the 24 000² case (about a minute, 1.2 GB of disk)
    python benchmarks/bench_huge.py --quick    # 3 000², seconds
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_input(path: Path, side: int, tile: int = 256) -> None:
    import tifffile

    def tiles():
        for y in range(0, side, tile):
            for x in range(0, side, tile):
                yy, xx = np.mgrid[y : y + tile, x : x + tile]
                yield ((xx * 7 + yy * 3 + (xx * yy) % 251) % 256).astype(np.uint8)

    tifffile.imwrite(
        path, tiles(), shape=(side, side), dtype=np.uint8, tile=(tile, tile), bigtiff=True
    )


def measure(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one command run as a child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, _, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = 0
    return elapsed, usage.ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3000² instead of 24000²")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args()
    side = 3000 if args.quick else 24000
    convcli = shutil.which("convcli") or str(Path(sys.executable).parent / "convcli")
    rows = []
    with tempfile.TemporaryDirectory(prefix="convcli-bench-huge-") as tmp:
        folder = Path(tmp)
        write_input(folder / "big.tif", side)
        cmd = [
            convcli,
            "filter",
            "big.tif",
            "-k",
            "sobel",
            "-o",
            "out.tif",
            "--max-pixels",
            "1000000",
        ]
        seconds, peak = measure(cmd, folder)
        assert (folder / "out.tif").exists(), "convcli wrote nothing"
        rows.append(("convcli filter -k sobel (tiled path)", seconds, peak))
        vips = shutil.which("vips")
        if vips:
            seconds, peak = measure([vips, "sobel", "big.tif", "vips.tif[tile,bigtiff]"], folder)
            rows.append(("vips sobel (streaming)", seconds, peak))
        else:
            rows.append(("vips sobel", float("nan"), float("nan")))
    print(
        f"# {side}² uint8 tiled TIFF through sobel; {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}"
    )
    if args.markdown:
        print("| tool | wall s | peak RSS MiB |\n|---|---|---|")
    for name, seconds, peak in rows:
        if args.markdown:
            cells = ("not found", "") if seconds != seconds else (f"{seconds:.1f}", f"{peak:.0f}")
            print(f"| {name} | {cells[0]} | {cells[1]} |")
        else:
            print(f"{name:40s} {seconds:8.1f} s {peak:8.0f} MiB")


if __name__ == "__main__":
    main()
