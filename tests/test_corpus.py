"""A bad-input corpus run through the installed command: clean failures, nothing lost.

Each case is generated in tmp_path (small and fast: bomb headers, not
bombs) and run as a user runs it. Every case must exit with the code given,
print one ``Error:`` line naming the right thing, no traceback, leave no
``.part`` file and change no input. Not here yet: huge dilations and
kernels (slow paths, issue 12 item 7), concurrent writers, random bytes in
every format.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
from terminal import convcli_executable

DEEP = "[" * 2000 + "1" + "]" * 2000

#: (id, arguments, exit code, words the last line must hold)
CASES = [
    (
        "kernel-is-output",
        ["filter", "in.png", "-k", "k.npy", "-o", "k.npy", "--overwrite"],
        1,
        ["k.npy", "never overwrites an input"],
    ),
    (
        "conv-operand-is-output",
        ["conv", "--input", "m.txt", "--kernel", "k.txt", "-o", "m.txt", "--overwrite"],
        1,
        ["m.txt", "never overwrites an input"],
    ),
    (
        "learn-operand-is-output",
        ["learn", "x.txt", "y.txt", "--size", "1x2", "-o", "y.txt", "--overwrite"],
        1,
        ["y.txt", "never overwrites an input"],
    ),
    ("nan-npy", ["filter", "nan.npy", "-k", "box:3", "-o", "o.png"], 1, ["nan.npy", "nan"]),
    (
        "bias-nan",
        ["filter", "in.png", "-k", "box:3", "--bias", "nan", "-o", "o.png"],
        2,
        ["--bias"],
    ),
    (
        "deep-json-kernel",
        ["filter", "in.png", "-k", "deep.json", "-o", "o.png"],
        2,
        ["deep.json", "nested"],
    ),
    ("deep-inline-kernel", ["filter", "in.png", "-k", DEEP, "-o", "o.png"], 2, ["nested"]),
    (
        "deep-conv-input",
        ["conv", "--input", "deep.json", "--kernel", "1 0"],
        2,
        ["deep.json", "nested"],
    ),
    (
        "dev-zero-kernel",
        ["filter", "in.png", "-k", "/dev/zero", "-o", "o.png"],
        2,
        ["/dev/zero", "limit"],
    ),
    (
        "box-100000",
        ["filter", "in.png", "-k", "box:100000", "-o", "o.png"],
        2,
        ["box", "taps", "limit"],
    ),
    ("diff-1100", ["filter", "in.png", "-k", "diff:1100", "-o", "o.png"], 2, ["diff:1100"]),
    (
        "log-tiny-sigma",
        ["filter", "in.png", "-k", "log:sigma=1e-200", "-o", "o.png"],
        2,
        ["log:sigma=1e-200"],
    ),
    ("shape-10e400", ["shape", "--in", str(10**400), "--k", "3"], 2, ["too large"]),
    ("bomb-header-npy", ["filter", "bomb.npy", "-k", "box:3", "-o", "o.png"], 1, ["bomb.npy"]),
    ("pool-bomb-header-npy", ["pool", "pbomb.npy", "--size", "2", "-o", "o.npy"], 1, ["pbomb.npy"]),
    ("truncated-png", ["filter", "bad.png", "-k", "box:3", "-o", "o.png"], 1, ["bad.png"]),
]


def _bomb_npy(path: Path, shape: tuple[int, ...] = (100000, 100000)) -> None:
    """A .npy header promising 100000×100000 float64 (74.5 GiB), and no data."""
    header = f"{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}"
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    path.write_bytes(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode())


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("corpus")
    rng = np.random.default_rng(9)
    PIL.Image.fromarray(rng.integers(0, 256, (20, 24), dtype=np.uint8)).save(folder / "in.png")
    np.save(folder / "k.npy", np.ones((3, 3)) / 9)
    (folder / "k.txt").write_text("1 0; 0 -1")
    (folder / "m.txt").write_text("1 2 3; 4 5 6; 7 8 9")
    (folder / "x.txt").write_text("1 1 0 0 0 0 1 1; 1 1 0 0 0 0 1 1")
    (folder / "y.txt").write_text("0 1 0 0 0 -1 0; 0 1 0 0 0 -1 0")
    a = rng.random((8, 9))
    a[2, 3] = np.nan
    np.save(folder / "nan.npy", a)
    (folder / "deep.json").write_text(DEEP)
    _bomb_npy(folder / "bomb.npy")
    _bomb_npy(folder / "pbomb.npy", (1, 3, 100000, 100000))  # channels first, for pool
    (folder / "bad.png").write_bytes((folder / "in.png").read_bytes()[:60])
    return folder


def _digests(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir() if p.is_file()
    }


@pytest.mark.parametrize(("case", "args", "code", "words"), CASES, ids=[c[0] for c in CASES])
def test_corpus_case_fails_cleanly(corpus, case, args, code, words):
    before = _digests(corpus)
    done = subprocess.run(
        [convcli_executable(), *args],
        cwd=corpus,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
        check=False,
    )
    err = done.stderr.decode("utf-8", "replace")
    assert done.returncode == code, err
    assert "Traceback" not in err and "internal error" not in err
    assert "RuntimeWarning" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("Error:"), err
    for word in words:
        assert word in last, last
    assert not list(corpus.glob(".*.part"))
    after = _digests(corpus)
    assert {name: after.get(name) for name in before} == before
    for extra in set(after) - set(before):
        (corpus / extra).unlink()


LIMIT_CASES = [
    (
        "padding-1e9",
        ["filter", "in.png", "-k", "box:3", "--padding", "1000000000", "-o", "o.png"],
        ["pixels", "limit"],
    ),
    (
        "gallery-tile-100000",
        ["gallery", "in.png", "--tile", "100000", "-o", "o.png"],
        ["`tile` 100000", "limit"],
    ),
    (
        "layers-expansion",
        ["shape", "--in", "224", "--layers", "1000*(1000*(1000*relu))"],
        ["1000000 layers", "limit"],
    ),
]


@pytest.mark.parametrize(("case", "args", "words"), LIMIT_CASES, ids=[c[0] for c in LIMIT_CASES])
def test_limits_are_usage_errors(corpus, case, args, words):
    test_corpus_case_fails_cleanly(corpus, case, args, 2, words)
