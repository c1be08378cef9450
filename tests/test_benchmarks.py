"""The benchmark stays runnable (no timing is asserted: speed lives in benchmarks/README.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_benchmark_quick_mode_runs():
    """`bench_engine.py --quick` runs to the end and prints every case of the table."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_engine.py"), "--quick"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    for case in [
        "filter2d 128² f32, 3×3",
        "filter2d 128² f32, 11×11",
        "conv2d 1×64×16²",
        "max pool 2×2/2",
        "31×31 Gaussian",
        "filter2d 256² f32, 11×11, default 256 MiB budget",
    ]:
        assert case in result.stdout
