"""Time convcli as shell users run it: one process per small file (issue 13).

Run from the repository root::

    python benchmarks/bench_startup.py            # 9 interleaved rounds, a loop of 20 files
    python benchmarks/bench_startup.py --quick    # 2 rounds, a loop of 3 files: checks it runs
    python benchmarks/bench_startup.py --skip-big # without the 24-megapixel rows

Each row is the median wall time of a separate process (the installed
``convcli`` command, stdout and stderr piped, ``-q``), the rounds
interleaved so that a busy machine slows every row alike, and its ratio to
a floor measured in the same rounds:

- ``filter`` a 512×512 PNG with ``sobel`` to PNG, ``pool`` it, and
  ``kernels``, against ``python -c "import numpy, PIL.Image"`` (what any
  Python image tool pays before it starts);
- ``shape --in 224 --k 11 --s 4 --p 2`` (its table), against ``python -c pass``;
- a loop of 20 such files, one ``convcli filter`` process each, against 20
  runs of the numpy+Pillow floor;
- ``vips conv`` and ImageMagick on the same file and loop, when they are
  really installed (a stand-in ``convert`` that is not ImageMagick is skipped);
- ``bench_cli.py``'s 24-megapixel rows (its photo and its tools, imported
  from it): JPEG → Sobel x → JPEG and PNG → Sobel x → PNG, each against the
  floor, ``vips conv`` and the cv2 script (rows that say "not installed"
  when they are not); ``--quick`` makes that photo 300×200.

Child processes run without ``PYTHONDONTWRITEBYTECODE``, so that the
warm-up run leaves convcli's bytecode cached, as ``pip install`` does for
users: with the variable set, every run would compile convcli's modules
from source (about 20 ms of ``shape``'s start-up on this machine).

The issue's targets are printed beside the ratios, with "met" or by how
much they are missed.
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

from bench_cli import find_convcli, find_imagemagick, git_commit, machine, make_photo, tools
from machineload import BUSY_LIMIT, LoadWatch

ROOT = Path(__file__).resolve().parent.parent
CAMERA = ROOT / "sample_images" / "camera.png"  # 512×512 grayscale
SOBEL_MAT = "3 3 1 0\n-1 0 1\n-2 0 2\n-1 0 1\n"  # libvips matrix: width height scale offset

FLOOR = "python -c 'import numpy, PIL.Image'"
PASS = "python -c pass"
# case -> (floor it is compared with, target ratio or None): issue 22's table
TARGETS: dict[str, tuple[str, float | None]] = {
    "filter 512² PNG → sobel → PNG": (FLOOR, 1.3),
    "pool 512² PNG 2×2 max → PNG": (FLOOR, None),
    "kernels (table)": (FLOOR, None),
    "shape --in 224 --k 11 --s 4 --p 2 (table)": (PASS, 3.0),
}
# the 24-MP rows: (format, tool the target is against, target ratio)
BIG_TARGETS = {".jpg": ("vips conv", 1.2), ".png": ("cv2 script", 1.0)}
#: as users run an installed convcli: bytecode cached (see the module docstring)
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


#: Import budgets (issue 22): milliseconds of imports a command may add to the numpy+Pillow
#: floor (the sum of ``-X importtime`` self times of the modules the floor does not import,
#: click and convcli's own modules included; each module's smallest time over the runs).
#: The command's own module (convcli.cli.filter_cmd, ...) counts since the group imports it
#: with ``__import__``: ``importlib.import_module`` escapes the -X importtime log.
#: tests/test_startup_imports.py pins *which* modules each command must not import.
IMPORT_BUDGETS_MS: dict[str, float] = {
    "filter 512² PNG → sobel → PNG": 45.0,
    "pool 512² PNG 2×2 max → PNG": 45.0,
    "kernels (table)": 35.0,
    "shape --in 224 --k 11 --s 4 --p 2 (table)": 35.0,
}


def import_times(cmd: list[str], cwd: Path, runs: int) -> dict[str, float]:
    """Each module's smallest self time (ms) over ``runs`` runs of ``cmd`` under -X importtime."""
    best: dict[str, float] = {}
    exe = cmd[0] if cmd[0] == sys.executable else None
    args = cmd[1:] if exe else cmd  # the convcli script runs under this Python
    for _ in range(runs):
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", *args],
            cwd=cwd,
            capture_output=True,
            stdin=subprocess.DEVNULL,
            check=False,
            env=CHILD_ENV,
        )
        for line in proc.stderr.decode(errors="replace").splitlines():
            if not line.startswith("import time:") or "self [us]" in line:
                continue
            self_us, _, name = line.removeprefix("import time:").split("|", 2)
            name = name.strip()
            best[name] = min(best.get(name, float("inf")), int(self_us) / 1000)
    return best


def import_budget_rows(cmds: dict[str, list[str]], floor: list[str], cwd: Path, runs: int) -> str:
    """A table: per command, the import milliseconds beyond the floor's modules, and its budget."""
    base = import_times(floor, cwd, runs)
    lines = [
        "| command | imports beyond the floor, ms | largest | budget ms | |",
        "|---|---:|---|---:|---|",
    ]
    for name, budget in IMPORT_BUDGETS_MS.items():
        mine = import_times(cmds[name], cwd, runs)
        extra = {m: t for m, t in mine.items() if m not in base}
        total = sum(extra.values())
        top = ", ".join(f"{m} {t:.1f}" for m, t in sorted(extra.items(), key=lambda kv: -kv[1])[:3])
        verdict = "met" if total <= budget else f"over by {total - budget:.1f} ms"
        lines.append(f"| {name} | {total:.1f} | {top} | {budget:g} | {verdict} |")
    return "\n".join(lines)


#: the cores other processes kept busy during each run (see machineload.LoadWatch)
OTHERS: list[float] = []


def run_once(cmd: list[str], cwd: Path) -> float:
    """Wall time of one run of ``cmd``; raises if it fails. Notes the others' load in OTHERS."""
    with LoadWatch() as watch:
        started = time.perf_counter()
        proc = subprocess.run(
            cmd, cwd=cwd, capture_output=True, stdin=subprocess.DEVNULL, check=False, env=CHILD_ENV
        )
        elapsed = time.perf_counter() - started
    others = watch.others(elapsed)
    if others is not None:
        OTHERS.append(others)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr.decode(errors='replace')[-500:]}")
    return elapsed


def run_loop(cmds: list[list[str]], cwd: Path) -> float:
    """Wall time of running ``cmds`` one after another, as a shell loop does."""
    return sum(run_once(cmd, cwd) for cmd in cmds)


def verdict(ratio: float, target: float | None) -> str:
    if target is None:
        return ""
    if ratio <= target:
        return f"≤ {target:g}×: met"
    return f"≤ {target:g}×: missed by {ratio / target:.2f}× ({ratio - target:+.2f})"


def big_rows(work: Path, floor: list[str], quick: bool, rounds: int) -> str:
    """``bench_cli.py``'s 24-MP JPEG and PNG rows, in interleaved rounds, as a table.

    Each tool's median against the numpy+Pillow floor, ``vips conv`` and the
    cv2 script (medians of the same rounds), and the issue's target: JPEG
    within 1.5× ``vips conv``, PNG within 1.0× the cv2 script. A tool that
    is not installed gets a row saying so.
    """
    width, height = (300, 200) if quick else (6000, 4000)
    png, jpeg = make_photo(work, width, height)
    found = tools(work)
    lines = [
        f"| {width}×{height} RGB case | tool | median s | × floor | × vips | × cv2 | target |",
        "|---|---|---|---|---|---|---|",
    ]
    for src, ext in ((jpeg, ".jpg"), (png, ".png")):
        title = (
            f"{'JPEG' if ext == '.jpg' else 'PNG'} → sobel-x → {'JPEG' if ext == '.jpg' else 'PNG'}"
        )
        runs: dict[str, list[str]] = {"floor": floor}
        missing: dict[str, str] = {}
        for tool in found:
            if tool.png_only and ext != ".png":
                continue
            if tool.cmd is None:
                missing[tool.name] = tool.note or "not installed"
                continue
            out = f"big-{tool.name.replace(' ', '_')}{ext}"
            runs[tool.name] = [
                out if a == "{out}" else str(src) if a == "{in}" else a for a in tool.cmd
            ]
            if tool.name.startswith("convcli"):
                runs[tool.name].append("--overwrite")  # every round writes the same file
        times: dict[str, list[float]] = {name: [] for name in runs}
        for cmd in runs.values():  # warm-up: file cache, bytecode, and a check that it runs
            run_once(cmd, work)
        for _ in range(rounds):
            for name, cmd in runs.items():
                times[name].append(run_once(cmd, work))
        med = {name: statistics.median(t) for name, t in times.items()}
        against, target = BIG_TARGETS[ext]
        for name, value in med.items():
            label = f"floor: {FLOOR}" if name == "floor" else name
            cells = [f"{value / med['floor']:.2f}×"]
            for ref in ("vips conv", "cv2 script"):
                cells.append(f"{value / med[ref]:.2f}×" if ref in med else "—")
            goal = ""
            if name == "convcli":
                if against in med:
                    goal = verdict(value / med[against], target) + f" (vs {against})"
                else:
                    goal = f"≤ {target:g}× {against}: cannot tell, {against} not installed"
            lines.append(f"| {title} | {label} | {value:.3f} | {' | '.join(cells)} | {goal} |")
        for name, why in missing.items():
            lines.append(f"| {title} | {name} | {why} | | | | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds, a loop of 3 files")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 9)")
    parser.add_argument("--files", type=int, default=None, help="files in the loop (default 20)")
    parser.add_argument(
        "--skip-big", action="store_true", help="leave out the 24-megapixel rows (minutes)"
    )
    args = parser.parse_args(argv)
    rounds = args.rounds or (2 if args.quick else 9)
    files = args.files or (3 if args.quick else 20)
    loop_rounds = 1 if args.quick else 3
    load_at_start = os.getloadavg()

    convcli = find_convcli()
    if convcli is None:
        print("convcli command not found (pip install .)")
        return 1
    py = sys.executable
    work = Path(tempfile.mkdtemp(prefix="convcli-bench-startup-"))
    try:
        shutil.copy(CAMERA, work / "in.png")
        for i in range(files):
            shutil.copy(CAMERA, work / f"f{i:02d}.png")
        (work / "sobel.mat").write_text(SOBEL_MAT)
        q = ["-q", "--overwrite"]
        single: dict[str, list[str]] = {
            FLOOR: [py, "-c", "import numpy, PIL.Image"],
            PASS: [py, "-c", "pass"],
            "filter 512² PNG → sobel → PNG": [
                convcli,
                "filter",
                "in.png",
                "-k",
                "sobel",
                "-o",
                "e.png",
                *q,
            ],
            "pool 512² PNG 2×2 max → PNG": [
                convcli,
                "pool",
                "in.png",
                "--size",
                "2",
                "-o",
                "p.png",
                *q,
            ],
            "kernels (table)": [convcli, "kernels"],
            "shape --in 224 --k 11 --s 4 --p 2 (table)": [
                convcli,
                "shape",
                "--in",
                "224",
                "--k",
                "11",
                "--s",
                "4",
                "--p",
                "2",
            ],
        }
        vips = shutil.which("vips")
        magick = find_imagemagick()
        if vips:
            single["vips conv 512² PNG → sobel → PNG"] = [
                vips,
                "conv",
                "in.png",
                "v.png",
                "sobel.mat",
            ]
        if magick:
            single["ImageMagick 512² PNG → sobel → PNG"] = [
                magick,
                "in.png",
                "-morphology",
                "Convolve",
                "Sobel",
                "m.png",
            ]
        times: dict[str, list[float]] = {name: [] for name in single}
        for cmd in single.values():  # warm the file cache and check every command works
            run_once(cmd, work)
        for _ in range(rounds):
            for name, cmd in single.items():
                times[name].append(run_once(cmd, work))

        names = [f"f{i:02d}.png" for i in range(files)]
        loops: dict[str, list[list[str]]] = {
            f"{files} × {FLOOR}": [single[FLOOR]] * files,
            f"{files} × convcli filter sobel": [
                [convcli, "filter", n, "-k", "sobel", "-o", f"e-{n}", *q] for n in names
            ],
        }
        if vips:
            loops[f"{files} × vips conv"] = [
                [vips, "conv", n, f"v-{n}", "sobel.mat"] for n in names
            ]
        if magick:
            loops[f"{files} × ImageMagick"] = [
                [magick, n, "-morphology", "Convolve", "Sobel", f"m-{n}"] for n in names
            ]
        loop_times: dict[str, list[float]] = {name: [] for name in loops}
        for _ in range(loop_rounds):
            for name, cmds in loops.items():
                loop_times[name].append(run_loop(cmds, work))
        big = (
            "# 24-megapixel rows: skipped (--skip-big)"
            if args.skip_big
            else big_rows(work, single[FLOOR], args.quick, rounds=1 if args.quick else 3)
        )
        budgets = import_budget_rows(single, single[FLOOR], work, runs=2 if args.quick else 7)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    med = {name: statistics.median(t) for name, t in times.items()}
    loop_med = {name: statistics.median(t) for name, t in loop_times.items()}
    print(f"# {machine()}; convcli {git_commit()}; Python {sys.version.split()[0]}")
    load = f"{load_at_start[0]:.2f} at the start, {os.getloadavg()[0]:.2f} at the end"
    busy = " (BUSY: other processes share the cores; compare ratios only)"
    print(f"# load average {load}{busy if load_at_start[0] > 0.5 else ''}")
    if OTHERS:
        over = sum(o > BUSY_LIMIT for o in OTHERS)
        flag = f" **BUSY: {over} of {len(OTHERS)} runs not to be trusted**" if over else ""
        print(f"# others' cores during a run: at most {max(OTHERS):.2f}{flag}")
    print(f"# medians of {rounds} interleaved runs (loops: {loop_rounds}); ratios in this run")
    print("| case | median s | ratio | vs | target |")
    print("|---|---|---|---|---|")
    for name, value in med.items():
        if name in (FLOOR, PASS):
            print(f"| floor: {name} | {value:.3f} | 1.00× | | |")
            continue
        floor, target = TARGETS.get(name, (FLOOR, None))
        ratio = value / med[floor]
        print(f"| {name} | {value:.3f} | {ratio:.2f}× | {floor} | {verdict(ratio, target)} |")
    floor_loop = loop_med[f"{files} × {FLOOR}"]
    for name, value in loop_med.items():
        if name.endswith(FLOOR):
            print(f"| loop floor: {name} | {value:.3f} | 1.00× | | |")
            continue
        target = 1.3 if "convcli" in name else None
        ratio = value / floor_loop
        print(
            f"| loop: {name} | {value:.3f} | {ratio:.2f}× | {files} × floor | "
            f"{verdict(ratio, target)} |"
        )
    print()
    print(big)
    print()
    print(budgets)
    if not vips:
        print("# vips conv: not found (apt-get install libvips-tools)")
    if not magick:
        print("# ImageMagick: not found (apt-get install imagemagick)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
