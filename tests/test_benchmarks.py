"""The benchmarks stay runnable (no timing is asserted: speed lives in benchmarks/README.md).

Each script runs in its ``--quick`` mode, as a subprocess, once with what is
installed and once with OpenCV and PyTorch (and, for the CLI benchmark,
ImageMagick and libvips) made unavailable, so that the rows say so instead
of failing.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ENGINE = ROOT / "benchmarks" / "bench_engine.py"
CLI = ROOT / "benchmarks" / "bench_cli.py"

# Runs a script with cv2 and torch unimportable, as if they were not installed.
# (A None entry in sys.modules would do for `import`, but scipy looks there
# for torch arrays and would trip on it.)
WITHOUT_EXTRAS = """\
import importlib.abc, os, runpy, sys

class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("cv2", "torch"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NotInstalled())
script = sys.argv[1]
sys.argv = sys.argv[1:]
sys.path.insert(0, os.path.dirname(os.path.abspath(script)))  # as `python script` does
runpy.run_path(script, run_name="__main__")
"""

ENGINE_ROWS = [
    "128² float32, 3×3 Sobel, same/reflect",
    "128² float32, 5×5 random",
    "128² float32, 11×11 random",
    "128² float32, 31×31 Gaussian σ=5",
    "conv layer 1×8×16² → 16, 3×3, pad 1",
    "max pool 2×2/2 of 3×128²",
    "memory: 256² float32, 11×11 random, default 256 MiB budget",
    "convcli default",
    "scipy.ndimage.correlate",
    "scipy.ndimage.gaussian_filter",
    "OpenCV filter2D",
    "OpenCV sepFilter2D",
    "OpenCV dilate + subsample",
    "torch conv2d",
    "auto ≤ 1.2× fastest",
    "bound MiB",
    "numpy ",  # the machine line
]

CLI_ROWS = [
    "300×200 RGB PNG → sobel → PNG",
    "300×200 RGB JPEG → sobel → JPEG",
    "convcli",
    "ImageMagick",
    "vips conv",
    "cv2 script",
    "python -c pass",
    "convcli shape (table)",
    "convcli shape --json",
]


def run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        cwd=ROOT,
        env=env,
    )


def assert_rows(stdout: str, rows: list[str]) -> None:
    missing = [r for r in rows if r not in stdout]
    assert not missing, f"rows missing: {missing}\n{stdout}"


def assert_outputs_agree(stdout: str) -> None:
    """Every output that was checked against the oracle matched it."""
    for bad in ("DIFFERS", "WRONG", "FAILED", "unreadable"):
        assert bad not in stdout, stdout


@pytest.mark.slow
def test_engine_benchmark_quick_mode_runs():
    """`bench_engine.py --quick` prints every case of issue 6's table and all agree."""
    result = run([str(ENGINE), "--quick"])
    assert result.returncode == 0, result.stderr
    assert_rows(result.stdout, ENGINE_ROWS)
    assert_outputs_agree(result.stdout)
    from convcli import STRATEGIES

    assert STRATEGIES, "no strategies: the loop below would check nothing"
    for strategy in STRATEGIES:
        assert f"convcli strategy={strategy}" in result.stdout


@pytest.mark.slow
def test_engine_benchmark_layers_quick_mode_runs():
    """`bench_engine.py --layers --quick`: both batches, every implementation checked, the
    BLAS lines and the load in the header; with torch, ratios on as many cores."""
    result = run([str(ENGINE), "--layers", "--quick", "--repeat", "2"])
    assert result.returncode == 0, result.stderr
    rows = ["1×8×16² → 16", "4×8×16² → 16", "convcli conv2d, threads=1", "BLAS note: "]
    rows += ["numpy im2col + one matmul (BLAS on all cores)", "load average (1 min)"]
    assert_rows(result.stdout, rows)
    assert_outputs_agree(result.stdout)
    try:
        import torch  # noqa: F401
    except ImportError:
        return
    assert_rows(result.stdout, ["torch conv2d, 1 thread", "torch right after, s"])
    assert result.stdout.count(" ok") == 10


@pytest.mark.slow
def test_engine_benchmark_layers_without_torch():
    """Without PyTorch the layer rows run and say there are no ratios."""
    result = run(["-c", WITHOUT_EXTRAS, str(ENGINE), "--layers", "--quick", "--repeat", "1"])
    assert result.returncode == 0, result.stderr
    assert "PyTorch not installed: no ratios." in result.stdout
    assert "torch conv2d" not in result.stdout
    assert result.stdout.count(" ok") == 6


NATIVE = ROOT / "benchmarks" / "bench_native.py"


@pytest.mark.slow
def test_native_benchmark_quick_mode_runs():
    """`bench_native.py --quick` prints every row of issue 20's table, each agreeing with
    OpenCV (and the conv layer with PyTorch)."""
    pytest.importorskip("cv2")
    pytest.importorskip("torch")
    result = run([str(NATIVE), "--quick"])
    assert result.returncode == 0, result.stderr
    rows = ["3×3 | 2", "11×11 | 1", "31×31 Gaussian σ=5 | 2", "engine: "]
    rows += ["uint8 photo, sobel-x clip | 2", "uint8 photo, sobel-x clip | 1"]
    assert_rows(result.stdout, [*rows, "conv layer (quick) | 2", "conv layer (quick) | 1"])
    assert result.stdout.count("| ok |") == 14
    assert "DIFFERS" not in result.stdout


@pytest.mark.slow
def test_native_benchmark_overhead_mode_runs():
    """`bench_native.py --overhead --quick` prints one row per kernel size."""
    pytest.importorskip("cv2")
    result = run([str(NATIVE), "--quick", "--overhead"])
    assert result.returncode == 0, result.stderr
    assert_rows(result.stdout, ["| 3×3 |", "| 5×5 |", "| 7×7 |", "| 11×11 |"])


@pytest.mark.slow
def test_native_benchmark_without_opencv():
    """Without OpenCV the run completes and says so, with no ratios."""
    result = run(["-c", WITHOUT_EXTRAS, str(NATIVE), "--quick"])
    assert result.returncode == 0, result.stderr
    assert "OpenCV: not installed" in result.stdout
    assert result.stdout.count("| n/a |") >= 10


HUGE_ROWS = [
    "200² float32, box:103",
    "200² float32, gaussian:sigma=20 (161²)",
    "200² float32, 401² random",
    "200² float32, 3×3 Sobel, dilation 1000",
    "scipy.ndimage.uniform_filter",
    "scipy.ndimage.gaussian_filter",
    "scipy.signal.oaconvolve",
    "scipy.ndimage.correlate1d × 6 taps",
]


@pytest.mark.slow
def test_engine_benchmark_huge_quick_mode_runs():
    """`bench_engine.py --huge --quick` (issue 12's rows at a tenth of the size) agrees."""
    result = run([str(ENGINE), "--huge", "--quick"])
    assert result.returncode == 0, result.stderr
    assert_rows(result.stdout, HUGE_ROWS)
    assert_outputs_agree(result.stdout)
    assert result.stdout.count(" ok") >= 15  # every implementation checked against its oracle


@pytest.mark.slow
def test_engine_benchmark_without_opencv_and_torch():
    """Without the `bench` extra the rows say "not installed" and the run completes."""
    result = run(["-c", WITHOUT_EXTRAS, str(ENGINE), "--quick", "--markdown"])
    assert result.returncode == 0, result.stderr
    assert_rows(result.stdout, [*ENGINE_ROWS[:9], "OpenCV not installed", "PyTorch not installed"])
    assert "| case | implementation | median s |" in result.stdout
    assert_outputs_agree(result.stdout)


@pytest.mark.slow
def test_cli_benchmark_quick_mode_runs(tmp_path):
    """`bench_cli.py --quick` times every tool that is there on a tiny photo."""
    result = run([str(CLI), "--quick", "--workdir", str(tmp_path)])
    assert result.returncode == 0, result.stderr
    assert_rows(result.stdout, CLI_ROWS)
    assert_outputs_agree(result.stdout)
    assert list(tmp_path.glob("photo-300x200.*"))


@pytest.mark.slow
def test_cli_benchmark_skips_absent_tools(tmp_path):
    """With no ImageMagick, libvips or OpenCV, their rows say so and convcli is still timed."""
    env = dict(os.environ, PATH=str(Path(sys.executable).parent))
    result = run(
        ["-c", WITHOUT_EXTRAS, str(CLI), "--quick", "--workdir", str(tmp_path)],
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert_rows(
        result.stdout,
        [
            *CLI_ROWS,
            "not found (apt-get install imagemagick)",
            "not found (apt-get install libvips-tools)",
            "OpenCV not installed",
        ],
    )
    assert_outputs_agree(result.stdout)
    convcli_png = next(line for line in result.stdout.splitlines() if "PNG → sobel" in line)
    assert " ok" in convcli_png  # the convcli row was timed and its output checked


STARTUP = ROOT / "benchmarks" / "bench_startup.py"
STARTUP_ROWS = [
    "floor: python -c 'import numpy, PIL.Image'",
    "floor: python -c pass",
    "filter 512² PNG → sobel → PNG",
    "pool 512² PNG 2×2 max → PNG",
    "kernels (table)",
    "shape --in 224 --k 11 --s 4 --p 2 (table)",
    "loop: 3 × convcli filter sobel",
    "≤ 1.3×",
    "≤ 3×",
]


@pytest.mark.slow
def test_startup_benchmark_quick_mode_runs():
    """`bench_startup.py --quick` prints every row of issue 13 with its ratio and target."""
    result = run([str(STARTUP), "--quick"])
    assert result.returncode == 0, result.stderr
    assert_rows(result.stdout, STARTUP_ROWS)
    filter_row = next(line for line in result.stdout.splitlines() if "filter 512²" in line)
    assert "×" in filter_row and ("met" in filter_row or "missed by" in filter_row)
    # bench_cli.py's rows (a 300×200 photo in quick mode), each tool timed or said to be absent
    big = [line for line in result.stdout.splitlines() if "→ sobel-x →" in line]
    for case, against in (
        ("JPEG → sobel-x → JPEG", "vips conv"),
        ("PNG → sobel-x → PNG", "cv2 script"),
    ):
        rows = [line for line in big if case in line]
        mine = next(line for line in rows if "| convcli |" in line)
        assert "×" in mine and against in mine  # its ratios, and its target's reference
        assert any("floor:" in line for line in rows)
        for tool in ("vips conv", "cv2 script"):
            assert any(f"| {tool} |" in line for line in rows), (tool, rows)
    assert "# load average " in result.stdout  # the machine's load is recorded
    assert re.search(r"^# others' cores during a run: at most \d+\.\d\d", result.stdout, re.M)
    # issue 22: each command's import milliseconds beyond the floor, against its budget
    table = result.stdout.split("| command | imports beyond the floor, ms |", 1)[1]
    for name in ("filter 512² PNG → sobel → PNG", "shape --in 224 --k 11 --s 4 --p 2 (table)"):
        row = next(line for line in table.splitlines() if line.startswith(f"| {name} | "))
        assert re.search(
            r"^\| [^|]+ \| \d+\.\d \| .+ \| \d+ \| (met|over by [\d.]+ ms) \|$", row
        ), row


THROUGHPUT = ROOT / "benchmarks" / "bench_throughput.py"


@pytest.mark.slow
def test_throughput_benchmark_quick_mode_runs():
    """`bench_throughput.py --quick` times convcli and every peer that is there, with the load."""
    result = run([str(THROUGHPUT), "--quick"])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "others' cores" in result.stdout  # the load column is there
    for case in ("6 PNGs 32², --jobs 2", "6 JPEGs 32², --jobs 2"):
        rows = [line for line in lines if line.startswith(f"| {case} |")]
        tools = {line.split("|")[2].strip() for line in rows}
        assert {"convcli", "cv2 script", "mogrify", "vips conv"} <= tools, rows
        mine = next(line for line in rows if "| convcli |" in line)
        assert re.search(r"\| \d+\.\d{3} \| \d+ \|", mine), mine  # seconds and files/s
    # one worker's CPU ms per file by stage, convcli's against the cv2 script's (the cv2
    # column says "not installed" without the bench extra, as CI's test extra has none)
    import importlib.util

    # every stage is timed inside the runs that time the whole file: "the rest" is never < 0
    theirs = r"\d+\.\d" if importlib.util.find_spec("cv2") else "not installed"
    for label in ("PNG 32²", "JPEG 32²"):
        table = result.stdout.split(f"| {label}: CPU ms per file | convcli | cv2 script |", 1)[1]
        for stage in ("read", "filter", "write", "the rest", "whole file"):
            assert re.search(rf"^\| {stage} \| \d+\.\d \| {theirs} \|", table, re.M), stage


@pytest.mark.slow
def test_throughput_benchmark_skips_absent_peers():
    """Without OpenCV, ImageMagick and libvips their rows say so and convcli is still timed."""
    env = dict(os.environ, PATH=str(Path(sys.executable).parent))
    result = run(["-c", WITHOUT_EXTRAS, str(THROUGHPUT), "--quick"], env=env)
    assert result.returncode == 0, result.stderr
    assert_rows(
        result.stdout,
        [
            "| cv2 script | not installed (pip install '.[bench]')",
            "| mogrify | not installed (apt-get install imagemagick)",
            "| vips conv | not installed (apt-get install libvips-tools)",
            "| 6 PNGs 32², --jobs 2 | convcli | ",
            "| 6 PNGs 32², --jobs 2 | convcli pool 2×2 max | ",
            "| read | ",  # the stage table, convcli's column alone
        ],
    )
    assert "| whole file |" in result.stdout and "| not installed |" in result.stdout


OVERLAP = ROOT / "benchmarks" / "bench_overlap.py"


@pytest.mark.slow
def test_overlap_benchmark_quick_mode_runs():
    """`bench_overlap.py --quick` times both paths (and vips when there), outputs identical."""
    result = run([str(OVERLAP), "--quick"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "outputs identical: True" in result.stdout
    for name in ("convcli (overlapped)", "stage by stage (script)"):
        row = next(line for line in result.stdout.splitlines() if line.startswith(f"| {name} |"))
        assert re.search(r"\| \d+\.\d{3} \| .+ \| \d+\.\d\d \| ", row), row
