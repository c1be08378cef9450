"""``--scheduler``: batches on a real Dask cluster, started as a person starts one.

The module's fixture runs ``dask scheduler`` and ``dask worker`` (two worker
processes, one thread each) as subprocesses, waits for the scheduler file and
both workers, and stops them by their process ids at the end; one cluster
serves every test here. Every output a cluster writes is compared, decoded
pixel by pixel, with what the in-process run writes for the same file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
from terminal import convcli_executable

pytest.importorskip("distributed")

BIN = Path(sys.executable).parent
#: no cluster is picked up from the environment unless a test sets one
CLEAN_ENV = {
    k: v for k, v in os.environ.items() if k not in ("CONVCLI_SCHEDULER", "DASK_SCHEDULER_ADDRESS")
}


def run(*args, cwd, env=None, timeout=120):
    return subprocess.run(
        [convcli_executable(), *map(str, args)],
        cwd=cwd,
        env={**CLEAN_ENV, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


#: the ``dask`` command of this environment
DASK = str(BIN / "dask") if (BIN / "dask").exists() else "dask"


@contextlib.contextmanager
def dask_cluster(folder: Path, *, worker_umask: int | None = None, scheduler_env=None):
    """Run ``dask scheduler`` and ``dask worker`` (2 processes, 1 thread each) in ``folder``,
    as a person starts them; yield the scheduler file, stop both by their process ids."""
    file = folder / "scheduler.json"
    logs = [open(folder / "scheduler.log", "wb"), open(folder / "worker.log", "wb")]
    procs = []
    try:
        procs.append(
            subprocess.Popen(
                [
                    DASK,
                    "scheduler",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    "0",
                    "--no-dashboard",
                    "--scheduler-file",
                    str(file),
                ],
                cwd=folder,
                stdout=logs[0],
                stderr=subprocess.STDOUT,
                env={**CLEAN_ENV, **(scheduler_env or {})},
                start_new_session=True,
            )
        )
        deadline = time.monotonic() + 60
        while not file.exists() or not file.read_text().strip():
            assert procs[0].poll() is None, (folder / "scheduler.log").read_text()
            assert time.monotonic() < deadline, "the scheduler wrote no scheduler file in 60 s"
            time.sleep(0.1)
        procs.append(
            subprocess.Popen(
                [
                    DASK,
                    "worker",
                    "--scheduler-file",
                    str(file),
                    "--nworkers",
                    "2",
                    "--nthreads",
                    "1",
                    "--memory-limit",
                    "1GiB",
                    "--no-dashboard",
                ],
                cwd=folder,  # not the tests' folders: paths must reach the workers absolute
                stdout=logs[1],
                stderr=subprocess.STDOUT,
                env=CLEAN_ENV,
                start_new_session=True,
                umask=-1 if worker_umask is None else worker_umask,
            )
        )
        wait = (
            "from distributed import Client\n"
            f"with Client(scheduler_file={str(file)!r}, timeout='30s') as c:\n"
            "    c.wait_for_workers(2, timeout=60)\n"
        )
        subprocess.run([sys.executable, "-c", wait], check=True, timeout=120, env=CLEAN_ENV)
        yield file
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(procs):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)  # the group this fixture started
                proc.wait()
        for log in logs:
            log.close()


@pytest.fixture(scope="module")
def scheduler_file(tmp_path_factory):
    """A scheduler and two workers, started with the ``dask`` command; the scheduler file."""
    with dask_cluster(tmp_path_factory.mktemp("dask")) as file:
        yield file


def _images(folder: Path, count: int = 7, broken: bool = True) -> list[str]:
    """Small images of odd sizes (gray, RGB, 16-bit), and a file that is not an image."""
    folder.mkdir()
    rng = np.random.default_rng(14)
    names = []
    for i in range(count):
        h, w = 9 + 3 * i, 14 + 5 * i
        if i % 3 == 0:
            im = PIL.Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        elif i % 3 == 1:
            im = PIL.Image.fromarray(rng.integers(0, 256, (h, w), dtype=np.uint8))
        else:
            im = PIL.Image.fromarray(rng.integers(0, 65536, (h, w), dtype=np.uint16))
        name = f"img{i}.png"
        im.save(folder / name)
        names.append(name)
    if broken:
        (folder / "broken.png").write_bytes(b"this is not a PNG")
    return names


def _pixels(path: Path) -> np.ndarray:
    with PIL.Image.open(path) as im:
        return np.asarray(im)


def _same_outputs(a: Path, b: Path, names: list[str]) -> None:
    for name in names:
        x, y = _pixels(a / name), _pixels(b / name)
        assert x.dtype == y.dtype and x.shape == y.shape, name
        assert x.tobytes() == y.tobytes(), name


def test_batch_on_a_running_cluster_matches_the_local_run(scheduler_file, tmp_path):
    names = _images(tmp_path / "in")
    local = run("filter", "in", "-k", "gaussian:sigma=1.5", "-k", "sobel", "--out-dir", "ref",
                cwd=tmp_path)  # fmt: skip
    assert local.returncode == 1 and "broken.png" in local.stderr
    started = time.monotonic()
    result = run("filter", "in", "-k", "gaussian:sigma=1.5", "-k", "sobel", "--out-dir", "out",
                 "--scheduler-file", scheduler_file, "--files-per-task", "2",
                 "--manifest", "m.jsonl", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert errors == [
        "Error: in/broken.png: not an image Pillow can read",
        "Error: 1 of 8 files failed",
    ], result.stderr
    assert "7 of 8 files written" in result.stderr
    assert time.monotonic() - started < 60
    assert sorted(os.listdir(tmp_path / "out")) == sorted(names)  # no temporary files left
    _same_outputs(tmp_path / "ref", tmp_path / "out", names)

    records = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    # one line per file, appended as each finishes (so in the order they finished)
    assert sorted(r["path"] for r in records) == sorted(
        ["in/broken.png"] + [f"in/{n}" for n in names]
    )
    for r in records:
        if r["path"] == "in/broken.png":
            assert r["status"] == "failed" and "not an image" in r["error"]
            assert r["sha256"] is None
        else:
            assert r["status"] == "ok" and r["error"] is None
            digest = hashlib.sha256((tmp_path / r["output"]).read_bytes()).hexdigest()
            assert r["sha256"] == digest

    again = run("filter", "in", "-k", "sobel", "--out-dir", "out2", "--scheduler-file",
                scheduler_file, "--manifest", "m.jsonl", cwd=tmp_path)  # fmt: skip
    assert again.returncode == 1 and "m.jsonl exists; pass --skip-existing" in again.stderr
    assert not (tmp_path / "out2").exists() or not os.listdir(tmp_path / "out2")


def test_a_cluster_batch_resumes_with_skip_existing(scheduler_file, tmp_path):
    """On the cluster, --skip-existing checks each output on a worker: a missing and a cut
    output are written again, the rest skipped and counted, the manifest appended."""
    names = _images(tmp_path / "in", broken=False)
    args = ["filter", "in", "-k", "sobel", "--out-dir", "out", "--scheduler-file",
            scheduler_file, "--manifest", "m.jsonl"]  # fmt: skip
    first = run(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    expected = {n: _pixels(tmp_path / "out" / n) for n in names}
    os.unlink(tmp_path / "out" / names[0])
    data = (tmp_path / "out" / names[1]).read_bytes()
    (tmp_path / "out" / names[1]).write_bytes(data[: len(data) // 2])
    again = run(*args, "--skip-existing", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert f"2 of {len(names)} files written, {len(names) - 2} skipped (complete already)" in (
        again.stderr
    )
    assert f"note: out/{names[1]}: incomplete (its SHA-256 differs from the manifest's)" in (
        again.stderr
    )
    for name in names:
        assert np.array_equal(_pixels(tmp_path / "out" / name), expected[name]), name
    lines = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert len(lines) == 2 * len(names)
    assert sorted(r["status"] for r in lines[len(names) :]) == sorted(
        ["ok", "ok"] + ["skipped"] * (len(names) - 2)
    )


def test_pool_by_address_and_environment(scheduler_file, tmp_path):
    names = _images(tmp_path / "in", count=4, broken=False)
    address = json.loads(scheduler_file.read_text())["address"]
    assert address.startswith("tcp://127.0.0.1:")
    ref = run("pool", "in", "--size", "3", "--mode", "avg", "--out-dir", "ref", cwd=tmp_path)
    assert ref.returncode == 0, ref.stderr
    by_flag = run("pool", "in", "--size", "3", "--mode", "avg", "--out-dir", "a",
                  "--scheduler", address, cwd=tmp_path)  # fmt: skip
    assert by_flag.returncode == 0, by_flag.stderr
    assert f"cluster: the dask scheduler at {address} (from --scheduler), 2 workers" in (
        by_flag.stderr
    )
    by_env = run("pool", "in", "--size", "3", "--mode", "avg", "--out-dir", "b",
                 cwd=tmp_path, env={"CONVCLI_SCHEDULER": address})  # fmt: skip
    assert by_env.returncode == 0, by_env.stderr
    assert f"cluster: the dask scheduler at {address} (from $CONVCLI_SCHEDULER)" in by_env.stderr
    by_dask = run("pool", "in", "--size", "3", "--mode", "avg", "--out-dir", "c",
                  "--scheduler", "dask", cwd=tmp_path,
                  env={"DASK_SCHEDULER_ADDRESS": address})  # fmt: skip
    assert by_dask.returncode == 0, by_dask.stderr
    assert (
        f"cluster: the dask scheduler at {address} (from $DASK_SCHEDULER_ADDRESS via "
        "--scheduler dask), 2 workers"
    ) in by_dask.stderr
    dask_alone = run("pool", "in", "--size", "3", "--mode", "avg", "--out-dir", "d",
                     cwd=tmp_path, env={"DASK_SCHEDULER_ADDRESS": address})  # fmt: skip
    assert dask_alone.returncode == 0, dask_alone.stderr
    assert "cluster" not in dask_alone.stderr  # dask's variable alone never turns it on
    for out in ("a", "b", "c", "d"):
        _same_outputs(tmp_path / "ref", tmp_path / out, names)


def test_outputs_beside_their_inputs_are_named(scheduler_file, tmp_path):
    names = _images(tmp_path / "in", count=2, broken=False)
    files = [f"in/{name}" for name in names]  # files, not the folder: a folder needs --out-dir
    result = run(
        "filter", *files, "-k", "sharpen", "--scheduler-file", scheduler_file, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    for name in names:
        assert f"wrote in/{name[:-4]}-sharpen.png" in result.stderr
        assert (tmp_path / "in" / f"{name[:-4]}-sharpen.png").exists()


def test_workers_that_cannot_see_a_path_are_named(scheduler_file, tmp_path):
    from distributed import Client

    from convcli.cluster.batch import check_workers_see
    from convcli.cluster.connect import ClusterError

    missing = str(tmp_path / "only-here" / "a.png")
    with Client(scheduler_file=str(scheduler_file), timeout="30s") as client:
        check_workers_see(client, [str(tmp_path)])  # a path they see: no error
        with pytest.raises(
            ClusterError, match=r"worker tcp://127\.0\.0\.1:\d+ cannot see .*a\.png"
        ):
            check_workers_see(client, [missing])


def test_local_cluster_for_one_run(tmp_path):
    names = _images(tmp_path / "in", count=5, broken=False)
    ref = run("filter", "in", "-k", "laplacian", "--pad-mode", "circular", "--out-dir", "ref",
              cwd=tmp_path)  # fmt: skip
    assert ref.returncode == 0, ref.stderr
    result = run("filter", "in", "-k", "laplacian", "--pad-mode", "circular", "--out-dir", "out",
                 "--scheduler", "local:2", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "cluster: a local cluster of 2 workers" in result.stderr
    assert "5 of 5 files written" in result.stderr
    _same_outputs(tmp_path / "ref", tmp_path / "out", names)


def test_no_scheduler_imports_no_dask(tmp_path):
    _images(tmp_path / "in", count=1, broken=False)
    code = (
        "import sys\n"
        "from convcli.cli import cli\n"
        "try:\n"
        "    cli.main(['filter', 'in/img0.png', '-k', 'sobel', '-o', 'o.png'], prog_name='convcli')\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed', 'zarr', 'tifffile')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=CLEAN_ENV,
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
    assert (tmp_path / "o.png").exists()


def test_without_the_extra_one_line_names_it(tmp_path):
    _images(tmp_path / "in", count=2, broken=False)
    code = (
        "import sys\n"
        "sys.modules['distributed'] = None  # as if the extra were not installed\n"
        "from convcli.cli import cli\n"
        "cli.main(['filter', 'in', '-k', 'sobel', '--out-dir', 'o', '--scheduler', 'local:2'],"
        " prog_name='convcli')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=CLEAN_ENV,
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode == 1
    assert out.stderr.splitlines() == [
        "Error: --scheduler needs dask (distributed is not installed): "
        "pip install '.[cluster]' (in convcli's folder)"
    ]
    assert not (tmp_path / "o").exists() or not os.listdir(tmp_path / "o")


def test_unreachable_scheduler_is_one_line(tmp_path):
    _images(tmp_path / "in", count=2, broken=False)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    out = run("filter", "in", "-k", "sobel", "--out-dir", "out", "--scheduler",
              f"tcp://127.0.0.1:{port}", cwd=tmp_path,
              env={"DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"})  # fmt: skip
    assert out.returncode == 1
    assert out.stderr.splitlines() == [
        f"Error: cannot reach the dask scheduler at tcp://127.0.0.1:{port} (from --scheduler): "
        f"Timed out trying to connect to tcp://127.0.0.1:{port} after 2 s"
    ]
    assert time.monotonic() - started < 20
    missing = run("filter", "in", "-k", "sobel", "--out-dir", "out", "--scheduler-file",
                  "nope.json", cwd=tmp_path)  # fmt: skip
    assert missing.returncode == 1
    assert len(missing.stderr.splitlines()) == 1 and "nope.json: no such scheduler file" in (
        missing.stderr
    )


def test_a_cluster_run_that_cannot_start_leaves_the_manifest_as_it_was(tmp_path):
    """No scheduler at the address: no empty new manifest, and --overwrite keeps the old one."""
    _images(tmp_path / "in", count=2, broken=False)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = ["filter", "in", "-k", "sobel", "--out-dir", "out", "--scheduler",
            f"tcp://127.0.0.1:{port}"]  # fmt: skip
    env = {"DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"}
    out = run(*args, "--manifest", "runs.jsonl", cwd=tmp_path, env=env)
    assert out.returncode == 1, out.stderr
    assert not (tmp_path / "runs.jsonl").exists()
    old = '{"path": "a.png", "output": "out/a.png", "status": "ok"}\n'
    (tmp_path / "runs.jsonl").write_text(old)
    out = run(*args, "--manifest", "runs.jsonl", "--overwrite", cwd=tmp_path, env=env)
    assert out.returncode == 1, out.stderr
    assert (tmp_path / "runs.jsonl").read_text() == old
    refused = run(*args, "--manifest", "runs.jsonl", cwd=tmp_path, env=env)
    assert refused.returncode == 1 and "runs.jsonl exists" in refused.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scheduler", "lokal:2"], "expected local, local:N, dask"),
        (["--files-per-task", "2"], "--files-per-task needs --scheduler"),
        (["--scheduler", "local:2", "--jobs", "2"], "--jobs runs local processes"),
    ],
)
def test_usage_errors_exit_2(tmp_path, args, message):
    _images(tmp_path / "in", count=1, broken=False)
    out = run("filter", "in", "-k", "sobel", "--out-dir", "out", *args, cwd=tmp_path)
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr


def test_progress_and_lines_at_a_terminal(scheduler_file, tmp_path):
    from terminal import run_in_pty, strip_ansi

    names = _images(tmp_path / "in", count=6, broken=True)
    code, screen = run_in_pty(
        [
            "filter",
            *(f"in/{name}" for name in [*names, "broken.png"]),  # a folder needs --out-dir
            "-k",
            "box:3",
            "--scheduler-file",
            scheduler_file,
            "--files-per-task",
            "1",
        ],
        cwd=tmp_path,
        env={"CONVCLI_SCHEDULER": "", "DASK_SCHEDULER_ADDRESS": ""},
        timeout=120,
    )
    text = strip_ansi(screen)
    assert code == 1, text
    assert "Filtering" in text  # the progress bar was drawn on the terminal
    assert "wrote in/img5-box-3.png" in text
    assert "Error: in/broken.png: not an image Pillow can read" in text
    assert "Traceback" not in text


def test_ctrl_c_on_a_local_cluster_is_one_line(tmp_path):
    """Ctrl-C reaches the whole foreground group: the run's own worker processes must not
    each print a KeyboardInterrupt traceback; convcli says 'Interrupted.' and exits 130."""
    import pty
    import select

    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(5)
    for i in range(40):
        PIL.Image.fromarray(rng.integers(0, 256, (512, 512), dtype=np.uint8)).save(
            folder / f"{i}.png"
        )
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [
            *(convcli_executable(), "filter", "in", "-k", "gaussian:sigma=8"),
            *("--out-dir", "out", "--scheduler", "local:2", "--files-per-task", "1"),
        ],
        cwd=tmp_path,
        env=CLEAN_ENV,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
    )
    os.close(slave)
    out = b""
    sent = False
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            out += data
        if not sent and (tmp_path / "out").is_dir() and any((tmp_path / "out").iterdir()):
            os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole group
            sent = True
        if proc.poll() is not None and not ready:
            break
    os.close(master)
    code = proc.wait(timeout=60)
    text = out.decode("utf-8", "replace")
    assert sent, text
    assert code == 130, text
    assert "Traceback" not in text and "KeyboardInterrupt" not in text, text
    assert "Interrupted." in text
