"""Standard output's reader going away, and closed standard streams, through the installed command.

``convcli ... -o - | head -c 10`` must end as ``cat`` does (quietly, non-zero:
141 = 128 + SIGPIPE), never with exit 0 and a truncated output; ``>&-`` and
``<&-`` give one clear line.
"""

from __future__ import annotations

import shlex
import subprocess
import time
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
from terminal import convcli_executable


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> Path:
    """A 1000x1000 RGB noise PNG: its sobel output (several MB) is far beyond a pipe's buffer."""
    path = tmp_path_factory.mktemp("stdio") / "big.png"
    pixels = np.random.default_rng(8).integers(0, 256, (1000, 1000, 3), dtype=np.uint8)
    PIL.Image.fromarray(pixels).save(path, compress_level=0)
    return path


@pytest.mark.parametrize("fmt", ["png", "npy"])
def test_a_reader_that_goes_away_is_not_a_success(big, tmp_path, fmt):
    proc = subprocess.Popen(
        [convcli_executable(), "filter", str(big), "-k", "sobel", "-o", "-", "-f", fmt],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    time.sleep(1.0)  # as `(sleep 1; head -c 10)`: the output is ready and waiting
    head = proc.stdout.read(10)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.stderr.close()
    code = proc.wait(timeout=60)
    assert len(head) == 10
    assert code == 141, err
    assert "Traceback" not in err and "Error" not in err
    assert list(tmp_path.iterdir()) == []


def shell(command: str, cwd: Path) -> tuple[int, str]:
    done = subprocess.run(
        ["bash", "-c", command], cwd=cwd, capture_output=True, timeout=60, check=False
    )
    return done.returncode, done.stderr.decode()


def test_a_closed_stdout_is_one_clear_line(big, tmp_path):
    exe = shlex.quote(convcli_executable())
    code, err = shell(f"{exe} filter {shlex.quote(str(big))} -k sobel -o - >&-", tmp_path)
    assert code == 1
    assert err.strip().splitlines() == ["Error: standard output is closed; give -o FILE"]


@pytest.mark.parametrize(
    ("args", "name"),
    [
        ("filter - -k sobel -o out.png", "<stdin>"),
        ("conv --input - --kernel '1 0'", "--input"),
    ],
)
def test_a_closed_stdin_is_one_clear_line(tmp_path, args, name):
    code, err = shell(f"{shlex.quote(convcli_executable())} {args} <&-", tmp_path)
    assert code in (1, 2), err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "standard input is closed" in lines[0] and name in lines[0]
    assert list(tmp_path.iterdir()) == []
