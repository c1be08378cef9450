"""Run the whole bad-input and fault corpus and print its summary (issue 21's done-when).

    python tests/corpus_summary.py              # every case: 10-30 minutes on 2 cores
    python tests/corpus_summary.py --sample     # the hand-written cases, the API corpus and
                                                # one signal per path: a few minutes

It runs, through pytest and the installed ``convcli``, the three corpus
files (``test_corpus.py``: every generated and hand-written command-line
case; ``test_corpus_api.py``: the library calls; ``test_signal_latency.py``:
SIGINT and SIGTERM sent to each long-running path), collects what each one
recorded (the JSON written where ``CONVCLI_CORPUS_SUMMARY``,
``CONVCLI_CORPUS_API_SUMMARY`` and ``CONVCLI_SIGNAL_SUMMARY`` point) and
prints one table: cases, tracebacks, internal errors, catch-alls ("too large
for this machine (…)" where a check up front belongs), silent NaN (exit 0 or
a returned array with NaN the input did not have), hangs, data loss (an
input changed, a ``.part`` left, a pickle unpickled), and signals answered
within a second. Exit status 0 only when every count that must be 0 is.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
LATENCY = 1.0


def _pytest(args: list[str], env: dict[str, str]) -> int:
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]
    return subprocess.run(command, cwd=HERE.parent, env=env, check=False).returncode


def _load(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def collect(folder: Path) -> list[tuple[str, object, bool]]:
    """(row, value, clean) of the summary table from the files the tests wrote."""
    cli = _load(folder / "cli.json").get("summary", {})
    api = _load(folder / "api.json").get("summary", {})
    signals = []
    if (folder / "signals.jsonl").is_file():
        signals = [json.loads(line) for line in (folder / "signals.jsonl").read_text().splitlines()]
    answered = [s for s in signals if s["status"] == 128 + s["signal"]]
    in_time = [s for s in answered if s["seconds"] < LATENCY]
    slowest = max((s["seconds"] for s in signals), default=0.0)
    api_internal = api.get("internal", 0)
    rows = [
        ("command-line cases", cli.get("cases", 0), True),
        ("  by family", cli.get("by_family", {}), True),
        ("  exit codes", cli.get("exit_codes", {}), True),
        ("library (API) cases", api.get("cases", 0), True),
        ("signals sent", len(signals), True),
        ("tracebacks", cli.get("tracebacks", 0), cli.get("tracebacks", 0) == 0),
        (
            "internal errors (CLI + API)",
            cli.get("internal_errors", 0) + api_internal,
            cli.get("internal_errors", 0) + api_internal == 0,
        ),
        ("catch-alls", cli.get("catch_alls", 0), cli.get("catch_alls", 0) == 0),
        (
            "silent NaN (CLI + API)",
            cli.get("silent_nan", 0) + api.get("silent_nan", 0),
            cli.get("silent_nan", 0) + api.get("silent_nan", 0) == 0,
        ),
        (
            "hangs (CLI + API)",
            cli.get("hangs", 0) + api.get("hangs", 0),
            cli.get("hangs", 0) + api.get("hangs", 0) == 0,
        ),
        (
            "data loss (CLI) / inputs mutated (API)",
            f"{cli.get('data_loss', 0)} / {api.get('mutated', 0)}",
            cli.get("data_loss", 0) == 0 and api.get("mutated", 0) == 0,
        ),
        ("other wrong outcomes (CLI + API)", cli.get("wrong", 0) + api.get("wrong", 0), True),
        (
            f"signals answered within {LATENCY:g} s",
            f"{len(in_time)} of {len(signals)} (slowest {slowest:.2f} s)",
            len(in_time) == len(signals),
        ),
        ("known bugs", cli.get("known_bugs", []) + api.get("known_bugs", []), True),
    ]
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sample", action="store_true", help="a quick sample: see the module docstring"
    )
    parser.add_argument("--keep", type=Path, help="write the JSON files into this folder")
    parser.add_argument(
        "--only",
        choices=("cli", "api", "signals"),
        action="append",
        help="run only this part (repeat for more); the others' records in --keep are reused",
    )
    args = parser.parse_args()
    parts = args.only or ["cli", "api", "signals"]
    folder = args.keep or Path(tempfile.mkdtemp(prefix="corpus-summary-"))
    folder.mkdir(parents=True, exist_ok=True)
    files = {"cli": "cli.json", "api": "api.json", "signals": "signals.jsonl"}
    for part in parts:
        (folder / files[part]).unlink(missing_ok=True)
    # a shell starts a background job with SIGINT ignored, and convcli keeps an ignored
    # signal ignored (as under nohup): the Ctrl-C cases would then time out for nothing
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    env = dict(os.environ)
    env.update(
        CONVCLI_CORPUS_SUMMARY=str(folder / "cli.json"),
        CONVCLI_CORPUS_API_SUMMARY=str(folder / "api.json"),
        CONVCLI_SIGNAL_SUMMARY=str(folder / "signals.jsonl"),
    )
    corpus = ["tests/test_corpus.py"]
    latency = ["tests/test_signal_latency.py"]
    if args.sample:
        # generated families of images and geometry, not kernels and outputs; SIGTERM only
        corpus += ["-k", "not kernel_corpus and not output_corpus and not concurrent"]
        latency += ["-k", "SIGTERM"]
    runs = {
        "cli": corpus,
        "api": ["tests/test_corpus_api.py", "-k", "api_corpus"],
        "signals": latency,
    }
    codes = [_pytest(runs[part], env) for part in parts]
    rows = collect(folder)
    width = max(len(r[0]) for r in rows)
    print(f"\ncorpus summary{' (sample)' if args.sample else ''}; records in {folder}")
    for name, value, clean in rows:
        print(f"  {name:<{width}}  {value}{'' if clean else '   <-- must be 0'}")
    clean = all(r[2] for r in rows)
    print(f"pytest exit codes: {codes}; {'clean' if clean else 'NOT clean'}")
    return 0 if clean and not any(codes) else 1


if __name__ == "__main__":
    sys.exit(main())
