"""Peak memory and time of a resumed batch (``--skip-existing``) as the file count grows.

For each count N, N tiny PNGs are made, a first run writes them all with a
manifest (``convcli pool in --size 2 --out-dir out --manifest m.jsonl``),
and then three runs are interleaved, each repeated: the resume that finds
everything complete, with the manifest (checksums) and without it (full
decodes), and a fresh batch of the same files into a new folder (the
peer: what the batch costs without resuming). Each run is the installed
command in its own process; its peak resident set size comes from
``os.wait4``. The table gives the peak RSS, its growth per file from the
smallest N, and the time of each resume over the fresh batch's.

    python benchmarks/bench_resume.py            # N = 1 000 and 10 000
    python benchmarks/bench_resume.py --quick    # N = 50 and 200 (tests/test_benchmarks.py style)
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

import numpy as np
import PIL.Image


def _convcli() -> str:
    beside = Path(sys.executable).parent / "convcli"
    return str(beside) if beside.exists() else shutil.which("convcli") or "convcli"


def _measure(args: list[str], cwd: Path) -> tuple[float, float]:
    """(seconds, peak RSS in MiB) of one run of the command."""
    started = time.monotonic()
    proc = subprocess.Popen(
        [_convcli(), *args], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(proc.pid, 0)
    took = time.monotonic() - started
    err = proc.stderr.read().decode() if proc.stderr else ""
    if status != 0:
        raise SystemExit(f"convcli {' '.join(args)} failed:\n{err}")
    return took, usage.ru_maxrss / 1024


def _make(folder: Path, count: int) -> None:
    folder.mkdir()
    pixels = np.random.default_rng(0).integers(0, 256, (8, 8), dtype=np.uint8)
    buffer = folder / "f0.png"
    PIL.Image.fromarray(pixels).save(buffer)
    data = buffer.read_bytes()
    for i in range(1, count):
        (folder / f"f{i}.png").write_bytes(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny counts (seconds)")
    parser.add_argument("--repeat", type=int, default=3)
    ns = parser.parse_args()
    counts = [50, 200] if ns.quick else [1000, 10000]
    repeat = 1 if ns.quick else ns.repeat
    print(f"# bench_resume: {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.1f}")  # fmt: skip
    rows = []
    for count in counts:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            _make(root / "in", count)
            base = ["pool", "in", "--size", "2", "-q"]
            _measure([*base, "--out-dir", "out", "--manifest", "m.jsonl"], root)
            runs: dict[str, list[tuple[float, float]]] = {"manifest": [], "decode": [], "fresh": []}
            for i in range(repeat):  # interleaved, so a load change hits every row alike
                runs["manifest"].append(
                    _measure(
                        [*base, "--out-dir", "out", "--manifest", "m.jsonl", "--skip-existing"],
                        root,
                    )
                )
                runs["decode"].append(
                    _measure([*base, "--out-dir", "out", "--skip-existing"], root)
                )
                runs["fresh"].append(_measure([*base, "--out-dir", f"fresh{i}"], root))
            fresh = statistics.median(t for t, _ in runs["fresh"])
            for name, results in runs.items():
                seconds = statistics.median(t for t, _ in results)
                rss = max(r for _, r in results)
                rows.append((count, name, seconds, seconds / fresh, rss))
    print(f"{'files':>7} {'run':<9} {'median s':>9} {'x fresh':>8} {'peak RSS MiB':>13}")
    for count, name, seconds, ratio, rss in rows:
        print(f"{count:>7} {name:<9} {seconds:>9.2f} {ratio:>8.2f} {rss:>13.1f}")
    small, large = counts[0], counts[-1]
    for name in ("manifest", "decode", "fresh"):
        a = next(r[4] for r in rows if r[0] == small and r[1] == name)
        b = next(r[4] for r in rows if r[0] == large and r[1] == name)
        per_file = (b - a) * 1024 * 1024 / (large - small)
        print(f"{name}: peak RSS grows {per_file:.0f} bytes per file from {small} to {large}")


if __name__ == "__main__":
    main()
