"""Files per second through a kernel: convcli on a folder against the scripts and CLIs people use.

Run from the repository root::

    python benchmarks/bench_throughput.py                 # 120 PNGs and 120 JPEGs of 512², --jobs 2
    python benchmarks/bench_throughput.py --full          # also 10⁴ PNGs and JPEGs, --jobs 1..N
    python benchmarks/bench_throughput.py --full-only --full-files 2000 --full-tools all
    python benchmarks/bench_throughput.py --full-only --write-readme   # those rows alone
    python benchmarks/bench_throughput.py --write-readme  # also put the table in benchmarks/README.md
    python benchmarks/bench_throughput.py --quick         # 6 tiny files, one round: checks it runs

Every tool computes the same thing on every file: cross-correlation with
Sobel x, ``[[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]``, negative results clipped
to 0, written in the input's format (issue 22):

- ``convcli filter DIR -k sobel-x --range clip --out-dir OUT --jobs N -q``
  (the installed command; one process that keeps N workers), and with
  ``--scheduler local:N`` when dask is installed;
- ``convcli pool DIR --size 2 --out-dir OUT --jobs N -q`` (no peer: a row of its own);
- a cv2 script: ``cv2.imread`` → ``cv2.filter2D`` → ``cv2.imwrite`` over the
  folder with a ``multiprocessing.Pool(N)``, what a machine-learning
  engineer writes instead (``pip install '.[bench]'``);
- ImageMagick: ``mogrify -morphology Convolve Sobel`` under ``xargs -P N``
  (16 files a process), and libvips: ``vips conv`` under ``xargs -P N``
  (one process a file, as ``vips`` takes one), when they are installed
  (``apt-get install imagemagick libvips-tools``); rows say "not installed"
  otherwise.

Each row's tools run interleaved, round after round, in one run, so a busy
machine slows them alike; the ratios are taken within the run. The machine
is watched while each command runs (``/proc/stat``, less the CPU time of the
benchmark's own children): when other processes kept more than half a core
busy, the row is marked **busy** with the cores they took, and the summary
says its ratios cannot be trusted. The inputs are made from
``sample_images/`` in a temporary folder: up to 100 distinct images
(shifted copies, encoded in ``--jobs`` processes), the other files hard
links to them, so a folder of 10⁴ PNGs is made in seconds.

``--full`` adds the real job: folders of 10⁴ PNGs and 10⁴ JPEGs of 512²,
each with ``--jobs 1`` to ``--jobs N``, ``--full-rounds`` interleaved timed
runs per tool (one by default; no warm-up run: the files were just written
and are in the page cache), convcli and the cv2 script only unless
``--full-tools`` names more (``all``: mogrify, ``vips conv``, which starts
10⁴ processes, ``pool`` and ``--scheduler``); ``--full-files N`` makes
them folders of N files. Those rows go to their own block of
``benchmarks/README.md`` (``--write-readme``), with the peak resident
memory of the largest process (it must not grow with the number of files).
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench_cli import find_convcli, find_imagemagick, git_commit, machine, versions
from machineload import BUSY_LIMIT, LoadWatch
from worker_stages import stage_table

ROOT = Path(__file__).resolve().parent.parent
SOBEL_MAT = "3 3 1 0\n-1 0 1\n-2 0 2\n-1 0 1\n"  # libvips matrix: width height scale offset
README = ROOT / "benchmarks" / "README.md"
BEGIN, END = "<!-- bench_throughput: begin -->", "<!-- bench_throughput: end -->"
FULL_BEGIN = "<!-- bench_throughput full: begin -->"
FULL_END = "<!-- bench_throughput full: end -->"
#: the tools a --full row runs unless --full-tools says otherwise
FULL_TOOLS = ("convcli", "cv2 script")

CV2_POOL = """\
import os
import sys
from multiprocessing import Pool

import cv2
import numpy as np

KERNEL = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float32)


# like with like: convcli's default JPEG quality (cv2's own is 95); PNG is cv2's default,
# zlib level 1 run-length, which convcli's default level 1 also writes for photographs
JPEG = [cv2.IMWRITE_JPEG_QUALITY, 90]


def one(names):
    src, dst = names
    image = cv2.imread(src, cv2.IMREAD_UNCHANGED)
    out = cv2.filter2D(image, -1, KERNEL, borderType=cv2.BORDER_REFLECT_101)
    cv2.imwrite(dst, out, JPEG if dst.lower().endswith(".jpg") else [])


if __name__ == "__main__":
    src, dst, jobs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    os.makedirs(dst, exist_ok=True)
    names = [(os.path.join(src, f), os.path.join(dst, f)) for f in sorted(os.listdir(src))]
    with Pool(jobs) as pool:
        for _ in pool.imap_unordered(one, names, chunksize=8):
            pass
"""


# --------------------------------------------------------------------------- the machine


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


@dataclass
class Timed:
    """The wall times of one tool, and the cores other processes used meanwhile."""

    seconds: list[float] = field(default_factory=list)
    others: list[float] = field(default_factory=list)  # cores busy outside our children
    peak_mib: list[float] = field(default_factory=list)  # each run's largest process, MiB

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


#: Runs a shell command and writes the largest resident set (KiB) of the command's process
#: tree to the file descriptor it is given. The command must not be started from this
#: benchmark's own process: a child exec'd from it (vfork) has this process's resident
#: set as its high-water mark, so every run read as large as the benchmark itself.
PEAK = """
import os, resource, subprocess, sys
code = subprocess.run(sys.argv[2], shell=True).returncode
os.write(int(sys.argv[1]), str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss).encode())
sys.exit(code)
"""


def run_timed(cmd: str, cwd: Path, timed: Timed) -> None:
    """Run the shell command ``cmd`` once; add its wall time and the machine's other load.

    It runs under :data:`PEAK`'s small Python process (a few tens of
    milliseconds of every run, of every tool alike), which reports the
    largest process of its tree.

    A first line ``#fresh DIR`` empties (or makes) DIR first, outside the timing.
    """
    if cmd.startswith("#fresh "):
        first, cmd = cmd.split("\n", 1)
        target = Path(first.removeprefix("#fresh "))
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
    with LoadWatch() as watch, tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as peak:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-c", PEAK, str(peak.fileno()), cmd],
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=err,
            stdin=subprocess.DEVNULL,
            pass_fds=(peak.fileno(),),
        )
        proc.wait()
        wall = time.perf_counter() - start
        err.seek(0)
        message = err.read().decode(errors="replace")[-800:]
        peak.seek(0)
        kib = peak.read().decode().strip()
    if kib:
        timed.peak_mib.append(int(kib) / 1024)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd} failed: {message}")
    timed.seconds.append(wall)
    others = watch.others(wall)
    if others is not None:
        timed.others.append(others)


# --------------------------------------------------------------------------- inputs


#: distinct images a folder holds at most; the other files are hard links to them
DISTINCT = 100


def _encode_one(task: tuple[str, int, int, str]) -> None:
    """Write image ``i`` of a folder: the sample photo at ``side``², shifted ``7 i`` columns."""
    import numpy as np
    from PIL import Image

    name, i, side, suffix = task
    base = Image.open(ROOT / "sample_images" / "chelsea.png").convert("RGB").resize((side, side))
    shifted = np.roll(np.asarray(base), (i * 7) % side, axis=1)
    im = Image.fromarray(shifted)
    if suffix == ".jpg":
        im.save(name, quality=90)
    else:
        im.save(name, compress_level=6)


def make_folder(where: Path, count: int, side: int, suffix: str, jobs: int = 2) -> Path:
    """``count`` RGB images of side² pixels in a new folder (PNG or JPEG q90).

    At most :data:`DISTINCT` of them are encoded (shifted copies of the
    sample photo, in ``jobs`` processes); the rest are hard links to those,
    so a folder of 10⁴ PNGs takes seconds to make, not the quarter of an
    hour of encoding each one. Every tool reads every file the same way
    (a hard link is a file like any other; all are in the page cache).
    """
    from multiprocessing import Pool

    folder = where / f"in-{suffix.lstrip('.')}-{count}-{side}"
    if folder.is_dir() and len(list(folder.iterdir())) == count:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    names = [folder / f"img{i:05d}{suffix}" for i in range(count)]
    distinct = min(count, DISTINCT)
    tasks = [(str(names[i]), i, side, suffix) for i in range(distinct)]
    with Pool(max(1, jobs)) as pool:
        pool.map(_encode_one, tasks, chunksize=8)
    for i in range(distinct, count):
        try:
            os.link(names[i % distinct], names[i])
        except OSError:  # no hard links on this file system
            shutil.copyfile(names[i % distinct], names[i])
    return folder


# --------------------------------------------------------------------------- rows


@dataclass
class Row:
    case: str
    files: int
    jobs: int
    times: dict[str, Timed]
    missing: dict[str, str]


def tools_for(
    folder: Path, out: Path, jobs: int, suffix: str, work: Path, quick: bool
) -> tuple[dict[str, str], dict[str, str]]:
    """Shell commands per tool for one folder, and the tools that are missing (with why)."""
    convcli = find_convcli()
    assert convcli is not None
    py = sys.executable
    cmds: dict[str, str] = {}
    missing: dict[str, str] = {}

    def fresh(name: str) -> str:
        """A marker run_timed turns into an empty output folder before the clock starts."""
        return f"#fresh {out / name}\n"

    cmds["convcli"] = (
        fresh("convcli")
        + f"{convcli} filter {folder} -k sobel-x --range clip --out-dir {out / 'convcli'} "
        f"--jobs {jobs} -q"
    )
    try:
        import cv2  # noqa: F401

        cmds["cv2 script"] = (
            fresh("cv2") + f"{py} {work / 'cv2_pool.py'} {folder} {out / 'cv2'} {jobs}"
        )
    except ImportError:
        missing["cv2 script"] = "not installed (pip install '.[bench]')"
    magick = find_imagemagick()
    mogrify = shutil.which("mogrify")
    if magick and (mogrify or magick.endswith("magick")):
        tool = mogrify if mogrify else f"{magick} mogrify"
        cmds["mogrify"] = (
            fresh("mogrify")
            + f"cd {folder} && ls | xargs -P {jobs} -n 16 {tool} -path {out / 'mogrify'} "
            "-morphology Convolve Sobel"
        )
    else:
        missing["mogrify"] = "not installed (apt-get install imagemagick)"
    vips = shutil.which("vips")
    if vips:
        cmds["vips conv"] = (
            fresh("vips") + f"cd {folder} && ls | xargs -P {jobs} -I{{}} {vips} conv {{}} "
            f"{out / 'vips'}/{{}} {work / 'sobel.mat'}"
        )
    else:
        missing["vips conv"] = "not installed (apt-get install libvips-tools)"
    if not quick:
        try:
            import distributed  # noqa: F401

            cmds[f"convcli --scheduler local:{jobs}"] = (
                fresh("dask") + f"{convcli} filter {folder} -k sobel-x --range clip "
                f"--out-dir {out / 'dask'} --scheduler local:{jobs} -q"
            )
        except ImportError:
            missing[f"convcli --scheduler local:{jobs}"] = "dask not installed"
    if suffix == ".png":
        cmds["convcli pool 2×2 max"] = (
            fresh("pool") + f"{convcli} pool {folder} --size 2 --out-dir {out / 'pool'} "
            f"--jobs {jobs} -q"
        )
    return cmds, missing


def measure(
    case: str,
    folder: Path,
    files: int,
    jobs: int,
    suffix: str,
    work: Path,
    rounds: int,
    quick: bool,
    only: tuple[str, ...] | None = None,
    *,
    warm: bool = True,
) -> Row:
    """Time each tool on ``folder``, interleaved, ``rounds`` times (``only``: these tools).

    With ``warm`` every tool first runs once untimed (file cache, bytecode,
    a check that it runs); the 10⁴-file rows do without (their files were
    just written and are in the page cache).
    """
    out = work / "out"
    cmds, missing = tools_for(folder, out, jobs, suffix, work, quick)
    if only is not None:
        cmds = {name: cmd for name, cmd in cmds.items() if name in only}
        missing = {name: why for name, why in missing.items() if name in only}
    times = {name: Timed() for name in cmds}
    for cmd in cmds.values() if warm else ():  # warm-up, see above
        run_timed(cmd, work, Timed())
    for _ in range(rounds):
        for name, cmd in cmds.items():
            run_timed(cmd, work, times[name])
    shutil.rmtree(out, ignore_errors=True)
    return Row(case, files, jobs, times, missing)


# --------------------------------------------------------------------------- report

#: tool -> (the target convcli's time may be, as a multiple of that tool's)
TARGETS = {"cv2 script": 1.0, "mogrify": 0.5, "vips conv": 0.5}


def render_rows(rows: list[Row]) -> tuple[str, list[str]]:
    """The Markdown table and the list of targets missed or untrusted."""
    lines = [
        "| case | tool | median s | files/s | convcli × it | target | others' cores |",
        "|---|---|---:|---:|---:|---|---:|",
    ]
    notes: list[str] = []
    for row in rows:
        ours = row.times["convcli"].median
        for name, timed in row.times.items():
            median = timed.median
            load = max(timed.others) if timed.others else float("nan")
            busy = load > BUSY_LIMIT
            ratio = ours / median
            goal = ""
            if name in TARGETS:
                target = TARGETS[name]
                met = "met" if ratio <= target else f"missed by {ratio / target:.2f}×"
                goal = f"≤ {target:g}×: {met}" + (" (busy: not trusted)" if busy else "")
                if ratio > target or busy:
                    notes.append(
                        f"{row.case}, vs {name}: {ratio:.2f}×, target ≤ {target:g}×"
                        + (" — machine busy" if busy else "")
                    )
            lines.append(
                f"| {row.case} | {name} | {median:.3f} | {row.files / median:.0f} | "
                f"{'' if name == 'convcli' else f'{ratio:.2f}×'} | {goal} | "
                f"{load:.2f}{' **busy**' if busy else ''} |"
            )
        for name, why in row.missing.items():
            lines.append(f"| {row.case} | {name} | {why} | | | | |")
    return "\n".join(lines), notes


def write_readme(text: str, begin: str = BEGIN, end: str = END) -> None:
    """Replace the block between ``begin`` and ``end`` in benchmarks/README.md (or append it)."""
    body = README.read_text()
    block = f"{begin}\n{text}\n{end}"
    if begin in body and end in body:
        body = re.sub(re.escape(begin) + r".*?" + re.escape(end), lambda _: block, body, flags=re.S)
    else:
        body = body.rstrip("\n") + "\n\n" + block + "\n"
    README.write_text(body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="6 tiny files, one round")
    parser.add_argument(
        "--full", action="store_true", help="also 10⁴ PNGs and JPEGs, --jobs 1..N (long)"
    )
    parser.add_argument("--full-only", action="store_true", help="the --full rows alone")
    parser.add_argument(
        "--full-tools",
        default=",".join(FULL_TOOLS),
        help="tools of the --full rows, comma-separated, or 'all' (default: convcli,cv2 script)",
    )
    parser.add_argument(
        "--full-formats", default="png,jpg", help="formats of the --full rows (default png,jpg)"
    )
    parser.add_argument(
        "--full-jobs", default=None, help="--jobs values of the --full rows (default 1..--jobs)"
    )
    parser.add_argument(
        "--full-files", type=int, default=10_000, help="files of the --full rows (default 10⁴)"
    )
    parser.add_argument(
        "--full-rounds",
        type=int,
        default=1,
        help="interleaved rounds of the --full rows (default 1)",
    )
    parser.add_argument("--files", type=int, default=None, help="files per folder (default 120)")
    parser.add_argument("--side", type=int, default=None, help="image side (default 512)")
    parser.add_argument("--jobs", type=int, default=2, help="processes (default 2)")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 3)")
    parser.add_argument("--write-readme", action="store_true", help="update benchmarks/README.md")
    parser.add_argument(
        "--busy-ok", action="store_true", help="write the README even when rows were busy"
    )
    args = parser.parse_args(argv)
    files = args.files or (6 if args.quick else 120)
    side = args.side or (32 if args.quick else 512)
    rounds = args.rounds or (1 if args.quick else 3)
    if find_convcli() is None:
        print("convcli command not found (pip install .)")
        return 1
    work = Path(tempfile.mkdtemp(prefix="convcli-bench-throughput-"))
    rows: list[Row] = []
    stages: list[str] = []
    try:
        (work / "cv2_pool.py").write_text(CV2_POOL)
        (work / "sobel.mat").write_text(SOBEL_MAT)
        for suffix, label in () if args.full_only else ((".png", "PNG"), (".jpg", "JPEG")):
            folder = make_folder(work, files, side, suffix)
            case = f"{files} {label}s {side}², --jobs {args.jobs}"
            rows.append(measure(case, folder, files, args.jobs, suffix, work, rounds, args.quick))
            stages.append(stage_table(folder, f"{label} {side}²", rounds))
        full_rows = run_full(args, work) if args.full or args.full_only else []
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if full_rows:
        code = report_full(full_rows, args)
        if args.full_only:
            return code
    table, notes = render_rows(rows)
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    head = (
        f"{stamp}; {machine()} ({cores()} usable); convcli {git_commit()}; {versions()}; "
        f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())} at the end; "
        f"medians of {rounds} interleaved rounds"
    )
    busy = any(max(t.others, default=0.0) > BUSY_LIMIT for r in rows for t in r.times.values())
    if busy:
        head = "**BUSY: other processes held a core; the ratios are not to be trusted.** " + head
    report = f"{head}\n\n{table}\n"
    if notes:
        report += "\nNot met, or not trusted:\n" + "".join(f"- {n}\n" for n in notes)
    report += "\nOne worker's CPU time per file, by stage (one thread, in-process):\n\n"
    report += "\n\n".join(stages) + "\n"
    print(report)
    if args.write_readme:
        if busy and not args.busy_ok:
            print("not written to benchmarks/README.md: the machine was busy (--busy-ok to force)")
            return 3
        write_readme(report.rstrip("\n"))
    return 0


def run_full(args: argparse.Namespace, work: Path) -> list[Row]:
    """The 10⁴-file rows: each format, ``--jobs 1`` to ``--jobs N``, ``--full-rounds`` per tool.

    ``--full-tools all`` runs every tool of the small rows (mogrify, vips,
    ``--scheduler local:N``, ``pool``); a tool is named by its row's label
    (``convcli pool 2×2 max``, ``convcli --scheduler local:2``) or its first
    word after convcli (``pool``, ``--scheduler``).
    """
    count = args.full_files
    wanted = None if args.full_tools == "all" else tuple(args.full_tools.split(","))
    rows = []
    for ext in args.full_formats.split(","):
        suffix, label = (".png", "PNG") if ext == "png" else (".jpg", "JPEG")
        start = time.perf_counter()
        folder = make_folder(work, count, 512, suffix, args.jobs)
        print(f"made {count} {label}s in {time.perf_counter() - start:.0f} s", flush=True)
        every = range(1, args.jobs + 1)
        for jobs in [int(j) for j in args.full_jobs.split(",")] if args.full_jobs else every:
            case = f"{count} {label}s 512², --jobs {jobs}"
            only = None if wanted is None else _tool_names(wanted, jobs)
            rows.append(
                measure(
                    case,
                    folder,
                    count,
                    jobs,
                    suffix,
                    work,
                    args.full_rounds,
                    False,
                    only,
                    warm=False,
                )
            )
            print(render_rows(rows[-1:])[0], flush=True)  # a long run shows its rows as it goes
    return rows


def _tool_names(wanted: tuple[str, ...], jobs: int) -> tuple[str, ...]:
    """The row labels of the tools ``--full-tools`` names (short names for convcli's variants)."""
    short = {"pool": "convcli pool 2×2 max", "--scheduler": f"convcli --scheduler local:{jobs}"}
    return tuple(short.get(name, name) for name in wanted)


def _runs(rounds: int) -> str:
    """ "one run" or "medians of N runs"."""
    return "one run" if rounds == 1 else f"medians of {rounds} runs"


def report_full(rows: list[Row], args: argparse.Namespace) -> int:
    """Print the 10⁴-file table (with peak memory) and put it in its README block if asked."""
    table, notes = render_rows(rows)
    peaks = "; ".join(
        f"{row.case}: convcli {max(row.times['convcli'].peak_mib):.0f} MiB"
        for row in rows
        if "convcli" in row.times
    )
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    loads = " ".join(f"{v:.2f}" for v in os.getloadavg())
    busy = any(max(t.others, default=0.0) > BUSY_LIMIT for r in rows for t in r.times.values())
    head = (
        f"{stamp}; {machine()} ({cores()} usable); convcli {git_commit()}; "
        f"load average {loads} at the end; {_runs(args.full_rounds)} per tool, interleaved"
    )
    if busy:
        head = "**BUSY (loaded machine): the ratios are not to be trusted.** " + head
    report = f"{head}\n\n{table}\n\nPeak resident memory of a run (its largest process): {peaks}\n"
    if notes:
        report += "\nNot met, or not trusted:\n" + "".join(f"- {n}\n" for n in notes)
    print(report)
    if args.write_readme:
        if busy and not args.busy_ok:
            print("not written to benchmarks/README.md: the machine was busy (--busy-ok to force)")
            return 3
        write_readme(report.rstrip("\n"), FULL_BEGIN, FULL_END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
