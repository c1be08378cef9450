"""A batch reuses one file's memory for the next, and holds no more for more files (issue 22).

Run as a person runs it: the installed ``convcli`` command on a folder,
``--jobs 1`` (the batch in the command's own process) and ``--jobs 2``
(worker processes). The kernel counts the page faults of the whole process
tree (``RUSAGE_CHILDREN``) and its largest resident set.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from convcli.cli.jobs import reuse_freed_memory

CONVCLI = shutil.which("convcli") or str(Path(sys.executable).parent / "convcli")
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt")


def _folder(where: Path, count: int) -> Path:
    """``count`` JPEGs of 512² RGB (hard links of 4 distinct files: reading them is the same)."""
    folder = where / f"in{count}"
    folder.mkdir()
    rng = np.random.default_rng(3)
    first = []
    for i in range(4):
        pixels = rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)
        name = folder / f"img{i:04d}.jpg"
        Image.fromarray(pixels).save(name, quality=90)
        first.append(name)
    for i in range(4, count):
        os.link(first[i % 4], folder / f"img{i:04d}.jpg")
    return folder


#: runs the command given in argv and prints the page faults and the largest resident set
#: (KiB) of its process tree alone (this test process's own children would mix in)
MEASURE = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[1:], capture_output=True).returncode
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(code, usage.ru_minflt, usage.ru_maxrss)
"""


def _run(folder: Path, out: Path, jobs: int) -> tuple[int, int]:
    """Run the command; return (minor page faults, largest resident set in KiB) of its tree."""
    cmd = [CONVCLI, "filter", str(folder), "-k", "sobel-x", "--range", "clip"]
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, *cmd, "--out-dir", str(out), "--jobs", str(jobs), "-q"],
        capture_output=True,
        text=True,
        env=dict(os.environ, CONVCLI_THREADS="1"),
        check=True,
    )
    code, faults, rss = (int(v) for v in result.stdout.split())
    assert code == 0
    assert len(list(out.iterdir())) == len(list(folder.iterdir()))
    return faults, rss


@linux_only
def test_mallopt_is_there_on_glibc():
    """On glibc Linux the parameters are taken (else the batch runs as before)."""
    if not os.confstr("CS_GNU_LIBC_VERSION"):
        pytest.skip("not glibc")
    assert reuse_freed_memory() is True


@linux_only
@pytest.mark.parametrize("jobs", [1, 2])
def test_a_batch_does_not_fault_its_arrays_in_for_every_file(jobs, tmp_path):
    """30 more files cost few page faults more: each file's arrays reuse the last one's
    memory. Before, glibc gave every freed array back and each 512² JPEG faulted about
    600 pages (768 KiB pixels, 3 MiB of float planes, Pillow's buffers) in again."""
    if not os.confstr("CS_GNU_LIBC_VERSION"):
        pytest.skip("not glibc")
    few, many = _folder(tmp_path, 10), _folder(tmp_path, 40)
    faults_few, _ = _run(few, tmp_path / "out-few", jobs)
    faults_many, _ = _run(many, tmp_path / "out-many", jobs)
    per_file = (faults_many - faults_few) / 30
    assert per_file < 100, per_file


def test_memory_does_not_grow_with_the_number_of_files(tmp_path):
    """Four times the files, the same largest process (within 16 MiB): no list of results,
    and the freed memory a worker keeps is bounded."""
    few, many = _folder(tmp_path, 40), _folder(tmp_path, 160)
    _, rss_few = _run(few, tmp_path / "out-few", 2)
    _, rss_many = _run(many, tmp_path / "out-many", 2)
    assert rss_many - rss_few < 16 * 1024, (rss_few, rss_many)
