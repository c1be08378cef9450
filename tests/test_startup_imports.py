"""Each command imports only what its call uses (issue 13: fast from the first millisecond).

The installed ``convcli`` script is run as a user runs it (stdout and stderr
piped, so no terminal), under ``python -X importtime``, whose log on stderr
names every module imported. For each command a list of modules it must not
import is pinned: scipy (``filter`` with a small kernel uses numpy's axpy,
``auto`` does not pick ``fft`` when importing scipy.fft would cost more than
the whole call), rich (only for a progress bar or a spinner on a terminal,
or for tables and ``conv --steps`` in colour: at a terminal), ``importlib.metadata``
(only for ``--version``), threadpoolctl and multiprocessing (only for large
BLAS calls and ``--jobs``).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
from terminal import convcli_executable

ROOT = Path(__file__).resolve().parent.parent

#: never on the path of a small image-to-image call
NOT_FOR_SMALL_IMAGES = (
    "scipy",
    "rich",
    "importlib.metadata",
    "threadpoolctl",
    "multiprocessing",
    "concurrent.futures",
    # issue 22: Pillow's other plugins (a PNG opens with the PNG plugin alone), tempfile
    # (the atomic write makes its own .part file), json (JSON kernels, --manifest only),
    # the tiled machinery (TIFF and zarr only)
    "PIL.JpegImagePlugin",
    "PIL.GifImagePlugin",
    "PIL.BmpImagePlugin",
    "PIL.ImageOps",
    "tempfile",
    "json",
    # np.percentile imports numpy.ma (20 ms) through np.unique: sobel's --range auto
    # takes its 99th percentile with one np.partition instead
    "numpy.ma",
    "convcli.images.tiled",
)


#: issue 22: what a run with a built-in kernel does without: shape arithmetic it never
#: uses (solving for strides, uncovered cells, formulas as text), table drawing and JSON
#: or CSV (only ``is_terminal`` of convcli.output), the readers of kernel files and .npy
NAMED_KERNEL_RUN = (
    "convcli.arithmetic.solve",
    "convcli.arithmetic.coverage",
    "convcli.arithmetic.formulas",
    "convcli.output.tables",
    "convcli.output.wrapping",
    "convcli.output.plain",
    "convcli.output.serial",
    "convcli.kernels.loading",
    "convcli.kernels.npy",
    "convcli.images.npyread",
)
#: a kernel file is read with the file readers (a .txt kernel: no .npy image reader)
KERNEL_FILE_RUN = tuple(
    m for m in NAMED_KERNEL_RUN if m not in ("convcli.kernels.loading", "convcli.kernels.npy")
)

#: what a colourless table (stdout piped) does without: rich's console, table and text
PLAIN_TABLE = ("rich.console", "rich.table", "rich.text", "rich.style", "rich.segment")


def imported_by(args: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess, set[str]]:
    """Run ``convcli ARGS`` in ``cwd`` under ``-X importtime``; its result and the modules it imported."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONVCLI_", "DASK_"))}
    env["NO_COLOR"] = "1"
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", convcli_executable(), *args],
        cwd=cwd,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        env=env,
        timeout=120,
    )
    modules = logged_modules(proc.stderr)
    assert "click" in modules, "the -X importtime log is missing"  # the log is really there
    return proc, modules - interpreter_modules()


def logged_modules(stderr: bytes) -> set[str]:
    """The modules named in a ``-X importtime`` log."""
    lines = stderr.decode(errors="replace").splitlines()
    return {line.rsplit("|", 1)[-1].strip() for line in lines if line.startswith("import time:")}


@functools.cache
def interpreter_modules() -> frozenset[str]:
    """What ``python -c pass`` imports here: site hooks (``.pth`` files) are not convcli's doing."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "pass"], capture_output=True, timeout=60
    )
    return frozenset(logged_modules(proc.stderr))


def loaded(modules: set[str], banned) -> list[str]:
    """The banned packages (or their submodules) among ``modules``."""
    return sorted(m for m in modules if any(m == b or m.startswith(b + ".") for b in banned))


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """A folder holding copies of sample_images/ and kernels/, as the README's examples expect."""
    where = tmp_path_factory.mktemp("startup")
    shutil.copytree(ROOT / "sample_images", where / "sample_images")
    shutil.copytree(ROOT / "kernels", where / "kernels")
    (where / "out").mkdir()
    return where


# (name, arguments, output file, modules it must not import)
CASES = [
    (
        "filter-sobel",
        ["filter", "sample_images/camera.png", "-k", "sobel", "-o", "out/e.png"],
        (*NOT_FOR_SMALL_IMAGES, *NAMED_KERNEL_RUN),
    ),
    (
        "filter-gaussian25",  # a 25x25 Gaussian: separable in numpy, not fft with scipy.fft
        ["filter", "sample_images/chelsea.png", "-k", "gaussian:sigma=3", "-o", "out/b.png"],
        (*NOT_FOR_SMALL_IMAGES, *NAMED_KERNEL_RUN),
    ),
    (
        "filter-chain",
        [
            "filter",
            "sample_images/coins.png",
            "-k",
            "gaussian:5",
            "-k",
            "laplacian",
            "--range",
            "offset",
            "-o",
            "out/log.png",
        ],
        (*NOT_FOR_SMALL_IMAGES, *NAMED_KERNEL_RUN),
    ),
    (
        "filter-file-kernel",
        [
            "filter",
            "sample_images/camera.png",
            "-k",
            "kernels/sobel_x.txt",
            "--convolve",
            "-o",
            "out/x.png",
        ],
        (*NOT_FOR_SMALL_IMAGES, *KERNEL_FILE_RUN),
    ),
    (
        "filter-stdout",
        ["filter", "sample_images/camera.png", "-k", "sobel"],
        (*NOT_FOR_SMALL_IMAGES, *NAMED_KERNEL_RUN),
    ),
    (
        "pool",
        ["pool", "sample_images/camera.png", "--size", "8", "--mode", "max", "-o", "out/p.png"],
        (*NOT_FOR_SMALL_IMAGES, *NAMED_KERNEL_RUN),
    ),
    (
        "conv",
        ["conv", "--input", "0 1 2; 3 4 5; 6 7 8", "--kernel", "0 1; 2 3"],
        ("scipy", "rich", "PIL", "importlib.metadata", "threadpoolctl", "multiprocessing"),
    ),
    (
        "conv-steps",  # every window written out: plain text for a pipe, rich only at a terminal
        ["conv", "--input", "0 1 2; 3 4 5; 6 7 8", "--kernel", "0 1; 2 3", "--steps"],
        ("scipy", "rich", "PIL", "importlib.metadata", "threadpoolctl", "multiprocessing"),
    ),
    (
        "kernels",  # a table for a pipe is drawn without rich's console (rich.cells measures it)
        ["kernels"],
        (
            *PLAIN_TABLE,
            *("scipy", "PIL", "importlib.metadata", "threadpoolctl", "multiprocessing"),
            *("convcli.arithmetic.solve", "convcli.kernels.loading", "convcli.kernels.npy"),
        ),
    ),
    (
        "kernels-show-text",
        ["kernels", "show", "sobel-x", "--format", "text"],
        ("scipy", "rich", "PIL", "importlib.metadata", "threadpoolctl", "multiprocessing"),
    ),
    (
        "shape-table",
        ["shape", "--in", "224", "--k", "11", "--s", "4", "--p", "2"],
        (
            *PLAIN_TABLE,
            *("numpy", "scipy", "PIL", "importlib.metadata", "multiprocessing", "json"),
            *("convcli.models", "convcli.cli.model_route", "zipfile"),
            "convcli.arithmetic.solve",  # solving for strides: --solve only (issue 22)
        ),
    ),
    (
        "help",
        ["--help"],
        ("numpy", "scipy", "PIL", "rich", "importlib.metadata", "multiprocessing"),
    ),
]


@pytest.mark.parametrize(("args", "banned"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_command_imports_only_what_it_uses(folder, args, banned):
    proc, modules = imported_by(args, folder)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    assert loaded(modules, banned) == []


def test_filter_output_is_right_without_scipy(folder):
    """The scipy-free run writes the Sobel magnitude an independent numpy loop computes."""
    proc, modules = imported_by(
        ["filter", "sample_images/camera.png", "-k", "sobel", "--range", "raw", "-o", "out/s.npy"],
        folder,
    )
    assert proc.returncode == 0, proc.stderr
    assert loaded(modules, ("scipy",)) == []
    x = np.asarray(PIL.Image.open(folder / "sample_images/camera.png").convert("L"), np.float64)
    p = np.pad(x, 1, mode="reflect")
    h, w = x.shape
    gx = np.zeros_like(x)
    gy = np.zeros_like(x)
    kx = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], float)
    for i in range(3):
        for j in range(3):
            gx += kx[i, j] * p[i : i + h, j : j + w]
            gy += kx.T[i, j] * p[i : i + h, j : j + w]
    got = np.load(folder / "out/s.npy").squeeze()
    np.testing.assert_allclose(got, np.hypot(gx, gy), rtol=1e-5, atol=1e-3)


def test_version_does_import_metadata(folder):
    """The other side of the pins: --version reads the installed metadata."""
    proc, modules = imported_by(["--version"], folder)
    assert proc.returncode == 0
    assert b"0.2.0" in proc.stdout
    assert "importlib.metadata" in modules


def test_a_large_filter_still_takes_blas(monkeypatch):
    """Past the break-even the cost model pays for scipy's BLAS (the import is repaid)."""
    from convcli.arithmetic.geometry import Geometry
    from convcli.engine import costs
    from convcli.engine.tiling import Problem

    sobel_x = np.array([[[[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]]], float)

    def problem(side: int) -> Problem:
        return Problem.of(Geometry.resolve((side, side), 3, padding="same"), 1, 1, 1, 1)

    monkeypatch.delitem(sys.modules, "scipy.linalg", raising=False)  # as in a fresh process
    # 6 nonzero taps x 0.3 ns: 512² saves 0.5 ms, 24000² 1 s, against a 0.2 s import
    assert not costs.blas_repays(problem(512), "direct", sobel_x)
    assert costs.blas_repays(problem(24000), "direct", sobel_x)
    assert costs.blas_repays(problem(24000), "separable", sobel_x)
    assert not costs.blas_repays(problem(24000), "fft", sobel_x)  # fft needs no axpy


def test_pipe_and_beside_paths_import_what_o_imports(folder):
    """Issue 22: standard output, standard input and a result beside its input cost no more.

    The same filter of the same file is run four ways; each imports exactly the
    modules the ``-o`` run imports (no writer, spinner or terminal machinery of
    its own).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONVCLI_", "DASK_"))}

    def modules_of(args: list[str], stdin=subprocess.DEVNULL) -> set[str]:
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", convcli_executable(), *args],
            cwd=folder,
            capture_output=True,
            stdin=stdin,
            env=env,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
        lines = proc.stderr.decode(errors="replace").splitlines()
        found = {ln.rsplit("|", 1)[-1].strip() for ln in lines if ln.startswith("import time:")}
        assert "click" in found
        return found

    src = "sample_images/camera.png"
    with_o = modules_of(["filter", src, "-k", "sobel", "-o", "out/o.png"])
    to_stdout = modules_of(["filter", src, "-k", "sobel"])
    with open(folder / src, "rb") as fh:
        from_stdin = modules_of(["filter", "-", "-k", "sobel", "-o", "out/i.png"], stdin=fh)
    (folder / "beside").mkdir()
    shutil.copy(folder / src, folder / "beside" / "a.png")
    shutil.copy(folder / src, folder / "beside" / "b.png")
    beside = modules_of(["filter", "beside/a.png", "beside/b.png", "-k", "sobel"])
    assert (folder / "beside" / "a-sobel.png").exists()
    assert to_stdout ^ with_o == set()
    assert from_stdin ^ with_o == set()
    # two files are a batch: its summary line and progress machinery, nothing else
    assert beside - with_o == set()


def test_the_log_names_every_module_the_run_loads(folder):
    """The pins see what loads on demand: the command's own module and lazy re-exports.

    ``-X importtime`` logs only imports made by an ``import`` statement (or
    ``__import__``), not by ``importlib.import_module``; the group and the lazy
    namespaces import through ``__import__`` so that nothing escapes the pins above
    or the budgets in benchmarks/bench_startup.py.
    """
    _, modules = imported_by(
        ["filter", "sample_images/camera.png", "-k", "sobel", "-o", "out/log.png"], folder
    )
    assert "convcli.cli.filter_cmd" in modules  # loaded by the LazyGroup
    assert "convcli.output.streams" in modules  # `from ..output import is_terminal`
    _, modules = imported_by(["shape", "--in", "224", "--k", "11", "--s", "4", "--p", "2"], folder)
    assert "convcli.cli.shape" in modules


def test_the_collector_is_paused_only_while_the_program_starts(monkeypatch, capsys):
    """Issue 22: the console command holds the cyclic GC back until its command runs.

    The command's own work runs with the collector on (a batch of ten thousand
    files frees its cycles), and it is on again after the call, whether a
    command ran or not (``--help``).
    """
    import gc

    import convcli.cli as cli_module

    seen: list[tuple[bool, bool]] = []
    end = cli_module._end_start_up

    def watched() -> None:
        before = gc.isenabled()
        end()
        seen.append((before, gc.isenabled()))

    monkeypatch.setattr(cli_module, "_end_start_up", watched)
    try:
        for args in (["shape", "--in", "224", "--k", "11", "--s", "4", "--p", "2"], ["--help"]):
            seen.clear()
            assert gc.isenabled()
            with pytest.raises(SystemExit) as exit_:
                cli_module.cli(args, prog_name="convcli")
            assert exit_.value.code == 0
            assert gc.isenabled()
            assert seen[0] == (False, True), args  # paused at the start, on for the work
    finally:
        gc.unfreeze()  # the test process keeps collecting what the runs left
    assert "55" in capsys.readouterr().out  # the shape table really ran


def test_a_command_called_from_python_gives_back_the_callers_signal_handlers(capsys):
    """``cli([...])`` from Python (a notebook, a test) leaves Ctrl-C, SIGTERM and
    SIGHUP as the caller had them: a finished run used to leave them ignored, so the
    caller's Ctrl-C did nothing and every process it started later (which inherits
    an ignored signal) shrugged off SIGTERM."""
    import signal
    import subprocess
    import sys

    import convcli.cli as cli_module

    signums = [s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s]
    before = {s: signal.getsignal(s) for s in signums}
    for args in (["shape", "--in", "224", "--k", "11", "--s", "4", "--p", "2"], ["--help"]):
        with pytest.raises(SystemExit) as exit_:
            cli_module.cli(args, prog_name="convcli")
        assert exit_.value.code == 0
        assert {s: signal.getsignal(s) for s in signums} == before, args
    capsys.readouterr()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    child.terminate()
    assert child.wait(timeout=30) == -signal.SIGTERM
