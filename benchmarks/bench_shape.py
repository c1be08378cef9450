"""Time ``convcli shape --out`` (solving for stride and padding) at any input size.

Run from the repository root::

    python benchmarks/bench_shape.py                       # this checkout
    python benchmarks/bench_shape.py --base /tmp/base      # and a base checkout's convcli/

Two parts:

- in process, the CPU time (``time.process_time``, best of 5) of
  ``solve_strides(n, 7, 3)`` for n = 10**6, 10**9 and 10**18, with any
  padding and with ``same``: solving, counting every choice, the first ten
  runs of strides (what the table shows) and the first 1000 choices;
- end to end, the wall time (median of 3) and the number of lines printed by
  ``convcli shape --in 1000000 --out 7 --k 3`` (table, ``--p same``,
  ``--json``, ``--csv``, ``--quiet``) as a separate process, stdout a pipe;
  with ``--base DIR``, the same run as ``python -m convcli`` with
  ``PYTHONPATH=DIR`` (e.g. ``git archive main convcli | tar -x -C DIR``),
  for a before/after comparison.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from itertools import islice
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from convcli.arithmetic.solve import solve_strides  # noqa: E402

COMMANDS = [
    ("table", []),
    ("--p same (table)", ["--p", "same"]),
    ("--json", ["--json"]),
    ("--csv", ["--csv"]),
    ("--quiet", ["--quiet"]),
]


def solve_cpu(n: int, padding: str | None) -> tuple[float, int]:
    """Best-of-5 CPU seconds to solve, count, take 10 runs and 1000 choices."""
    best = float("inf")
    count = 0
    for _ in range(5):
        start = time.process_time()
        found = solve_strides(n, 7, 3, padding=padding)
        count = found.count
        list(islice(found.ranges(), 10))
        list(islice(found.choices(), 1000))
        best = min(best, time.process_time() - start)
    return best, count


def run_cli(
    command: list[str], env: dict[str, str] | None, repeat: int, cwd: Path | None = None
) -> tuple[float, int]:
    """Median wall seconds and lines of stdout of one command."""
    times, lines = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, env=env, check=True, cwd=cwd)
        times.append(time.perf_counter() - start)
        lines = done.stdout.count(b"\n")
    return statistics.median(times), lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, help="a folder holding a base checkout's convcli/")
    parser.add_argument("--repeat", type=int, default=3, help="runs per command (median)")
    args = parser.parse_args()

    print(
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}\n"
    )
    print("| n | padding | choices | CPU (solve, count, 10 runs, 1000 choices) |")
    print("|---|---|---:|---:|")
    for n in (10**6, 10**9, 10**18):
        for padding in (None, "same"):
            seconds, count = solve_cpu(n, padding)
            print(
                f"| 10^{len(str(n)) - 1} | {padding or 'any'} | {count:,} | "
                f"{seconds * 1000:.3f} ms |"
            )

    convcli = shutil.which("convcli") or str(Path(sys.executable).parent / "convcli")
    problem = ["shape", "--in", "1000000", "--out", "7", "--k", "3"]
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["NO_COLOR"] = "1"
    print(
        "\n| `convcli shape --in 1000000 --out 7 --k 3` | this checkout | lines |"
        + (" base | lines |" if args.base else "")
    )
    print("|---|---:|---:|" + ("---:|---:|" if args.base else ""))
    for name, extra in COMMANDS:
        seconds, lines = run_cli([convcli, *problem, *extra], env, args.repeat)
        row = f"| {name} | {seconds:.2f} s | {lines:,} |"
        if args.base:
            base_env = dict(env, PYTHONPATH=str(args.base))
            base = [sys.executable, "-m", "convcli", *problem, *extra]
            # run from the base folder: `python -m` puts the working directory first
            seconds, lines = run_cli(base, base_env, 1, cwd=args.base)
            row += f" {seconds:.2f} s | {lines:,} |"
        print(row, flush=True)


if __name__ == "__main__":
    main()
