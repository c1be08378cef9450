"""Where a batch worker's CPU time goes per file: convcli's stages against the cv2 script's.

Used by ``bench_throughput.py --stages`` (and runnable on its own:
``python benchmarks/worker_stages.py FOLDER``). Every stage runs in this one
process on one thread (``CONVCLI_THREADS=1``, ``cv2.setNumThreads(1)``), as a
``--jobs N`` worker on N cores does, and is timed in CPU seconds
(``time.process_time``), which another process's load changes far less than
wall time. convcli's stages are its library calls inside one batch file's
task (:func:`convcli.cli.batch.image_task`): ``read_image``, the filter
command's ``process`` (``filter_image``) and ``write_image``, each timed
inside the runs that time the whole task; "the rest" is the whole task
less those three (checks, names), never negative. The cv2 script's are
``cv2.imread``, ``cv2.filter2D`` and ``cv2.imwrite``, timed the same way
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


class _Clock:
    """CPU seconds spent inside wrapped calls, per stage, while whole files are processed."""

    def __init__(self) -> None:
        self.spent = dict.fromkeys(("read", "filter", "write"), 0.0)

    def wrap(self, stage: str, func: Callable) -> Callable:
        """``func``, its CPU time added to ``stage`` on every call."""

        def timed(*args: object, **kwargs: object) -> object:
            start = time.process_time()
            try:
                return func(*args, **kwargs)
            finally:
                self.spent[stage] += time.process_time() - start

        return timed


def _per_file(
    whole: Callable[[str, int], object], clock: _Clock, files: list[str], rounds: int
) -> dict[str, float]:
    """Run ``whole`` on every file ``rounds`` times; CPU ms per file of each stage.

    The stages are timed inside the very runs that time the whole file, so
    "the rest" (the whole less the stages) is what the file cost besides
    them and never negative. The round with the median whole time is reported.
    """
    found = []
    for _ in range(rounds):
        clock.spent = dict.fromkeys(clock.spent, 0.0)
        start = time.process_time()
        for i, name in enumerate(files):
            whole(name, i)
        total = time.process_time() - start
        row = {stage: seconds * 1000 / len(files) for stage, seconds in clock.spent.items()}
        row["whole file"] = total * 1000 / len(files)
        rest = row["whole file"] - sum(clock.spent.values()) * 1000 / len(files)
        row["the rest"] = max(rest, 0.0)  # >= 0 but for the rounding of the sums
        found.append(row)
    found.sort(key=lambda row: row["whole file"])
    return found[len(found) // 2]


def convcli_stages(files: list[str], out: Path, rounds: int) -> dict[str, float]:
    """CPU ms per file of each of convcli's stages (sobel-x, --range clip)."""
    os.environ["CONVCLI_THREADS"] = "1"
    import convcli.images.io as io
    from convcli.cli.batch import image_task
    from convcli.cli.filter_cmd import _filter_process
    from convcli.cli.jobs import Job, WriteOptions, reuse_freed_memory

    reuse_freed_memory()  # as a batch worker does
    from convcli.images.filtering import FilterSettings
    from convcli.kernels.catalogue import get_kernel

    clock = _Clock()
    process = functools.partial(
        _filter_process,
        kernels=(get_kernel("sobel-x"),),
        settings=FilterSettings(),
        value_range="clip",
        alpha="keep",
        gray=False,
    )
    task = functools.partial(
        image_task, process=clock.wrap("filter", process), options=WriteOptions(overwrite=True)
    )
    # image_task imports read_image and write_image from convcli.images.io as it runs
    saved = io.read_image, io.write_image
    io.read_image, io.write_image = clock.wrap("read", saved[0]), clock.wrap("write", saved[1])
    try:
        task(Job(files[0], str(out / Path(files[0]).name)))  # warm: imports, caches
        return _per_file(
            lambda name, i: task(Job(name, str(out / Path(name).name))), clock, files, rounds
        )
    finally:
        io.read_image, io.write_image = saved


def cv2_stages(files: list[str], out: Path, rounds: int) -> dict[str, float]:
    """CPU ms per file of the cv2 script's stages; empty without OpenCV."""
    try:
        import cv2
        import numpy as np
    except ImportError:
        return {}
    cv2.setNumThreads(1)
    kernel = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float32)
    clock = _Clock()
    read = clock.wrap("read", cv2.imread)
    filter2d = clock.wrap("filter", cv2.filter2D)
    write = clock.wrap("write", cv2.imwrite)

    def whole(name: str, i: int) -> None:
        image = read(name, cv2.IMREAD_UNCHANGED)
        result = filter2d(image, -1, kernel, borderType=cv2.BORDER_REFLECT_101)
        params = [cv2.IMWRITE_JPEG_QUALITY, 90] if name.lower().endswith(".jpg") else []
        write(str(out / Path(name).name), result, params)

    whole(files[0], 0)  # warm
    return _per_file(whole, clock, files, rounds)


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
