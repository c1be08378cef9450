"""One big JPEG through Sobel x: the overlapped path against the stage-by-stage one and vips.

Run from the repository root::

    python benchmarks/bench_overlap.py            # the 6000×4000 photo, 7 interleaved rounds
    python benchmarks/bench_overlap.py --quick    # 2000×2000, 2 rounds: checks it runs

Three commands on ``bench_cli.py``'s photo (JPEG, quality 90), each a process,
interleaved round after round:

- ``convcli filter photo.jpg -k sobel-x --range clip -o out.jpg -q``: the
  overlapped path (:mod:`convcli.images.overlap`: decoding on a thread,
  bands filtered as they come, strips encoded meanwhile);
- the same computation stage after stage: a script calling ``read_image``,
  ``filter_image`` and ``write_image`` (what the command did before; no
  click, so it starts a little faster);
- ``vips conv photo.jpg out.jpg sobel-x.mat`` when libvips is installed.

It prints the median wall time, the ratio to vips, and the median CPU
seconds (user + system of the process tree) of each, with the cores other
processes kept busy meanwhile (``machineload.py``): on a loaded machine the
overlap has no idle core to use, and only the CPU column compares.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_cli import find_convcli, machine, make_photo
from machineload import BUSY_LIMIT, LoadWatch

SOBEL_MAT = "3 3 1 0\n-1 0 1\n-2 0 2\n-1 0 1\n"
SERIAL = """\
import sys
from convcli.images.filtering import FilterSettings, filter_image
from convcli.images.io import read_image, write_image
from convcli.kernels.files import resolve_kernel

result = filter_image(
    read_image(sys.argv[1]), [resolve_kernel("sobel-x")], FilterSettings(), value_range="clip"
)
write_image(sys.argv[2], result.pixels)
"""


def timed(cmd: list[str], out: Path, cwd: Path) -> tuple[float, float, float | None]:
    """Run ``cmd`` once (``out`` removed first): wall s, CPU s, other processes' cores."""
    out.unlink(missing_ok=True)
    before = os.times()
    with LoadWatch() as watch:
        start = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
    after = os.times()
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return wall, cpu, watch.others(wall)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2000×2000, 2 rounds")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 7)")
    args = parser.parse_args(argv)
    convcli = find_convcli()
    if convcli is None:
        print("convcli command not found (pip install .)")
        return 1
    width, height = (2000, 2000) if args.quick else (6000, 4000)
    rounds = args.rounds or (2 if args.quick else 7)
    work = Path(tempfile.mkdtemp(prefix="convcli-bench-overlap-"))
    try:
        _, jpeg = make_photo(work, width, height)
        (work / "serial.py").write_text(SERIAL)
        (work / "sobel-x.mat").write_text(SOBEL_MAT)
        cmds = {
            "convcli (overlapped)": (
                [convcli, "filter", jpeg.name, "-k", "sobel-x", "--range=clip", "-oc.jpg", "-q"],
                work / "c.jpg",
            ),
            "stage by stage (script)": (
                [sys.executable, "serial.py", jpeg.name, "s.jpg"],
                work / "s.jpg",
            ),
        }
        vips = shutil.which("vips")
        if vips:
            cmds["vips conv"] = ([vips, "conv", jpeg.name, "v.jpg", "sobel-x.mat"], work / "v.jpg")
        results: dict[str, list[tuple[float, float, float | None]]] = {k: [] for k in cmds}
        for _ in range(rounds):
            for name, (cmd, out) in cmds.items():
                results[name].append(timed(cmd, out, work))
        same = (work / "c.jpg").read_bytes() == (work / "s.jpg").read_bytes()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    base = statistics.median(r[0] for r in results["vips conv"]) if vips else None
    loads = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"# {machine()}; {width}×{height} JPEG → sobel-x → JPEG; load average {loads}")
    print(f"# medians of {rounds} interleaved rounds; outputs identical: {same}")
    print("| command | median s | × vips | median CPU s | others' cores |")
    print("|---|---:|---:|---:|---:|")
    for name, runs in results.items():
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        others = max((r[2] for r in runs if r[2] is not None), default=float("nan"))
        ratio = f"{wall / base:.2f}×" if base else "vips not installed"
        busy = " **busy**" if others > BUSY_LIMIT else ""
        print(f"| {name} | {wall:.3f} | {ratio} | {cpu:.2f} | {others:.2f}{busy} |")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
