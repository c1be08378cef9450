"""``--skip-existing`` and ``--manifest``: a batch stopped by a real SIGTERM resumes where it stopped.

The installed command runs in a working folder with relative paths, as a
person types it. An interrupted ``--jobs 2`` batch leaves some outputs
written and some not; a truncated output and an output whose bytes no
longer match the manifest are planted; the resumed run must write exactly
the missing and broken ones, count the rest as skipped, and end with the
same pixels as a run that was never interrupted.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import PIL.Image
import pytest
from terminal import convcli_executable, run_piped

FILES = 12
ENV = {k: v for k, v in os.environ.items() if k not in ("CONVCLI_SCHEDULER",)}


def run(*args, cwd: Path, timeout: float = 300) -> SimpleNamespace:
    code, out, err = run_piped(args, cwd, timeout=timeout)
    return SimpleNamespace(returncode=code, stdout=out, stderr=err)


def _photos(folder: Path, count: int = FILES, side: int = 700) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(19)
    names = []
    for i in range(count):
        name = f"p{i:02d}.png"
        pixels = rng.integers(0, 256, (side, side), dtype=np.uint8)
        PIL.Image.fromarray(pixels).save(folder / name, compress_level=0)
        names.append(name)
    return names


def _pixels(path: Path) -> np.ndarray:
    with PIL.Image.open(path) as im:
        return np.asarray(im)


def _written(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if not p.name.startswith("."))


def _summary(stderr: str) -> tuple[int, int, int]:
    """(written, total, skipped) from the summary line."""
    match = re.search(r"(\d+) of (\d+) files written, (\d+) skipped \(complete already\)", stderr)
    assert match, stderr
    written, total, skipped = map(int, match.groups())
    return written, total, skipped


def _manifest(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[Path, list[str]]:
    """The inputs and the outputs of a batch that was never interrupted."""
    root = tmp_path_factory.mktemp("resume")
    names = _photos(root / "in")
    done = run("filter", "in", "-k", "gaussian:sigma=5", "--out-dir", "ref", cwd=root)
    assert done.returncode == 0, done.stderr
    return root, names


def test_a_batch_stopped_by_sigterm_resumes_to_the_full_set(reference, tmp_path):
    """Stopped mid-batch, then resumed with --skip-existing and the manifest, the batch
    writes only what is missing or broken and ends with every output of an
    uninterrupted run."""
    root, names = reference
    os.symlink(root / "in", tmp_path / "in")
    args = ["filter", "in", "-k", "gaussian:sigma=5", "--out-dir", "out", "--manifest", "m.jsonl"]
    proc = subprocess.Popen(
        [convcli_executable(), *args, "--jobs", "2"],
        cwd=tmp_path,
        env=ENV,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    out = tmp_path / "out"
    deadline = time.monotonic() + 120
    while not (out.is_dir() and len(_written(out)) >= 3):
        assert time.monotonic() < deadline and proc.poll() is None, "the batch never got going"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    done = _written(out)
    assert 3 <= len(done) < FILES, done
    assert not [p for p in os.listdir(out) if p.endswith(".part")]

    recorded = {r["output"]: r for r in _manifest(tmp_path / "m.jsonl")}
    assert set(recorded) <= {f"out/{n}" for n in done}  # a line only for a file written
    for output, r in recorded.items():
        assert r["status"] == "ok"
        assert r["sha256"] == hashlib.sha256((tmp_path / output).read_bytes()).hexdigest()

    # plant damage: a truncated output where none was written, and a written output whose
    # bytes changed after the manifest recorded them (it still decodes: only the checksum
    # can tell)
    missing = [n for n in names if n not in done]
    truncated = missing[0]
    whole = (out / done[0]).read_bytes()
    (out / truncated).write_bytes(whole[: len(whole) // 2])
    changed = next(n for n in done if f"out/{n}" in recorded)
    image = _pixels(out / changed).copy()
    image[0, 0] ^= 0xFF
    PIL.Image.fromarray(image).save(out / changed)
    # a manifest line torn by the kill (no newline at its end) must not break the resume
    with open(tmp_path / "m.jsonl", "a") as fh:
        fh.write('{"path": "in/p99.png", "outp')

    again = run(*args, "--skip-existing", "--jobs", "2", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    complete = [n for n in done if n != changed]
    written, total, skipped = _summary(again.stderr)
    assert (written, total, skipped) == (FILES - len(complete), FILES, len(complete))
    assert f"note: out/{truncated}: incomplete (" in again.stderr
    assert f"note: out/{changed}: incomplete (its SHA-256 differs from the manifest's)" in (
        again.stderr
    )

    assert _written(out) == sorted(names)
    for name in names:
        assert np.array_equal(_pixels(out / name), _pixels(root / "ref" / name)), name
    final: dict[str, dict] = {}
    for line in (tmp_path / "m.jsonl").read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # the torn line, now ended by the resumed run
        final[record["output"]] = record
    assert {f"out/{n}" for n in names} <= set(final)
    for name in names:
        r = final[f"out/{name}"]
        assert r["status"] == ("skipped" if name in complete else "ok"), r
        assert r["sha256"] == hashlib.sha256((out / name).read_bytes()).hexdigest()

    third = run(*args, "--skip-existing", cwd=tmp_path)
    assert third.returncode == 0, third.stderr
    assert _summary(third.stderr) == (0, FILES, FILES)


def test_without_a_manifest_a_file_that_does_not_decode_is_written_again(reference, tmp_path):
    """Without a manifest, complete means the file decodes in full: a cut PNG and an empty
    file are written again, a whole one is skipped; pool resumes the same way."""
    root, names = reference
    os.symlink(root / "in", tmp_path / "in")
    first = run("pool", "in", "--size", "4", "--out-dir", "out", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    expected = {n: _pixels(tmp_path / "out" / n) for n in names}
    data = (tmp_path / "out" / names[1]).read_bytes()
    (tmp_path / "out" / names[1]).write_bytes(data[:-20])  # the IEND chunk and a bit more
    (tmp_path / "out" / names[2]).write_bytes(b"")
    os.unlink(tmp_path / "out" / names[3])
    again = run("pool", "in", "--size", "4", "--out-dir", "out", "--skip-existing", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert _summary(again.stderr) == (3, FILES, FILES - 3)
    assert f"note: out/{names[2]}: incomplete (empty file, not an image); written again" in (
        again.stderr
    )
    for name in names:
        assert np.array_equal(_pixels(tmp_path / "out" / name), expected[name]), name


def test_one_file_is_skipped_with_a_line_saying_so(reference, tmp_path):
    root, names = reference
    src = root / "in" / names[0]
    first = run("filter", src, "-k", "box:3", "-o", "one.png", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    before = (tmp_path / "one.png").stat().st_mtime_ns
    again = run("filter", src, "-k", "box:3", "-o", "one.png", "--skip-existing", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stderr == "skipped one.png: it exists and is complete (--skip-existing)\n"
    assert (tmp_path / "one.png").stat().st_mtime_ns == before


@pytest.mark.parametrize("command", [["filter", "-k", "sobel"], ["pool", "--size", "2"]])
def test_skip_existing_with_overwrite_is_a_usage_error(reference, tmp_path, command):
    root, _ = reference
    name, *rest = command
    out = run(name, root / "in", *rest, "--out-dir", "out", "--skip-existing", "--overwrite",
              cwd=tmp_path)  # fmt: skip
    assert out.returncode == 2
    assert out.stderr.splitlines()[-1] == (
        "Error: --skip-existing keeps complete outputs and --overwrite replaces them: give one"
    )
    assert not (tmp_path / "out").exists() or not os.listdir(tmp_path / "out")


def test_an_existing_manifest_is_never_replaced_in_silence(reference, tmp_path):
    root, _ = reference
    (tmp_path / "m.jsonl").write_text("kept\n")
    out = run("filter", root / "in", "-k", "sobel", "--out-dir", "out", "--manifest", "m.jsonl",
              cwd=tmp_path)  # fmt: skip
    assert out.returncode == 1
    assert out.stderr.splitlines() == [
        "Error: m.jsonl exists; pass --skip-existing to resume the batch it records, or "
        "--overwrite to replace it"
    ]
    assert (tmp_path / "m.jsonl").read_text() == "kept\n"


def test_the_resume_benchmark_runs(tmp_path):
    """benchmarks/bench_resume.py stays runnable (its numbers live in benchmarks/README.md)."""
    script = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_resume.py"
    done = subprocess.run(
        [sys.executable, str(script), "--quick"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "manifest: peak RSS grows" in done.stdout


def test_an_image_filtered_in_tiles_resumes_by_its_chunks(tmp_path):
    """-o OUT.zarr: complete means every chunk the array's shape needs is on disk."""
    tifffile = pytest.importorskip("tifffile")
    pixels = np.random.default_rng(4).integers(1, 256, (600, 520), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "scan.tif", pixels, tile=(64, 64))
    args = ["filter", "scan.tif", "-k", "box:3", "-o", "scan.zarr"]
    first = run(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    both = run(*args, "--skip-existing", "--overwrite", cwd=tmp_path)
    assert both.returncode == 2
    assert "--skip-existing keeps complete outputs and --overwrite replaces them" in both.stderr
    skipped = run(*args, "--skip-existing", cwd=tmp_path)
    assert skipped.returncode == 0, skipped.stderr
    assert skipped.stderr == "skipped scan.zarr: it exists and is complete (--skip-existing)\n"
    chunks = sorted(
        p for p in (tmp_path / "scan.zarr").rglob("*") if p.is_file() and p.name != "zarr.json"
    )
    assert len(chunks) == 9  # 3 x 3 chunks of 256
    chunks[4].unlink()
    resumed = run(*args, "--skip-existing", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stderr.splitlines() == [
        "note: scan.zarr: incomplete (8 of 9 chunks written); written again",
        "wrote scan.zarr",
    ]
    zarr = pytest.importorskip("zarr")
    from scipy import ndimage

    oracle = ndimage.uniform_filter(pixels.astype(np.float64), 3, mode="mirror")
    got = np.asarray(zarr.open_array(tmp_path / "scan.zarr", mode="r"))
    assert np.abs(got.astype(int) - np.clip(np.rint(oracle), 0, 255)).max() <= 1


def test_a_tiff_is_complete_when_every_tile_is_inside_the_file_and_decodes(tmp_path):
    """A cut TIFF and one with a tile overwritten in place are incomplete; the whole is not."""
    tifffile = pytest.importorskip("tifffile")
    from convcli.images.resume import output_problem

    pixels = np.random.default_rng(2).integers(0, 256, (300, 280), dtype=np.uint8)
    whole = tmp_path / "whole.tif"
    tifffile.imwrite(whole, pixels, tile=(64, 64), compression="zlib")
    assert output_problem(str(whole)) is None
    data = whole.read_bytes()
    (tmp_path / "cut.tif").write_bytes(data[: len(data) - 200])
    assert output_problem(str(tmp_path / "cut.tif")) is not None
    with tifffile.TiffFile(whole) as tif:
        offset, count = tif.pages[0].dataoffsets[5], tif.pages[0].databytecounts[5]
    broken = bytearray(data)
    broken[offset : offset + count] = bytes(count)
    (tmp_path / "zeroed.tif").write_bytes(bytes(broken))
    assert output_problem(str(tmp_path / "zeroed.tif")) is not None
