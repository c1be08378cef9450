"""Real signals sent to the installed command mid-run: a clean stop, nothing left behind.

SIGINT (Ctrl-C), SIGTERM (timeout, systemd, docker) and SIGHUP (a closed
terminal) end a run with exit status 128 + n and one line; no hidden
``.part`` temporary file is left, no input changes, and a ``--jobs`` batch
stops at once instead of writing every queued file first. Time bounds are
loose (they only tell "at once" from "after the whole batch").
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
from helpers import SAID
from terminal import convcli_executable

FILES = 16


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> list[Path]:
    """Sixteen 900x900 RGB noise images (slow enough to filter that a batch takes seconds)."""
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, (900, 900, 3), dtype=np.uint8)
    paths = []
    for i in range(FILES):
        path = folder / f"p{i:02d}.png"
        PIL.Image.fromarray(pixels).save(path, compress_level=0)
        paths.append(path)
    return paths


def digests(paths: list[Path]) -> dict[Path, str]:
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def start(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [convcli_executable(), *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, as a shell job has
    )


def wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the run never got under way"
        time.sleep(0.02)


def finish(proc: subprocess.Popen, timeout: float = 30.0) -> tuple[int, str, float]:
    sent = time.monotonic()
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err.decode("utf-8", "replace"), time.monotonic() - sent


def written(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if not p.name.startswith("."))


def leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if p.name.endswith(".part"))


@pytest.mark.parametrize(
    ("signum", "status", "group"),
    [
        (signal.SIGINT, 130, True),  # Ctrl-C at a terminal: the whole process group
        (signal.SIGINT, 130, False),
        (signal.SIGTERM, 143, False),
        (signal.SIGHUP, 129, False),
    ],
)
def test_a_jobs_batch_stops_at_once(photos, tmp_path, signum, status, group):
    before = digests(photos)
    out = tmp_path / "out"
    args = ["filter", *map(str, photos), "-k", "gaussian:sigma=6", "--out-dir", str(out)]
    proc = start([*args, "--jobs", "2"], tmp_path)
    wait_for(lambda: out.is_dir() and len(written(out)) >= 1)
    (os.killpg if group else os.kill)(proc.pid, signum)
    code, err, took = finish(proc)
    assert code == status, err
    assert took < 10.0, f"{took:.1f} s to stop"
    assert len(written(out)) < FILES
    assert leftovers(out) == []
    assert err.strip().splitlines() == [SAID[status]]
    assert "Traceback" not in err
    assert digests(photos) == before


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_a_run_in_one_process_stops_without_a_part_file(photos, tmp_path, signum, status):
    before = digests(photos)
    out = tmp_path / "out"
    args = ["filter", *map(str, photos), "-k", "gaussian:sigma=6", "--out-dir", str(out)]
    proc = start(args, tmp_path)
    wait_for(lambda: out.is_dir() and len(written(out)) >= 1)
    proc.send_signal(signum)
    code, err, took = finish(proc)
    assert code == status, err
    assert took < 10.0
    assert len(written(out)) < FILES
    assert leftovers(out) == []
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == SAID[status], err
    assert digests(photos) == before


def test_jobs_is_capped_at_the_number_of_files(photos, tmp_path, monkeypatch):
    import multiprocessing

    from click.testing import CliRunner

    from convcli.cli import cli

    sizes = []
    real = multiprocessing.Pool

    def pool(processes=None, *args, **kwargs):
        sizes.append(processes)
        return real(processes, *args, **kwargs)

    monkeypatch.setattr(multiprocessing, "Pool", pool)
    small = []
    for i in range(2):
        PIL.Image.fromarray(np.full((4, 5), i, np.uint8)).save(tmp_path / f"s{i}.png")
        small.append(str(tmp_path / f"s{i}.png"))
    result = CliRunner().invoke(
        cli, ["filter", *small, "-k", "box:3", "--out-dir", str(tmp_path / "o"), "--jobs", "1000"]
    )
    assert result.exit_code == 0, result.output
    assert sizes == [2]


def test_a_worker_killed_outright_ends_the_batch(photos, tmp_path):
    """SIGKILL on a --jobs worker (what the OOM killer sends) must not leave the batch waiting
    forever for the job that died with it: one line, exit 1, no .part file, inputs intact."""
    before = digests(photos)
    out = tmp_path / "out"
    args = ["filter", *map(str, photos), "-k", "gaussian:sigma=6", "--out-dir", str(out)]
    proc = start([*args, "--jobs", "2"], tmp_path)
    wait_for(lambda: out.is_dir() and len(written(out)) >= 1)
    children = subprocess.run(
        ["pgrep", "-P", str(proc.pid)], capture_output=True, text=True, check=False
    ).stdout.split()
    assert children, "no worker processes"
    os.kill(int(children[0]), signal.SIGKILL)
    code, err, _ = finish(proc, timeout=60)
    assert code == 1, err
    assert "a worker process died" in err
    assert "Traceback" not in err
    assert leftovers(out) == []  # the killed worker's temporary file was removed for it
    assert digests(photos) == before


def test_a_worker_signal_inside_a_finalizer_still_ends_it_quietly(tmp_path):
    """Issue 19 Found 6: a --jobs worker printed 'Exception ignored in: ...
    WeakKeyDictionary ... SystemExit: 143' when the signal landed in a finalizer
    (where an exception cannot propagate) and kept running. Here the SIGTERM
    arrives inside a __del__: the worker must still end, with 143 and no output."""
    import sys

    script = """
import os, signal, time
from convcli.cli.signals import worker_signals
worker_signals()

class Slow:
    def __del__(self):
        os.kill(os.getpid(), signal.SIGTERM)  # delivered while this finalizer runs
        for _ in range(1000):
            pass

Slow()
time.sleep(5)
print("still running")
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 143, (done.returncode, done.stdout, done.stderr)
    assert done.stdout == "" and done.stderr == "", done.stderr
