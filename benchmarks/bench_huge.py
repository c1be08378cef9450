"""Images larger than memory: peak RSS of ``convcli filter`` on a 24 000² tiled TIFF.

Writes a 24 000 × 24 000 uint8 tiled TIFF (576 MB, 256² tiles, no
compression; written tile by tile, never whole in memory), then runs, as a
user would and with no other flag (the image is above the default
whole-read limit, so it streams):

- ``convcli filter big.tif -k sobel -o out.tif`` (one pass over the tiles);
- ``convcli filter big.tif -k gaussian:3 -k laplacian -o chain.tif``, a
  two-kernel chain whose ``--range auto`` stretch needs the exact 99th
  percentile of the whole result (three passes);

and reports each one's wall time, peak resident memory (``ru_maxrss`` of
the child) and the peak that ``--plan`` predicted. Beside them, libvips'
``vips sobel`` when the ``vips`` command is on PATH. With ``--quick`` the
image is 3 000² and ``--max-pixels 1000000`` makes it stream.

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


def planned(cmd: list[str], cwd: Path) -> float:
    """The peak memory (MiB) ``--plan`` predicts for ``cmd``."""
    out = subprocess.run([*cmd, "--plan"], cwd=cwd, capture_output=True, text=True, check=True)
    line = next(x for x in out.stdout.splitlines() if x.startswith("peak memory: "))
    return float(line.split()[3])


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
        limit = ["--max-pixels", "1000000"] if args.quick else []
        cases = [
            ("convcli filter -k sobel (default command: tiles)", ["-k", "sobel", "-o", "out.tif"]),
            (
                "convcli filter -k gaussian:3 -k laplacian (auto range: 3 passes)",
                ["-k", "gaussian:3", "-k", "laplacian", "-o", "chain.tif"],
            ),
        ]
        for name, options in cases:
            cmd = [convcli, "filter", "big.tif", *options, *limit]
            predicted = planned(cmd, folder)
            seconds, peak = measure(cmd, folder)
            assert (folder / options[-1]).exists(), "convcli wrote nothing"
            rows.append((name, seconds, peak, predicted))
        vips = shutil.which("vips")
        if vips:
            seconds, peak = measure([vips, "sobel", "big.tif", "vips.tif[tile,bigtiff]"], folder)
            rows.append(("vips sobel (streaming)", seconds, peak, float("nan")))
        else:
            rows.append(("vips sobel", float("nan"), float("nan"), float("nan")))
    print(
        f"# {side}² uint8 tiled TIFF; {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}, "
        f"load {os.getloadavg()[0]:.1f}"
    )
    if args.markdown:
        print("| tool | wall s | peak RSS MiB | --plan said MiB |\n|---|---|---|---|")
    for name, seconds, peak, predicted in rows:
        said = "" if predicted != predicted else f"{predicted:.0f}"
        if args.markdown:
            cells = ("not found", "") if seconds != seconds else (f"{seconds:.1f}", f"{peak:.0f}")
            print(f"| {name} | {cells[0]} | {cells[1]} | {said} |")
        else:
            print(f"{name:62s} {seconds:8.1f} s {peak:8.0f} MiB  (--plan: {said or '-'} MiB)")


if __name__ == "__main__":
    main()
