"""Where a batch worker's CPU time goes per file: convcli's stages against the cv2 script's.

Used by ``bench_throughput.py --stages`` (and runnable on its own:
``python benchmarks/worker_stages.py FOLDER``). Every stage runs in this one
process on one thread (``CONVCLI_THREADS=1``, ``cv2.setNumThreads(1)``), as a
``--jobs N`` worker on N cores does, and is timed in CPU seconds
(``time.process_time``), which another process's load changes far less than
wall time. convcli's stages are its library calls of one batch file
(:func:`convcli.cli.batch.image_task`): ``read_image``, ``filter_image``
and ``write_image``; "the rest" is the whole task less those three (checks,
names, the temporary file and its rename). The cv2 script's are
``cv2.imread``, ``cv2.filter2D`` and ``cv2.imwrite``, written the same way
(PNG: zlib level 1 run-length in both; JPEG: quality 90 in both).
"""

from __future__ import annotations

import functools
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

STAGES = ("read", "filter", "write", "the rest", "whole file")


def _cpu_ms(func: Callable[[str, int], object], files: list[str], rounds: int) -> float:
    """Median over ``rounds`` of the CPU milliseconds per file of ``func(file, i)``."""
    times = []
    for _ in range(rounds):
        start = time.process_time()
        for i, name in enumerate(files):
            func(name, i)
        times.append((time.process_time() - start) * 1000 / len(files))
    return sorted(times)[len(times) // 2]


def convcli_stages(files: list[str], out: Path, rounds: int) -> dict[str, float]:
    """CPU ms per file of each of convcli's stages (sobel-x, --range clip)."""
    os.environ["CONVCLI_THREADS"] = "1"
    from convcli.cli.batch import image_task
    from convcli.cli.filter_cmd import _filter_process
    from convcli.cli.jobs import Job, WriteOptions
    from convcli.images.filtering import FilterSettings, filter_image
    from convcli.images.io import read_image, write_image
    from convcli.kernels.catalogue import get_kernel

    kernels = (get_kernel("sobel-x"),)
    images = [read_image(f) for f in files]
    results = [filter_image(im, kernels, value_range="clip") for im in images]
    process = functools.partial(
        _filter_process,
        kernels=kernels,
        settings=FilterSettings(),
        value_range="clip",
        alpha="keep",
        gray=False,
    )
    task = functools.partial(image_task, process=process, options=WriteOptions(overwrite=True))

    def write(name: str, i: int) -> None:
        write_image(out / Path(name).name, results[i].pixels, overwrite=True)

    found = {
        "read": _cpu_ms(lambda name, i: read_image(name), files, rounds),
        "filter": _cpu_ms(
            lambda name, i: filter_image(images[i], kernels, value_range="clip"), files, rounds
        ),
        "write": _cpu_ms(write, files, rounds),
        "whole file": _cpu_ms(
            lambda name, i: task(Job(name, str(out / Path(name).name))), files, rounds
        ),
    }
    found["the rest"] = found["whole file"] - found["read"] - found["filter"] - found["write"]
    return found


def cv2_stages(files: list[str], out: Path, rounds: int) -> dict[str, float]:
    """CPU ms per file of the cv2 script's stages; empty without OpenCV."""
    try:
        import cv2
        import numpy as np
    except ImportError:
        return {}
    cv2.setNumThreads(1)
    kernel = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float32)
    images = [cv2.imread(f, cv2.IMREAD_UNCHANGED) for f in files]
    results = [cv2.filter2D(im, -1, kernel, borderType=cv2.BORDER_REFLECT_101) for im in images]

    def write(name: str, i: int) -> None:
        params = [cv2.IMWRITE_JPEG_QUALITY, 90] if name.lower().endswith(".jpg") else []
        cv2.imwrite(str(out / Path(name).name), results[i], params)

    def whole(name: str, i: int) -> None:
        image = cv2.imread(name, cv2.IMREAD_UNCHANGED)
        results[i] = cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REFLECT_101)
        write(name, i)

    found = {
        "read": _cpu_ms(lambda name, i: cv2.imread(name, cv2.IMREAD_UNCHANGED), files, rounds),
        "filter": _cpu_ms(
            lambda name, i: cv2.filter2D(images[i], -1, kernel, borderType=cv2.BORDER_REFLECT_101),
            files,
            rounds,
        ),
        "write": _cpu_ms(write, files, rounds),
        "whole file": _cpu_ms(whole, files, rounds),
    }
    found["the rest"] = found["whole file"] - found["read"] - found["filter"] - found["write"]
    return found


def stage_table(folder: Path, label: str, rounds: int = 3, limit: int = 40) -> str:
    """A Markdown table: CPU ms per file of each stage, convcli's and cv2's, and their ratio."""
    files = sorted(str(p) for p in folder.iterdir())[:limit]
    with tempfile.TemporaryDirectory(prefix="convcli-stages-") as out:
        ours = convcli_stages(files, Path(out), rounds)
        theirs = cv2_stages(files, Path(out), rounds)
    lines = [
        f"| {label}: CPU ms per file | convcli | cv2 script | convcli × cv2 |",
        "|---|---:|---:|---:|",
    ]
    for stage in STAGES:
        mine = ours[stage]
        if stage in theirs:
            other = theirs[stage]
            ratio = f"{mine / other:.2f}×" if min(mine, other) > 0.05 else ""
            lines.append(f"| {stage} | {mine:.1f} | {other:.1f} | {ratio} |")
        else:
            lines.append(f"| {stage} | {mine:.1f} | not installed | |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(stage_table(Path(sys.argv[1]), Path(sys.argv[1]).name))
