"""A cluster run's result is complete or not written, and only the command line turns it on.

One cluster serves this module: ``dask scheduler`` and ``dask worker`` (two
worker processes) started with the ``dask`` command in their own folder, the
workers under umask 077 (as a daemon may be) and the scheduler with
``allowed-failures`` 0 (a task on a worker that dies fails at once, as on a
cluster whose workers keep dying). convcli runs in another folder, with
relative paths, as a person types it. Expected pixels come from
``scipy.ndimage`` or from the same command run without any cluster setting.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
from terminal import convcli_executable

pytest.importorskip("distributed")
tifffile = pytest.importorskip("tifffile")
zarr = pytest.importorskip("zarr")
ndimage = pytest.importorskip("scipy.ndimage")

from test_cluster import CLEAN_ENV, dask_cluster  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
#: a 3x3 kernel with no symmetry, in correlation form
WEIGHTS = np.array([[1.0, 2.0, 0.0], [-3.0, 5.0, 4.0], [0.0, -1.0, 2.0]])
KERNEL = "1,2,0;-3,5,4;0,-1,2"


def run(*args, cwd, env=None, umask=0o022, stdout=None, stdin=None, timeout=180):
    """The installed command, with this umask, no cluster setting unless ``env`` gives one;
    ``stdout`` an open file (``> FILE``), ``stdin`` a path (``< FILE``)."""
    with open(stdin if stdin is not None else os.devnull, "rb") as source:
        return subprocess.run(
            [convcli_executable(), *map(str, args)],
            cwd=cwd,
            env={**CLEAN_ENV, **(env or {})},
            stdin=source,
            stdout=stdout if stdout is not None else subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            timeout=timeout,
            umask=umask,
        )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """(scheduler file, the workers' working folder)."""
    folder = tmp_path_factory.mktemp("workers")
    with dask_cluster(
        folder,
        worker_umask=0o077,
        scheduler_env={"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"},
    ) as file:
        yield file, folder


def _dead_address() -> str:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{s.getsockname()[1]}"


def _tiled(folder: Path, shape=(301, 517), name="scan.tif") -> np.ndarray:
    img = np.random.default_rng(3).integers(0, 256, shape, dtype=np.uint8)
    tifffile.imwrite(folder / name, img, tile=(64, 64))
    return img


def _parts(*folders: Path) -> list[str]:
    """Temporary files or folders (``.NAME.XXXX.part``) anywhere under the folders."""
    return [
        os.path.join(root, n)
        for folder in folders
        for root, dirs, files in os.walk(folder)
        for n in dirs + files
        if ".part" in n
    ]


def _pixels(path: Path) -> np.ndarray:
    with PIL.Image.open(path) as im:
        return np.asarray(im)


# --- Found 1: a relative -o from another folder than the workers' ------------------------------


def test_relative_output_from_another_folder_than_the_workers(cluster, tmp_path):
    file, workers = cluster
    img = _tiled(tmp_path)
    res = run("filter", "scan.tif", "-k", KERNEL, "--range", "raw", "-o", "scan.zarr",
              "--scheduler-file", file, "--chunk", "128", cwd=tmp_path)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "wrote scan.zarr (blocks of 128x128)" in res.stderr
    got = zarr.open_array(str(tmp_path / "scan.zarr"), mode="r")[:]
    # convcli's reflect is scipy's mirror (CONVENTIONS.md); raw keeps float32
    expected = ndimage.correlate(img.astype(np.float64), WEIGHTS, mode="mirror")
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-3)
    assert _parts(tmp_path, workers) == []


# --- What to build 2: permissions under the user's umask, on every worker ----------------------


def _modes(top: Path) -> tuple[set[int], set[int]]:
    folders, files = {stat.S_IMODE(top.stat().st_mode)}, set()
    for root, dirs, names in os.walk(top):
        folders |= {stat.S_IMODE(os.stat(os.path.join(root, d)).st_mode) for d in dirs}
        files |= {stat.S_IMODE(os.stat(os.path.join(root, n)).st_mode) for n in names}
    return folders, files


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_results_get_the_users_umask_whatever_the_workers(cluster, tmp_path, umask):
    file, _ = cluster
    _tiled(tmp_path)
    res = run("filter", "scan.tif", "-k", "box:3", "-o", "scan.zarr", "--scheduler-file", file,
              "--chunk", "128", cwd=tmp_path, umask=umask)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert _modes(tmp_path / "scan.zarr") == ({0o777 & ~umask}, {0o666 & ~umask})
    local = run("filter", "scan.tif", "-k", "box:3", "-o", "local.zarr", cwd=tmp_path, umask=umask)
    assert local.returncode == 0, local.stderr
    assert _modes(tmp_path / "local.zarr") == ({0o777 & ~umask}, {0o666 & ~umask})

    (tmp_path / "in").mkdir()
    for i in range(3):
        shutil.copy(ROOT / "sample_images" / "coins.png", tmp_path / "in" / f"c{i}.png")
    batch = run("filter", "in", "-k", "sobel", "--out-dir", "out", "--scheduler-file", file,
                cwd=tmp_path, umask=umask)  # fmt: skip
    assert batch.returncode == 0, batch.stderr
    assert {stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "out").iterdir()} == {
        0o666 & ~umask
    }


# --- Found 3: DASK_SCHEDULER_ADDRESS never turns the cluster on ---------------------------------


@pytest.mark.parametrize("which", ["live", "dead"])
def test_dask_scheduler_address_alone_runs_here(cluster, tmp_path, which):
    file, _ = cluster
    address = json.loads(file.read_text())["address"] if which == "live" else _dead_address()
    env = {"DASK_SCHEDULER_ADDRESS": address, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"}
    shutil.copy(ROOT / "sample_images" / "camera.png", tmp_path / "camera.png")
    with open(tmp_path / "ref.png", "wb") as fh:  # no cluster setting at all
        assert run("filter", "camera.png", "-k", "sobel", cwd=tmp_path, stdout=fh).returncode == 0
    expected = _pixels(tmp_path / "ref.png")

    # the README Quickstart's line: convcli filter camera.png -k sobel > edges.png
    with open(tmp_path / "edges.png", "wb") as fh:
        res = run("filter", "camera.png", "-k", "sobel", cwd=tmp_path, env=env, stdout=fh)
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""
    np.testing.assert_array_equal(_pixels(tmp_path / "edges.png"), expected)

    one = run("filter", "camera.png", "-k", "sobel", "-o", "one.png", cwd=tmp_path, env=env)
    assert one.returncode == 0, one.stderr
    assert one.stderr == ""
    np.testing.assert_array_equal(_pixels(tmp_path / "one.png"), expected)

    (tmp_path / "in").mkdir()
    for name in ("camera.png", "coins.png"):
        shutil.copy(ROOT / "sample_images" / name, tmp_path / "in" / name)
    batch = run("filter", "in", "-k", "sobel", "--out-dir", "out", cwd=tmp_path, env=env)
    assert batch.returncode == 0, batch.stderr
    assert "cluster" not in batch.stderr
    np.testing.assert_array_equal(_pixels(tmp_path / "out" / "camera.png"), expected)


def test_scheduler_dask_reads_dask_scheduler_address(tmp_path):
    (tmp_path / "in").mkdir()
    for name in ("camera.png", "coins.png"):
        shutil.copy(ROOT / "sample_images" / name, tmp_path / "in" / name)
    dead = _dead_address()
    env = {"DASK_SCHEDULER_ADDRESS": dead, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"}
    res = run("filter", "in", "-k", "sobel", "--out-dir", "out", "--scheduler", "dask",
              cwd=tmp_path, env=env)  # fmt: skip
    assert res.returncode == 1
    assert res.stderr.splitlines() == [
        f"Error: cannot reach the dask scheduler at {dead} (from $DASK_SCHEDULER_ADDRESS via "
        f"--scheduler dask): Timed out trying to connect to {dead} after 2 s"
    ]
    unset = run("filter", "in", "-k", "sobel", "--out-dir", "out", "--scheduler", "dask",
                cwd=tmp_path)  # fmt: skip
    assert unset.returncode == 2
    assert "dask means the address in $DASK_SCHEDULER_ADDRESS, which is not set" in unset.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_convcli_scheduler_turns_it_on_for_batches_only(tmp_path):
    """$CONVCLI_SCHEDULER sends batches to the cluster (and says so); standard output,
    a single image and --jobs stay here; a bad value names the variable."""
    (tmp_path / "in").mkdir()
    for name in ("camera.png", "coins.png"):
        shutil.copy(ROOT / "sample_images" / name, tmp_path / "in" / name)
    dead = _dead_address()
    env = {"CONVCLI_SCHEDULER": dead, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"}
    with open(tmp_path / "edges.png", "wb") as fh:
        out = run("filter", "in/camera.png", "-k", "sobel", cwd=tmp_path, env=env, stdout=fh)
    assert out.returncode == 0 and out.stderr == "", out.stderr
    one = run("filter", "in/camera.png", "-k", "sobel", "-o", "one.png", cwd=tmp_path, env=env)
    assert one.returncode == 0 and one.stderr == "", one.stderr
    jobs = run("filter", "in", "-k", "sobel", "--out-dir", "j", "--jobs", "2", cwd=tmp_path,
               env=env)  # fmt: skip
    assert jobs.returncode == 0, jobs.stderr
    batch = run("filter", "in", "-k", "sobel", "--out-dir", "b", cwd=tmp_path, env=env)
    assert batch.returncode == 1
    assert batch.stderr.splitlines() == [
        f"Error: cannot reach the dask scheduler at {dead} (from $CONVCLI_SCHEDULER): "
        f"Timed out trying to connect to {dead} after 2 s"
    ]
    flag = ["--scheduler", dead]  # on the command line: the same, with a note
    with open(tmp_path / "flag.png", "wb") as fh:
        out = run("filter", "-", "-k", "sobel", *flag, cwd=tmp_path, stdout=fh,
                  stdin=tmp_path / "in" / "camera.png")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stderr.splitlines() == [
        "note: standard input and output stay on this machine, not on the dask scheduler at "
        f"{dead} (from --scheduler)"
    ]
    np.testing.assert_array_equal(_pixels(tmp_path / "flag.png"), _pixels(tmp_path / "edges.png"))
    bad = run("filter", "in", "-k", "sobel", "--out-dir", "b", cwd=tmp_path,
              env={"CONVCLI_SCHEDULER": "lokal:2"})  # fmt: skip
    assert bad.returncode == 2
    assert "`$CONVCLI_SCHEDULER='lokal:2'`: expected local, local:N, dask" in bad.stderr


# --- Found 5: one exit-code table, checked before any cluster starts ---------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--chunk", "300"], "--chunk 300 is not a multiple of the file's 64x64 tiles"),
        (["--chunk", "64", "-k", "box:21"], "--chunk 64 is under 8x the kernel's halo of 10"),
        (["--range", "normalize"], "--range normalize needs the whole result's range"),
        (["--padding", "valid"], "with --scheduler an image in tiles is filtered with --padding"),
        (["--range", "auto"], "99th percentile over the whole image, which a tiled run cannot"),
    ],
)
def test_option_errors_exit_2_before_any_cluster_starts(tmp_path, args, message):
    """The scheduler named does not exist: an error found after connecting would say so."""
    _tiled(tmp_path)
    kernel = [] if "-k" in args else ["-k", "sobel"]
    kernel += [] if "--range" in args else ["--range", "clip"]  # auto needs the whole image
    res = run("filter", "scan.tif", *kernel, *args, "-o", "o.zarr", "--scheduler",
              _dead_address(), cwd=tmp_path)  # fmt: skip
    assert res.returncode == 2, res.stderr
    assert message in res.stderr
    assert "cannot reach" not in res.stderr and "Traceback" not in res.stderr


def test_resource_limits_and_usage_errors_exit_2(tmp_path):
    _tiled(tmp_path, (120, 130), "big.tif")
    shutil.copy(ROOT / "sample_images" / "coins.png", tmp_path / "coins.png")
    over = run("filter", "coins.png", "-k", "sobel", "--max-pixels", "100", "-o", "o.png",
               cwd=tmp_path)  # fmt: skip
    assert over.returncode == 2 and "above the limit of 100" in over.stderr
    np.save(tmp_path / "t.npy", np.zeros((20, 30)))
    pooled = run("pool", "t.npy", "--size", "2", "--max-pixels", "100", "-o", "p.npy", cwd=tmp_path)
    assert pooled.returncode == 2 and "over --max-pixels 100" in pooled.stderr
    # on this machine --range auto streams (two passes); a cluster's blocks cannot
    auto = run("filter", "big.tif", "-k", "laplacian", "-o", "o.zarr", "--scheduler", "local:1",
               cwd=tmp_path)  # fmt: skip
    assert auto.returncode == 2 and "give --range abs" in auto.stderr
    assert not any((tmp_path / n).exists() for n in ("o.png", "p.npy", "o.zarr"))


# --- What to build 2: complete or not written ---------------------------------------------------


def test_a_missing_chunk_is_named_and_refuses_the_result(tmp_path):
    """The check the cluster path runs before its rename: one chunk file gone from a
    zarr written by zarr itself is found from the files, though every block was reported."""
    from convcli.cluster.tiled import IncompleteResultError, check_blocks

    path = tmp_path / ".o.zarr.part"
    arr = zarr.open_array(str(path), mode="w", shape=(300, 200), chunks=(128, 128), dtype="u1",
                          config={"write_empty_chunks": True})  # fmt: skip
    arr[:] = 0
    reports = {(i, j): "tcp://w" for i in range(3) for j in range(2)}
    check_blocks("o.zarr", str(path), (3, 2), (128, 128), (300, 200), reports)  # complete
    chunk = [p for p in path.rglob("*") if p.is_file() and p.name != "zarr.json"]
    assert len(chunk) == 6
    (path / "c" / "2" / "1").unlink()
    with pytest.raises(IncompleteResultError) as info:
        check_blocks("o.zarr", str(path), (3, 2), (128, 128), (300, 200), reports)
    assert str(info.value) == (
        "o.zarr: 1 of 6 blocks not written, so not written at all: block (2, 1) "
        "(rows 256-299, columns 128-199): reported written by tcp://w but not on disk"
    )
    del reports[(0, 0)]
    with pytest.raises(IncompleteResultError, match=r"2 of 6 .* block \(0, 0\) .* no worker"):
        check_blocks("o.zarr", str(path), (3, 2), (128, 128), (300, 200), reports)


def _kill_a_worker_while_writing(file: Path, folder: Path, *args) -> tuple[int, str]:
    """Run ``convcli filter scan.tif ARGS -o scan.zarr`` on the cluster of ``file`` from
    ``folder``; SIGKILL one of the cluster's worker processes (which this module started)
    once the first blocks are on disk. The exit status and stderr."""
    from distributed import Client

    with Client(scheduler_file=str(file), timeout="30s") as client:
        client.wait_for_workers(2, timeout=60)
        victim = max(client.run(os.getpid).values())
    proc = subprocess.Popen(
        [convcli_executable(), "filter", "scan.tif", *args, "-o", "scan.zarr",
         "--scheduler-file", str(file), "--chunk", "256"],
        cwd=folder, env=CLEAN_ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    killed = False
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if any(folder.glob(".scan.zarr.*.part/c/*/*")):  # blocks are being written
            os.kill(victim, signal.SIGKILL)
            killed = True
            break
        time.sleep(0.05)
    _, err = proc.communicate(timeout=180)
    assert killed, f"the run ended before a worker could be killed: {err}"
    return proc.returncode, err


@pytest.mark.slow
def test_a_worker_killed_mid_run_refuses_the_result(cluster, tmp_path):
    """A worker dies under its tasks and the scheduler gives up on them: exit 1 with the
    missing blocks named, no scan.zarr, no temporary folder anywhere, even seconds later."""
    file, workers = cluster
    _tiled(tmp_path, (2048, 2048))
    code, err = _kill_a_worker_while_writing(
        file, tmp_path, "-k", "gaussian:sigma=4", "--strategy", "direct"
    )
    assert code == 1, err
    assert "Traceback" not in err and "internal error" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("Error: scan.zarr: ") and " blocks not written, so not written" in last
    assert "KilledWorker" in last and "(cluster: the dask scheduler named in" in last
    assert not (tmp_path / "scan.zarr").exists()
    time.sleep(2)  # no task left running to write after the clean-up
    assert _parts(tmp_path, workers) == []


@pytest.mark.slow
def test_a_worker_killed_and_its_tasks_rerun_gives_the_whole_result(tmp_path):
    """With dask's default allowed-failures the killed worker's tasks run again elsewhere:
    exit 0 only with every block on disk, each pixel the box mean scipy computes."""
    (tmp_path / "workers").mkdir()
    img = _tiled(tmp_path, (1536, 1536))
    with dask_cluster(tmp_path / "workers") as file:
        code, err = _kill_a_worker_while_writing(
            file, tmp_path, "-k", "box:31", "--strategy", "direct", "--range", "raw"
        )
    assert code == 0, err
    expected = ndimage.correlate(img.astype(np.float64), np.full((31, 31), 1 / 961), mode="mirror")
    got = zarr.open_array(str(tmp_path / "scan.zarr"), mode="r")[:]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-3)
    assert _parts(tmp_path) == []


# --- a local cluster while port 8787 (dask's dashboard default) is taken ----------------------


def test_a_local_cluster_says_nothing_of_a_taken_dashboard_port(tmp_path):
    """`--scheduler local:1` while another program (another run, a Jupyter dask) holds 8787:
    the run's stderr is convcli's own lines, not distributed's "Port 8787 is already in use"."""
    (tmp_path / "in").mkdir()
    for name in ("camera.png", "coins.png"):
        shutil.copy(ROOT / "sample_images" / name, tmp_path / "in" / name)
    holder = socket.socket()
    try:
        try:
            holder.bind(("127.0.0.1", 8787))
            holder.listen()
        except OSError:  # held by someone else already: the same situation
            pass
        res = run("filter", "in", "-k", "sobel", "--out-dir", "out", "--scheduler", "local:1",
                  cwd=tmp_path)  # fmt: skip
    finally:
        holder.close()
    assert res.returncode == 0, res.stderr
    assert res.stderr.splitlines()[:-1] == [
        "cluster: a local cluster of 1 worker (from --scheduler)"
    ]
    assert res.stderr.splitlines()[-1].startswith("2 of 2 files written")


def test_an_existing_zarr_is_refused_before_any_cluster_starts(tmp_path):
    """`-o o.zarr --scheduler local:1` with o.zarr there already: exit 1 with the same message
    as without a cluster, and no cluster started for it (no `cluster:` line); the old result
    is untouched."""
    _tiled(tmp_path, (120, 130), "big.tif")
    (tmp_path / "o.zarr").mkdir()
    (tmp_path / "o.zarr" / "keep").write_text("old result")
    res = run("filter", "big.tif", "-k", "sobel", "--range", "clip", "-o", "o.zarr",
              "--scheduler", "local:1", cwd=tmp_path)  # fmt: skip
    assert res.returncode == 1
    assert res.stderr.splitlines() == ["Error: o.zarr exists; pass --overwrite to replace it"]
    assert (tmp_path / "o.zarr" / "keep").read_text() == "old result"
