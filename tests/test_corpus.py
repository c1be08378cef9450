"""A bad-input corpus run through the installed command: clean failures, nothing lost.

Each case is generated in tmp_path (small and fast: bomb headers, not
bombs) and run as a user runs it. Every case must exit with the code given,
print one ``Error:`` line naming the right thing, no traceback, leave no
``.part`` file and change no input; a case that may succeed (a 1×1 image)
must then exit 0 with a valid output.

The first cases are written out by hand (the issue's findings). The
generated corpus below them is built by tables (``corpus_inputs.py`` writes
the files): every image format convcli reads, truncated at the header, at
half and one byte short, random, empty, another format under its suffix,
0 pixels wide, a bomb *header*, and ``.npy`` files of every awkward kind
(a pickle whose unpickling would leave a file, complex, structured, 0-D to
5-D, NaN) × filter, pool, gallery, learn and conv; bad kernel names,
parameters and files; absurd strides, dilations, paddings, sizes and layer
specs; outputs that are an input (by path, ``./``, symlink, hard link), in
a missing folder, existing, of an unknown suffix; two writers racing for one
``-o``. Each family runs in a few threads in one test; every outcome is
tallied in :data:`SUMMARY`, which :func:`test_corpus_summary` writes to
``corpus-summary.json`` in pytest's base temporary folder (or to
``$CONVCLI_CORPUS_SUMMARY``) and checks. :data:`KNOWN_BUGS` lists the cases
that still go wrong. Not here: huge kernels and dilations that are *slow*
rather than refused (benchmarks/, issue 12 item 7), signals
(test_signals.py), a full disk (test_messages.py), the Python API
(test_corpus_api.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
from corpus_inputs import PWNED, build_images, build_issue21b, build_kernels
from terminal import convcli_executable, run_with_terminal_stdin

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
        "box-40000000",  # box:100000 is two running sums now (issue 21 item 15)
        ["filter", "in.png", "-k", "box:40000000", "-o", "o.png"],
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
    ("bomb-header-npy", ["filter", "bomb.npy", "-k", "box:3", "-o", "o.png"], 2, ["bomb.npy"]),
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
    SUMMARY.setdefault("hand-written", []).append(
        {
            "id": case,
            "args": list(args),
            "code": done.returncode,
            "traceback": "Traceback" in err,
            "internal": "internal error" in err,
            "catch_all": CATCH_ALL in err,
            "problems": [] if done.returncode == code else [f"exit {done.returncode}"],
        }
    )
    assert done.returncode == code, err
    assert "Traceback" not in err and "internal error" not in err and CATCH_ALL not in err
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
    (  # 1000*(1000*(1000*relu)) is three rows now; 14 nested repeats hold 49,151
        "layers-expansion",
        ["shape", "--in", "224", "--layers", "1000*(" * 14 + "relu, relu" + ")" * 14],
        ["49,151 rows", "limit", "--max-layers"],
    ),
]


@pytest.mark.parametrize(("case", "args", "words"), LIMIT_CASES, ids=[c[0] for c in LIMIT_CASES])
def test_limits_are_usage_errors(corpus, case, args, words):
    test_corpus_case_fails_cleanly(corpus, case, args, 2, words)


# ------------------------------------------------------------ generated corpus
#
# Each family below is a table built by product (inputs × commands, or
# values × options); a test runs one family in a pool of threads (each case
# is one `convcli` process), checks every case as
# test_corpus_case_fails_cleanly does, and adds its outcome to SUMMARY.


@dataclass(frozen=True)
class Case:
    """One generated run: arguments, the failure expected, or a success allowed."""

    id: str
    args: tuple[str, ...]
    codes: frozenset[int]  # exit codes of a right failure
    words: tuple[str, ...]  # what the Error: line must name
    ok: bool = False  # exit 0 with a valid `output` is right too
    output: str | None = None


def _case(id: str, args, codes, words, *, ok: bool = False, output: str | None = None) -> Case:
    codes = frozenset([codes] if isinstance(codes, int) else codes)
    return Case(id, tuple(str(a) for a in args), codes, tuple(words), ok, output)


#: cases that still go wrong, and why (each one a bug to fix, not a rule):
#: they are counted in the summary but do not fail their family's test (one
#: that starts working must leave the table, unless it was only "slow")
KNOWN_BUGS: dict[str, str] = {}

#: outcomes of every generated case of this session, by family
SUMMARY: dict[str, list[dict]] = {}

WORKERS = 3
TIMEOUT = 30


#: the catch-all's words (cli/__init__.py: a MemoryError no check caught up front)
CATCH_ALL = "too large for this machine ("


def _holds_nan(path: Path | None) -> bool:
    """Whether an output array (.npy, float TIFF) holds NaN: a silent NaN if the run said 0."""
    if path is None or not path.is_file():
        return False
    try:
        if path.suffix == ".npy":
            data = np.load(path, allow_pickle=False)
        elif path.suffix in (".tif", ".tiff"):
            import tifffile

            data = tifffile.imread(path)
        else:
            return False
    except Exception:
        return False
    return data.dtype.kind in "fc" and bool(np.isnan(data).any())


def _valid_output(path: Path) -> bool:
    if not path.is_file() or path.stat().st_size == 0:
        return False
    try:
        if path.suffix == ".npy":
            np.load(path, allow_pickle=False)
        elif path.suffix in (".txt", ".csv", ".json"):
            return bool(path.read_text().strip())
        else:
            with PIL.Image.open(path) as im:
                im.load()
    except Exception:
        return False
    return True


def _own_parts(folder: Path, output: str | None) -> list[Path]:
    """The ``.part`` files left for ``output``: ".NAME." + a random tail + ".part".

    Cases run three at a time in one folder, so a ``.part`` file being written
    by a neighbour (``.o-x.npy.g.png.…`` beside a case writing ``o-x.npy``, or
    beside one that writes nothing) is not this case's. The random tail of
    mkstemp/mkdtemp never holds a dot. A ``.part`` left by any case is still
    caught once the whole family has run (see ``_run_family``).
    """
    if not output:
        return []
    own = re.compile(rf"\.{re.escape(Path(output).name)}\.[^.]+\.part")
    return [p for p in folder.glob("**/.*.part") if own.fullmatch(p.name)]


def test_own_parts_ignores_a_neighbours_part(tmp_path):
    """The race CI hit: a gallery's .part beside a learn case was blamed on learn."""
    neighbour = tmp_path / ".o-tiny-u16.npy.g.png.63qpfva3.part"
    neighbour.write_bytes(b"")
    mine = tmp_path / ".o-tiny-u16.npy.1abc_x2z.part"
    assert _own_parts(tmp_path, None) == []
    assert _own_parts(tmp_path, "o-tiny-u16.npy.f.npy") == []
    assert _own_parts(tmp_path, "o-tiny-u16.npy.g.png") == [neighbour]
    mine.write_bytes(b"")
    assert _own_parts(tmp_path, "o-tiny-u16.npy") == [mine]


def _run_case(folder: Path, case: Case, digests: dict[str, str]) -> dict:
    """Run one case; return its outcome with a list of problems (empty if right)."""
    problems: list[str] = []
    record = {"id": case.id, "args": list(case.args)}
    try:
        done = subprocess.run(
            [convcli_executable(), *case.args],
            cwd=folder,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        record.update(code=None, hang=True, problems=[f"no exit within {TIMEOUT} s"])
        return record
    err = done.stderr.decode("utf-8", "replace")
    last = err.strip().splitlines()[-1] if err.strip() else ""
    record.update(
        code=done.returncode,
        last=last,
        hang=False,
        traceback="Traceback" in err,
        internal="internal error" in err,
        catch_all=CATCH_ALL in err,
        nan=done.returncode == 0 and _holds_nan(folder / case.output if case.output else None),
        warning="Warning" in err and "Warning:" not in last,
    )
    if record["traceback"]:
        problems.append("traceback")
    if record["internal"]:
        problems.append("internal error")
    if record["catch_all"]:
        problems.append("catch-all")
    if record["nan"]:
        problems.append(f"exit 0 but {case.output} holds NaN")
    if "RuntimeWarning" in err or "DeprecationWarning" in err:
        problems.append("raw Python warning")
    if done.returncode == 0:
        if not case.ok:
            problems.append("exit 0 where a failure was due")
        elif case.output and not _valid_output(folder / case.output):
            problems.append(f"exit 0 but {case.output} is missing or invalid")
    else:
        if done.returncode not in case.codes:
            problems.append(f"exit {done.returncode}, expected {sorted(case.codes)}")
        if not last.startswith("Error:"):
            problems.append("last line is not one Error: line")
        missing = [
            w for w in case.words if not any(a.lower() in last.lower() for a in w.split("|"))
        ]
        if missing:
            problems.append(f"the Error: line does not name {missing}")
        if case.output and (folder / case.output).exists() and case.output not in digests:
            problems.append(f"failed but left {case.output}")
    parts = _own_parts(folder, case.output)
    changed = [a for a in case.args if a in digests and _digest(folder / a) != digests[a]]
    record["data_loss"] = bool(changed) or bool(parts)
    if changed:
        problems.append(f"input changed: {changed}")
    if parts:
        problems.append(f".part left: {[p.name for p in parts]}")
    if (folder / PWNED).exists():
        record["data_loss"] = True
        problems.append("a pickle was unpickled")
    record["problems"] = problems
    return record


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _run_family(folder: Path, family: str, cases: list[Case]) -> None:
    """Run `cases` in a pool, record them in SUMMARY, fail listing every wrong one."""
    assert len({c.id for c in cases}) == len(cases), "case ids must be unique"
    digests = {
        str(p.relative_to(folder)): _digest(p)
        for p in folder.rglob("*")
        if p.is_file() and not p.is_symlink()
    }
    with ThreadPoolExecutor(WORKERS) as pool:
        records = list(pool.map(lambda c: _run_case(folder, c, digests), cases))
    SUMMARY[family] = records
    after = {name: _digest(folder / name) for name in digests}
    lost = sorted(name for name in digests if after[name] != digests[name])
    wrong = [
        f"{r['id']}: {r['problems']} — {r.get('last', '')!r}"
        for r in records
        if r["problems"] and r["id"] not in KNOWN_BUGS
    ]
    fixed = [
        r["id"]
        for r in records
        if r["id"] in KNOWN_BUGS
        and not r["problems"]
        and not KNOWN_BUGS[r["id"]].startswith("slow")
    ]
    assert not fixed, f"fixed now, remove from KNOWN_BUGS: {fixed}"
    assert not lost, f"inputs changed: {lost}"
    assert not list(folder.glob("**/.*.part")), "a .part file was left"
    assert not wrong, f"{len(wrong)} of {len(cases)} cases wrong:\n" + "\n".join(wrong)


@pytest.fixture(scope="module")
def gen(tmp_path_factory) -> tuple[Path, dict[str, list[str]]]:
    """The generated corpus folder and its files by family."""
    folder = tmp_path_factory.mktemp("gen")
    families = build_images(folder)
    families.update(build_kernels(folder))
    (folder / "ro").mkdir()
    np.save(folder / "target.npy", np.random.default_rng(3).random((20, 24)))
    return folder, families


# -- images ------------------------------------------------------------------

#: damaged files that a reader may decode (the lost byte is a checksum's, or
#: Pillow reads by content): exit 0 with a valid image is right for them too
_MAY_DECODE = ("short.", "wrong.")
#: arrays `pool` takes as tensors (any channels, (N, C, H, W)) or decodes anyway
_POOL_TENSORS = ("d4.npy", "c9.npy", "big-values.npy")
#: pixel formats every command reads (the others go through filter only: one reader)
_EVERY_COMMAND = ("png", "npy")


def image_cases(families: dict[str, list[str]]) -> list[Case]:
    """Every damaged, empty, bomb-header, zero-width and odd .npy file × the commands."""
    cases = []
    for family in ("damaged", "zero", "bomb", "npy", "tiny"):
        for name in families[family]:
            suffix = name.rsplit(".", 1)[1]
            npy = suffix == "npy"
            every = suffix in _EVERY_COMMAND or family == "bomb"
            ok = family == "tiny" or name.startswith(_MAY_DECODE) or name == "big-values.npy"
            words = () if family == "tiny" else (name,)
            # a bomb header is refused by --max-pixels (a resource limit: 2) where the
            # header is read first, else as a damaged file (1)
            codes = (1, 2) if family == "tiny" or "bomb" in name else 1
            out = f"o-{family}-{name}"  # one output per command below
            image_out = out + (".f.npy" if npy else ".f.png")
            pool_out = out + (".p.npy" if npy else ".p.png")
            cases.append(
                _case(
                    f"filter-{name}",
                    ["filter", name, "-k", "box:3", "-o", image_out],
                    codes,
                    words,
                    ok=ok,
                    output=image_out,
                )
            )
            if every or suffix == "gif":
                cases.append(
                    _case(
                        f"pool-{name}",
                        ["pool", name, "--size", "2", "-o", pool_out],
                        codes,
                        words,
                        ok=ok or name in _POOL_TENSORS,
                        output=pool_out,
                    )
                )
            if every:
                cases.append(
                    _case(
                        f"gallery-{name}",
                        ["gallery", name, "-k", "box:3", "--tile", "16", "-o", out + ".g.png"],
                        codes,
                        words,
                        ok=ok,
                        output=out + ".g.png",
                    )
                )
                # learn: the target is 20×24, a mismatch may name the input or the target
                cases.append(
                    _case(
                        f"learn-{name}",
                        ["learn", name, "target.npy", "--size", "3", "-q"],
                        (1, 2),
                        [f"{name}|input|target"] if words else [],
                        ok=family == "tiny" or ok,
                    )
                )
            if npy:
                cases.append(
                    _case(
                        f"conv-{name}",
                        ["conv", "--input", name, "--kernel", "1 0", "-o", out + ".c.npy"],
                        (1, 2),
                        [f"{name}|--input|channel"] if words else [],
                        ok=ok or family == "tiny",
                        output=out + ".c.npy",
                    )
                )
    return cases


def test_image_corpus(gen):
    folder, families = gen
    _run_family(folder, "images", image_cases(families))


# -- kernels -------------------------------------------------------------------

BAD_KERNEL_SPECS = [
    "nosuch", "sobel-z", "box:0", "box:-3", "box:nan", "box:inf", "box:1e9", "box:3.5",
    "box:abc", "box:", "box:3,3", "box:size=3,size=5", "box:99999999999999999999",
    "gaussian:sigma=0", "gaussian:sigma=-1", "gaussian:sigma=nan", "gaussian:sigma=inf",
    "gaussian:sigma=1e308", "gaussian:size=0", "gaussian:size=-1", "gaussian:size=nan",
    "gaussian:foo=1", "gaussian:sigma=", "gaussian:sigma=1,sigma=2", "gaussian:sigma=1e-320",
    "motion:nan,30", "motion:15,nan", "motion:1e9,30", "motion:-5,30", "motion:0,0",
    "motion:15,inf", "log:sigma=0", "log:sigma=nan", "log:sigma=-2", "log:size=1e9",
    "diff:0", "diff:-1", "diff:100000", "diff:order=2,axis=z", "diff:1.5",
    ":", "::", "box::3", "=", "1,2;3", "1,nan;0,1", "1,inf;0,1", "1e400", "[[1,2],[3]]",
    "[[]]", "[]", "[[1,2],[3,4]", "{}", "1;;2", "a b; c d", "0x10", "--", " ", ";",
    "missing.npy", "missing.txt", "missing.json",
]  # fmt: skip


#: spellings that are read as a valid kernel: `box:` is box's defaults, a
#: denormal sigma is the identity (JSON strings of digits are refused, by
#: `filter` as by `conv`: JSON weights are JSON numbers)
_KERNELS_THAT_WORK = ("box:", "gaussian:sigma=1e-320")
#: kernel files conv reads as a (C_out, C_in, kh, kw) or (C, kh, kw) kernel
_CONV_KERNELS = ("k3d.json", "k3d.npy", "k4d.npy")


def kernel_cases(families: dict[str, list[str]]) -> list[Case]:
    """Bad kernel names, parameters, inline matrices and files, through filter, gallery, conv."""
    cases = []
    for i, spec in enumerate(BAD_KERNEL_SPECS):
        # the message must name the kernel: its text (a name's part before ':'), or --kernel
        head = spec.split(":")[0].strip() or spec.strip()
        words = [f"{head}|kernel"] if head else ["kernel"]
        out = f"o-k{i}.png"
        cases.append(
            _case(
                f"filter-k{i}[{spec}]",
                ["filter", "ok.png", "-k", spec, "-o", out],
                2,
                words,
                ok=spec in _KERNELS_THAT_WORK,
                output=out,
            )
        )
    for name in families["files"]:
        out = f"o-{name}.png"
        cases.append(
            _case(
                f"filter-{name}",
                ["filter", "ok.png", "-k", name, "-o", out],
                (1, 2),
                [name],
                ok=name in _KERNELS_THAT_WORK,
                output=out,
            )
        )
        cases.append(
            _case(
                f"conv-{name}",
                ["conv", "-i", "1 2 3; 4 5 6; 7 8 9", "-k", name],
                (1, 2),
                [f"{name}|--kernel"],
                ok=name in _CONV_KERNELS,
            )
        )
        if name in ("kempty.npy", "kbomb.npy", "kpickle.npy", "knan.npy"):
            cases.append(
                _case(
                    f"gallery-{name}",
                    ["gallery", "ok.png", "-k", name, "--tile", "16", "-o", f"o-{name}.g.png"],
                    (1, 2),
                    [name],
                    output=f"o-{name}.g.png",
                )
            )
        if name.endswith(".npy"):
            cases.append(_case(f"show-{name}", ["kernels", "show", name], (1, 2), [name]))
    return cases


def test_kernel_corpus(gen):
    folder, families = gen
    _run_family(folder, "kernels", kernel_cases(families))


# -- geometry ------------------------------------------------------------------

BAD_INTS = ["0", "-1", "-100", "1e9", "100000000000", "1.5", "nan", "inf", "abc", "", "3x",
            "x3", "3x0", "3x-1", "10" * 200, "3x3x3", "0x0"]  # fmt: skip
BAD_PADDINGS = ["-1", "-5:2", "1000000000", "nan", "inf", "1.5", "abc", "1:2:3", "samee",
                "3x-1", "10" * 200]  # fmt: skip


def geometry_cases(families: dict[str, list[str]] | None = None) -> list[Case]:
    """Absurd strides, dilations, paddings and sizes through filter, pool, conv and shape."""
    cases = []
    runs = {
        "filter": (["filter", "ok.png", "-k", "box:3"], "-o", ".png"),
        "pool": (["pool", "ok.png", "--size", "2"], "-o", ".png"),
        "conv": (["conv", "-i", "1 2 3 4; 5 6 7 8; 9 10 11 12", "-k", "1 0; 0 1"], "-o", ".txt"),
    }
    options = {"--stride": BAD_INTS, "--dilation": BAD_INTS, "--padding": BAD_PADDINGS}
    for command, (args, dash_o, suffix) in runs.items():
        for option, values in options.items():
            if command == "pool" and option == "--dilation":
                continue
            for i, value in enumerate(values):
                if value in ("1e9", "100000000000") and option == "--stride":
                    continue  # a stride larger than the image is a valid 1-pixel output
                out = f"o-{command}{option}{i}{suffix}"
                # 1e9 padding is a pixel-limit error; "0" dilation/stride must name the option
                words = [f"{option}|{option[2:]}|pixels|limit|larger"]
                ok = option == "--padding" and value == "1000000000" and command == "conv"
                ok = ok or (option == "--stride" and value == "10" * 200)  # one output pixel
                cases.append(
                    _case(
                        f"{command}{option}[{value[:12]}]",
                        [*args, option, value, dash_o, out],
                        (1, 2),
                        words,
                        ok=ok,
                        output=out,
                    )
                )
    # a kernel larger than the image with valid padding, in every command
    cases.append(
        _case(
            "filter-kernel-too-big",
            ["filter", "ok.png", "-k", "box:31", "--padding", "valid", "-o", "o-big.png"],
            (1, 2),
            ["larger|kernel|box"],
            output="o-big.png",
        )
    )
    cases.append(
        _case(
            "conv-kernel-too-big",
            ["conv", "-i", "1 2; 3 4", "-k", "box:5"],
            (1, 2),
            ["larger|kernel"],
        )
    )
    cases.append(
        _case(
            "pool-window-too-big",
            ["pool", "ok.png", "--size", "50", "-o", "o-pbig.png"],
            (1, 2),
            ["larger|window"],
            output="o-pbig.png",
        )
    )
    shape_options = {
        "--in": ["0", "-3", "nan", "1e400", "10" * 200, "3x", "abc", ""],
        "--k": ["0", "-3", "nan", "10" * 200, "500"],
        "--s": ["0", "-2", "nan", "10" * 200],
        "--p": ["-1", "nan", "10" * 200, "1:2:3", "samee"],
        "--d": ["0", "-1", "nan", "10" * 200],
    }
    for option, values in shape_options.items():
        for value in values:
            args = {"--in": "32", "--k": "3"}
            args[option] = value
            flat = [x for kv in args.items() for x in kv]
            # a huge padding or stride is a valid (huge or one-cell) output
            # (and --in: answered since issue 21 item 6, not "too large for this machine")
            ok = option in ("--p", "--s", "--in") and value == "10" * 200
            cases.append(
                _case(
                    f"shape{option}[{value[:12]}]",
                    ["shape", *flat],
                    2,
                    [f"{option}|{option[2:]}|kernel|input|too large|larger"],
                    ok=ok,
                )
            )
    for i, spec in enumerate(
        [
            "conv",
            "conv x",
            "conv 8 k0",
            "conv 8 k-1",
            "conv 8 knan",
            # huge repeats are valid now (kept compressed, issue 21 item 15): a zero
            # count and an empty repeat are not
            "0*relu",
            "1000*()",
            "(((",
            "res(",
            "fc -1",
            "maxpool k0",
            "conv 8 s0",
            "conv 8 d0",
            "seq(",
            "conv 8 k3 p-5",
            "conv 1e400",
            "unknown 3",
            "," * 1000,
        ]
    ):
        cases.append(
            _case(
                f"layers{i}[{spec[:15]}]",
                ["shape", "--in", "28", "--layers", spec],
                2,
                ["layers|layer|spec|limit"],
            )
        )
    for i, arch in enumerate(["nosuch", "", "resnet18x", "../etc/passwd"]):
        cases.append(_case(f"arch{i}", ["shape", "--arch", arch], 2, ["arch"]))
    cases.append(
        _case(
            "shape-out-huge",
            ["shape", "--in", "1000000", "--out", "7", "--k", "3"],
            (),  # solved in closed form now: it must succeed (119,047 choices)
            [],
            ok=True,
        )
    )
    return cases


def test_geometry_corpus(gen):
    folder, _ = gen
    _run_family(folder, "geometry", geometry_cases())


# -- outputs -------------------------------------------------------------------


def output_cases(families: dict[str, list[str]]) -> list[Case]:
    """-o naming an input (by path, ./path, symlink, hard link), missing or read-only folders,
    existing files without --overwrite, unknown suffixes: for every command that writes."""
    same = ["ok.png", "./ok.png", "link.png", "hard.png", "sub/../ok.png"]
    cases = []
    for i, target in enumerate(same):
        for flag in ([], ["--overwrite"]):
            tag = f"{i}{'w' if flag else ''}"
            cases += [
                _case(
                    f"filter-same{tag}",
                    ["filter", "ok.png", "-k", "box:3", "-o", target, *flag],
                    (1, 2),
                    [f"{target}|ok.png|input"],
                ),
                _case(
                    f"pool-same{tag}",
                    ["pool", "ok.png", "--size", "2", "-o", target, *flag],
                    (1, 2),
                    [f"{target}|ok.png|input"],
                ),
                _case(
                    f"gallery-same{tag}",
                    ["gallery", "ok.png", "-k", "box:3", "--tile", "16", "-o", target, *flag],
                    (1, 2),
                    [f"{target}|ok.png|input"],
                ),
            ]
    for name, command in [
        ("kernel", ["filter", "ok.png", "-k", "good.npy", "-o", "good.npy", "--overwrite"]),
        (
            "kernel-link",
            ["filter", "ok.png", "-k", "good.npy", "-o", "goodlink.npy", "--overwrite"],
        ),
        ("conv", ["conv", "-i", "m.txt", "-k", "1 0", "-o", "./m.txt", "--overwrite"]),
        (
            "conv-kernel",
            [
                "conv",
                "-i",
                "1 2 3 4; 5 6 7 8; 9 1 2 3",
                "-k",
                "m.txt",
                "-o",
                "m.txt",
                "--overwrite",
            ],
        ),
        (
            "learn",
            [
                "learn",
                "ok.npy",
                "target.npy",
                "--size",
                "3",
                "-q",
                "-o",
                "target.npy",
                "--overwrite",
            ],
        ),
        (
            "learn-input",
            ["learn", "ok.npy", "target.npy", "--size", "3", "-q", "-o", "ok.npy", "--overwrite"],
        ),
    ]:
        cases.append(_case(f"{name}-is-output", command, (1, 2), ["never overwrites an input"]))
    writers = {
        "filter": ["filter", "ok.png", "-k", "box:3"],
        "pool": ["pool", "ok.png", "--size", "2"],
        "gallery": ["gallery", "ok.png", "-k", "box:3", "--tile", "16"],
        "conv": ["conv", "-i", "1 2; 3 4", "-k", "1"],
        "learn": ["learn", "ok.npy", "target.npy", "--size", "3", "-q"],
    }
    for command, args in writers.items():
        suffix = ".txt" if command in ("conv", "learn") else ".png"
        cases += [
            _case(f"{command}-missing-dir", [*args, "-o", f"nodir/o{suffix}"], (1, 2), ["nodir"]),
            _case(
                f"{command}-exists",
                [*args, "-o", f"exists{suffix}"],
                (1, 2),
                [f"exists{suffix}", "--overwrite"],
            ),
            _case(f"{command}-dir-is-output", [*args, "-o", "sub"], (1, 2), ["sub"]),
        ]
        if os.geteuid() != 0:
            cases.append(
                _case(f"{command}-read-only", [*args, "-o", f"ro/o{suffix}"], (1, 2), ["ro/o"])
            )
        if command in ("filter", "pool", "gallery"):
            cases.append(
                _case(f"{command}-unknown-suffix", [*args, "-o", "o.xyz"], (1, 2), ["xyz"])
            )
            cases.append(_case(f"{command}-no-suffix", [*args, "-o", "noext"], (1, 2), ["noext"]))
    return cases


def _output_folder(folder: Path) -> Path:
    out = folder / "outputs"
    if out.exists():
        return out
    out.mkdir()
    for name in ("ok.png", "ok.npy", "target.npy"):
        (out / name).write_bytes((folder / name).read_bytes())
    (out / "link.png").symlink_to("ok.png")
    os.link(out / "ok.png", out / "hard.png")
    (out / "sub").mkdir()
    (out / "ro").mkdir()
    np.save(out / "good.npy", np.ones((3, 3)) / 9)
    (out / "goodlink.npy").symlink_to("good.npy")
    (out / "m.txt").write_text("1 2 3; 4 5 6; 7 8 9")
    for suffix in (".png", ".txt"):
        (out / f"exists{suffix}").write_text("precious")
    (out / "ro").chmod(0o555)
    return out


def test_output_corpus(gen):
    folder, families = gen
    out = _output_folder(folder)
    try:
        _run_family(out, "outputs", output_cases(families))
    finally:
        (out / "ro").chmod(0o755)


# -- concurrent writers --------------------------------------------------------


def test_concurrent_writers_leave_one_complete_file(tmp_path):
    """Two `convcli filter` processes replacing the same -o at once: one whole file wins."""
    src = tmp_path / "in.png"
    rng = np.random.default_rng(5)
    PIL.Image.fromarray(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)).save(src)
    solo = {}
    for kernel in ("box:3", "sobel"):
        out = tmp_path / f"solo-{kernel[:3]}.png"
        subprocess.run(
            [convcli_executable(), "filter", str(src), "-k", kernel, "-o", str(out)],
            check=True,
            capture_output=True,
            timeout=60,
        )
        solo[kernel] = out.read_bytes()
    assert solo["box:3"] != solo["sobel"]
    target = tmp_path / "shared.png"
    codes = []
    for _ in range(4):
        procs = [
            subprocess.Popen(
                [
                    convcli_executable(),
                    "filter",
                    str(src),
                    "-k",
                    kernel,
                    "-o",
                    str(target),
                    "--overwrite",
                ],
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
            )
            for kernel in ("box:3", "sobel")
        ]
        for proc in procs:
            _, err = proc.communicate(timeout=60)
            codes.append(proc.returncode)
            assert b"Traceback" not in err and b"internal error" not in err, err
        assert target.read_bytes() in (solo["box:3"], solo["sobel"])
        with PIL.Image.open(target) as im:
            im.load()
        assert not list(tmp_path.glob(".*.part"))
    SUMMARY["concurrent"] = [
        {
            "id": f"writer{i}",
            "code": c,
            "hang": False,
            "traceback": False,
            "internal": False,
            "data_loss": False,
            "problems": [] if c == 0 else [f"exit {c}"],
        }
        for i, c in enumerate(codes)
    ]
    assert codes == [0] * len(codes)


# -- issue 21 (items 3, 5-7, 9, 10) and issue 19 (Found 7, 8) ---------------------
#
# Each case below failed before its fix (a catch-all, an internal error, exit 0
# or 1 where 2 was due, a message naming the wrong thing, a file replaced).
# Items 1, 2, 4, 11-13 and 15 are in their own block.

#: a number of 5000 digits: more than Python converts between int and text (4300)
DIGITS = "7" * 5000


def issue21b_cases(names: dict[str, list[str]]) -> list[Case]:
    """Issue 21 items 3, 5, 6 and 7 as run from the shell (files from ``build_issue21b``)."""
    huge = str(10**400)
    cases = []
    # 3: every choice of --out streamed (1.1 GB in 30 s): refused up front above a count
    for fmt in ("--json", "--csv", "--quiet"):
        cases.append(
            _case(
                f"shape-out-huge{fmt}",
                ["shape", "--in", huge, "--out", "7", "--k", "3", fmt],
                2,
                [fmt, "1,000,000"],
            )
        )
    # 5: internal errors (ValueError: int max str digits, UnicodeDecodeError)
    for name, args, words in [
        ("inline-json", ["filter", "ok.png", "-k", f"[[{DIGITS}]]", "-o", "o.png"], ["digits"]),
        ("inline-rows", ["filter", "ok.png", "-k", f"1, {DIGITS}", "-o", "o.png"], ["kernel"]),
        ("json-file", ["filter", "ok.png", "-k", "kdigits.json", "-o", "o.png"], ["kdigits.json"]),
        ("text-file", ["filter", "ok.png", "-k", "kdigits.txt", "-o", "o.png"], ["kdigits.txt"]),
        ("conv-input", ["conv", "-i", f"[[{DIGITS}]]", "-k", "1"], ["digits"]),
        ("layers", ["shape", "--in", "28", "--layers", f"conv {DIGITS}"], ["--layers", "digits"]),
        ("shape-in", ["shape", "--in", DIGITS, "--k", "3"], ["--in", "digits"]),
        ("spec", ["shape", "--in", "28", "--spec", "digits-spec.json"], ["digits-spec.json"]),
    ]:
        cases.append(_case(f"digits-{name}", args, 2, words))
    for spec in ("binary.spec", "nul.spec"):
        cases.append(_case(f"spec-{spec}", ["shape", "--in", "28", "--spec", spec], 2, [spec]))
    # 6: catch-alls ("too large for this machine") where a check belongs, or nothing was wrong
    for spec in ("deep-spec.json", "deep-braces.json"):
        cases.append(
            _case(
                f"spec-{spec}", ["shape", "--in", "28", "--spec", spec], 2, [spec, "nested", "64"]
            )
        )
    for i, args in enumerate(
        [
            ["--in", huge, "--k", "3"],
            ["--in", str(10**12), "--k", "3", "--d", "2", "--s", "4"],
            ["--in", huge, "--k", "3", "--channels", "3", "--filters", "8"],
            ["--in", huge, "--k", "3", "--channels", "3", "--filters", "8", "--json"],
            ["--in", huge, "--dense", "10"],
            ["--in", "3000", "--dense", huge],
            ["--arch", "resnet18", "--in", huge],
            ["--arch", "resnet18", "--channels", huge],
            ["--arch", "resnet18", "--channels", huge, "--csv"],
        ]
    ):
        cases.append(_case(f"shape-huge{i}", ["shape", *args], (), [], ok=True))
    # 7: a kernel at fault is a usage error naming the kernel (was exit 1, the image's path,
    # "dtype='float64'", RuntimeWarnings); --bias 1e308 was exit 0 with an all-white image
    runs = [(name, ["filter", "ok.png", "-k", name], name.split(".")[0]) for name in names["huge"]]
    runs += [
        ("gallery", ["gallery", "ok.png", "-k", "khuge.npy", "--tile", "16"], "khuge"),
        ("unsharp", ["filter", "ok.png", "-k", "unsharp:amount=1e308"], "unsharp"),
        ("bias", ["filter", "ok.png", "-k", "box:3", "--bias", "1e308"], "--bias"),
    ]
    for id, args, word in runs:
        out = f"o-{id}.png"
        cases.append(_case(f"huge-{id}", [*args, "-o", out], 2, [word], output=out))
    return cases


@pytest.fixture(scope="module")
def issue21b_folder(gen) -> tuple[Path, dict[str, list[str]]]:
    folder = gen[0] / "issue21b"
    folder.mkdir()
    (folder / "ok.png").write_bytes((gen[0] / "ok.png").read_bytes())
    return folder, build_issue21b(folder)


def test_issue21b_corpus(issue21b_folder):
    folder, names = issue21b_folder
    _run_family(folder, "issue21b", issue21b_cases(names))
    for record in SUMMARY["issue21b"]:
        if record["id"].startswith("huge-"):  # the kernel, not the image, is at fault
            assert "ok.png" not in record["last"] and "dtype=" not in record["last"], record
        if record["id"].startswith(("digits-", "spec-")):
            assert len(record["last"]) < 300, record  # one line, not 5000 digits


def _shell(command: str, cwd: Path, timeout: float = 60) -> tuple[int, str]:
    """Run ``command`` in bash (pipes and redirections as a person types them); stderr text."""
    done = subprocess.run(
        ["bash", "-c", command],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=timeout,
        check=False,
    )
    return done.returncode, done.stderr.decode("utf-8", "replace")


FULL_STDOUT = [
    "filter ok.png -k sobel -o -",
    "filter ok.png -k sobel",  # standard output chosen because it is not a terminal
    "kernels",
    "kernels show sobel",
    "kernels show sobel-x --format json",
    "shape --in 224 --k 3",
    "shape --in 1000000 --out 7 --k 3 --json",
    "conv -i '1 2; 3 4' -k 1",
]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("args", FULL_STDOUT)
def test_a_full_standard_output_is_named(issue21b_folder, args):
    """``> /dev/full``: one Error: line naming standard output (issue 21 item 9, issue 19
    Found 7: filter blamed its input, kernels and shape named nothing)."""
    folder, _ = issue21b_folder
    code, err = _shell(f"{convcli_executable()} {args} > /dev/full", folder)
    assert code == 1, err
    assert err.strip().splitlines() == [
        "Error: <stdout>: cannot write standard output: No space left on device"
    ], err


@pytest.mark.parametrize(
    "args",
    ["shape --in 224 --k 3", "shape --in 224 --k 3 --json", "kernels", "filter ok.png -k sobel"],
)
def test_a_closed_standard_output_is_an_error(issue21b_folder, args):
    """``>&-``: an error, not exit 0 with nothing printed (issue 21 item 9)."""
    folder, _ = issue21b_folder
    code, err = _shell(f"{convcli_executable()} {args} >&-", folder)
    assert code == 1, err
    (last,) = err.strip().splitlines()
    assert last.startswith("Error: standard output is closed"), err


@pytest.mark.parametrize(
    "args", ["kernels show sobel", "kernels show gaussian:sigma=20", "kernels"]
)
def test_a_reader_that_goes_away_gives_141(issue21b_folder, args):
    """``| head``: 141 and no message, for rich's tables too (kernels show gave 1, silently).

    ``head -n 0`` exits at once, before convcli (a Python program) has started
    writing: every write then meets a closed pipe, as the last writes do when
    ``head -n 1`` has its line.
    """
    folder, _ = issue21b_folder
    command = f'{convcli_executable()} {args} | head -n 0; exit "${{PIPESTATUS[0]}}"'
    code, err = _shell(command, folder)
    assert code == 141, err
    assert err == "", err


def test_a_file_on_standard_input_is_an_input(issue21b_folder):
    """``filter - -o in.png --overwrite < in.png`` replaced the file being read (issue 21 item 10)."""
    folder, _ = issue21b_folder
    target = folder / "stdin.png"
    target.write_bytes((folder / "ok.png").read_bytes())
    before = target.read_bytes()
    code, err = _shell(
        f"{convcli_executable()} filter - -k sobel -o stdin.png --overwrite < stdin.png", folder
    )
    assert code == 1, err
    (last,) = err.strip().splitlines()
    assert last == (
        "Error: stdin.png: is the file on standard input; convcli never overwrites an input"
    )
    assert target.read_bytes() == before
    assert not list(folder.glob(".*.part"))
    # a pipe is nothing to protect, and another output is fine
    code, err = _shell(f"{convcli_executable()} filter - -k sobel -o other.png < stdin.png", folder)
    assert code == 0, err
    (folder / "other.png").unlink()


@pytest.mark.parametrize(
    "args",
    [
        ["filter", "-", "-k", "sobel", "-o", "o-tty.png"],
        ["filter", "-", "-k", "sobel"],
        ["pool", "-", "--size", "2", "-o", "o-tty.png"],
        ["gallery", "-", "-o", "o-tty.png"],
    ],
)
def test_image_data_is_not_read_from_a_terminal(issue21b_folder, args):
    """A terminal on stdin: one line, exit 2 (issue 19 Found 8: it waited forever)."""
    folder, _ = issue21b_folder
    code, out, err = run_with_terminal_stdin(args, folder, timeout=20)
    assert code == 2, err
    assert out == b""
    assert err.strip().splitlines()[-1] == (
        "Error: refusing to read image data from a terminal; redirect standard input "
        "(< FILE or a pipe) or give a file name instead of -"
    )
    assert not (folder / "o-tty.png").exists()


# -- summary (keep last) ---------------------------------------------------------


def test_corpus_summary(tmp_path_factory):
    """Totals of every generated case run in this session, written as JSON and checked."""
    records = [r for family in SUMMARY.values() for r in family]
    if not records:
        pytest.skip("no generated family ran in this session")
    codes: dict[str, int] = {}
    for r in records:
        codes[str(r.get("code"))] = codes.get(str(r.get("code")), 0) + 1
    summary = {
        "cases": len(records),
        "by_family": {k: len(v) for k, v in SUMMARY.items()},
        "exit_codes": dict(sorted(codes.items())),
        "tracebacks": sum(bool(r.get("traceback")) for r in records),
        "hangs": sum(bool(r.get("hang")) for r in records),
        "data_loss": sum(bool(r.get("data_loss")) for r in records),
        "internal_errors": sum(bool(r.get("internal")) for r in records),
        "catch_alls": sum(bool(r.get("catch_all")) for r in records),
        "silent_nan": sum(bool(r.get("nan")) for r in records),
        "wrong": sum(bool(r["problems"]) for r in records),
        "known_bugs": sorted(KNOWN_BUGS),
    }
    path = (
        Path(os.environ.get("CONVCLI_CORPUS_SUMMARY", ""))
        if os.environ.get("CONVCLI_CORPUS_SUMMARY")
        else tmp_path_factory.getbasetemp() / "corpus-summary.json"
    )
    path.write_text(json.dumps({"summary": summary, "records": SUMMARY}, indent=1))
    print(f"\ncorpus summary ({path}): {json.dumps(summary)}")
    unknown = [r["id"] for r in records if r["problems"] and r["id"] not in KNOWN_BUGS]
    assert not unknown, f"corpus summary: {json.dumps(summary)}"
    assert summary["tracebacks"] == summary["hangs"] == summary["data_loss"] == 0, summary


# ------------------------------------------------------- issue 21 items 2, 12, 13
#
# Item 1 (a signal stops any run within a second) is tests/test_signal_latency.py;
# item 11 (library calls raise LimitError) is in test_corpus_api.py.


@pytest.mark.slow
def test_issue21_max_pixels_lifts_the_output_limit(corpus, tmp_path):
    """Item 2: the message names --max-pixels, so --max-pixels must lift the limit."""
    args = [convcli_executable(), "filter", str(corpus / "in.png"), "-k", "identity"]
    args += ["--pad-mode", "circular", "--padding", "5040", "-o", "o.png"]  # 10100×10104
    refused = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert refused.returncode == 2, refused.stderr
    assert "--max-pixels" in refused.stderr and "Traceback" not in refused.stderr
    assert not (tmp_path / "o.png").exists()
    lifted = subprocess.run(
        [*args, "--max-pixels", "200000000"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert lifted.returncode == 0, lifted.stderr
    import warnings

    with warnings.catch_warnings():  # above Pillow's limit, as asked: only its size is read
        warnings.simplefilter("ignore", PIL.Image.DecompressionBombWarning)
        with PIL.Image.open(tmp_path / "o.png") as im:
            assert im.size == (24 + 2 * 5040, 20 + 2 * 5040)


def test_issue21_sigint_while_exiting_on_an_error_exits_130(corpus, tmp_path):
    """Item 12: Ctrl-C while the error message is being written exits 130.

    Standard error is a pipe already full, so the process blocks writing its
    one-line error; the SIGINT arrives there, then the pipe is drained.
    """
    import fcntl
    import signal
    import time

    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETFL, os.O_NONBLOCK)
    filler = 0
    try:
        while True:
            filler += os.write(write_end, b"x" * 4096)
    except BlockingIOError:
        pass
    fcntl.fcntl(write_end, fcntl.F_SETFL, 0)
    proc = subprocess.Popen(
        [convcli_executable(), "filter", "missing.png", "-k", "box:3", "-o", "o.png"],
        cwd=corpus,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=write_end,
    )
    os.close(write_end)
    try:
        # wait until it is blocked writing to the full pipe (its state is S, its CPU idle)
        deadline = time.monotonic() + 60
        stat = Path(f"/proc/{proc.pid}/wchan")
        while not (stat.exists() and "pipe" in stat.read_text()):
            assert proc.poll() is None and time.monotonic() < deadline, "never blocked"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        drained = b""
        while chunk := os.read(read_end, 1 << 16):
            drained += chunk
        proc.wait(timeout=30)
    finally:
        os.close(read_end)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = drained[filler:].decode("utf-8", "replace")
    assert proc.returncode == 130, (proc.returncode, err)
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == "Interrupted."


def test_issue21_identity_to_npy_is_bounded(tmp_path):
    """Item 13: writing a large result to .npy does not copy it whole (an 88-MP image
    peaked at 2.3 GiB); here a 12-MP RGB image through `identity` to .npy. The
    peak holds the float32 result, the input and the run's float planes; the
    channels-first copy of the result that np.save was given is gone (2.5× -> 1.9×)."""
    rng = np.random.default_rng(13)
    pixels = rng.integers(0, 256, (3000, 4000, 3), dtype=np.uint8)
    PIL.Image.fromarray(pixels).save(tmp_path / "in.png", compress_level=0)
    script = (
        "import resource, subprocess, sys;"
        "subprocess.run(sys.argv[1:], check=True);"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    run = [convcli_executable(), "filter", "in.png", "-k", "identity", "--range", "raw"]
    done = subprocess.run(
        [sys.executable, "-c", script, *run, "-o", "o.npy"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    peak = int(done.stdout.split()[-1]) * 1024
    result = 3000 * 4000 * 3 * 4  # the float32 result itself
    assert np.load(tmp_path / "o.npy", mmap_mode="r").shape == (3, 3000, 4000)
    assert peak < 2.1 * result, f"peak {peak / 2**20:.0f} MiB for a {result / 2**20:.0f} MiB result"


def test_issue21_learn_too_long_is_refused_up_front(tmp_path):
    """Item 4: `learn --size 31` on a 3-MP image ran for more than 1500 s; its
    work is estimated and refused at once (exit 2, naming what to shrink)."""
    rng = np.random.default_rng(4)
    np.save(tmp_path / "x.npy", rng.random((1500, 2000)))
    np.save(tmp_path / "y.npy", rng.random((1500, 2000)))
    done = subprocess.run(
        [convcli_executable(), "learn", "x.npy", "y.npy", "--size", "31", "-o", "k.npy"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,  # a hang guard only: before the fix this ran for most of an hour
        check=False,
    )
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert "multiply-adds" in last and "--size" in last, last
    assert not (tmp_path / "k.npy").exists()


def test_issue21_learn_gd_unstable_rate_refused_before_the_factorisation(monkeypatch):
    """Item 4: an unstable gradient-descent rate on a large problem was refused only
    after the 98 s factorisation; a lower bound of λmax refuses it first."""
    import convcli.teaching.learn as learn

    def never(*args, **kwargs):
        raise AssertionError("the factorisation ran")

    monkeypatch.setattr(learn, "factor_system", never)  # what learn_kernel calls
    rng = np.random.default_rng(5)
    x = rng.random((1000, 1200))  # 9×9: a factorisation of seconds
    with pytest.raises(learn.UnstableLearningRate) as info:
        learn.learn_kernel(x, x, 9, method="gd", lr=1.0, steps=3)
    # the rate it names must be one the true stable bound 1/λmax(AᵀA) lies below:
    # AᵀA from the explicit windows, a band of rows at a time
    padded = np.pad(x, 4, mode="reflect")
    gram = np.zeros((81, 81))
    for r0 in range(0, 1000, 100):
        band = np.lib.stride_tricks.sliding_window_view(padded[r0 : r0 + 108], (9, 9))
        a = band.reshape(-1, 81)
        gram += a.T @ a
    true_bound = 1.0 / np.linalg.eigvalsh(gram)[-1]
    assert true_bound <= info.value.max_lr < 1.0


@pytest.mark.parametrize("spec", ["box:100000", "box:20001", "gaussian:sigma=1000"])
def test_issue21_separable_kernels_are_counted_by_their_factors(corpus, tmp_path, spec):
    """Item 15: a box or Gaussian is two 1-D passes, so it is not refused as k² taps
    (box:20001 was "400040001 taps … over the limit"); the blur of a 20×24 image by a
    kernel far wider than it is near its mean, as the reflected image averages out."""
    out = tmp_path / "o.npy"
    done = subprocess.run(
        [convcli_executable(), "filter", str(corpus / "in.png"), "-k", spec, "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    got = np.load(out)
    src = np.asarray(PIL.Image.open(corpus / "in.png"), dtype=np.float64)
    assert got.shape == src.shape and np.isfinite(got).all()
    assert abs(float(got.mean()) - src.mean()) < 0.05 * src.mean()


# -- issue 21: a hostile user on this wave's paths (--manifest, --scheduler-file) --------


@pytest.mark.parametrize("mode", ["--overwrite", "--skip-existing", None])
@pytest.mark.parametrize("which", ["input", "output"])
def test_a_manifest_that_is_a_file_of_the_batch_is_refused(corpus, tmp_path, mode, which):
    """``--manifest a.png --overwrite`` emptied the input a.png and filled it with JSON lines
    (``--skip-existing`` appended to it): refused, like every other input/output collision."""
    for name in ("a.png", "b.png"):
        (tmp_path / name).write_bytes((corpus / "in.png").read_bytes())
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.png").write_bytes(b"an earlier output")
    manifest = "a.png" if which == "input" else "out/a.png"
    before = {p: p.read_bytes() for p in tmp_path.rglob("*.png")}
    args = ["filter", "a.png", "b.png", "-k", "box:3", "--out-dir", "out", "--manifest", manifest]
    done = subprocess.run(
        [convcli_executable(), *args, *([mode] if mode else [])],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    (last,) = done.stderr.strip().splitlines()
    assert last.startswith(f"Error: {manifest}: is an {which} of this batch"), last
    assert {p: p.read_bytes() for p in tmp_path.rglob("*.png")} == before


@pytest.mark.parametrize("content", ["", "{}", "[1, 2]", "not json"])
def test_a_file_that_is_not_a_scheduler_file_is_named(tmp_path, content):
    """``--scheduler-file /dev/null`` (or any non-scheduler file) was "internal error:
    AssertionError": one line naming the file, exit 1."""
    pytest.importorskip("distributed")
    (tmp_path / "sched.json").write_text(content)
    img = np.zeros((8, 9), dtype=np.uint8)
    PIL.Image.fromarray(img).save(tmp_path / "a.png")
    PIL.Image.fromarray(img).save(tmp_path / "b.png")
    args = ["filter", "a.png", "b.png", "-k", "box:3", "--out-dir", "out"]
    done = subprocess.run(
        [convcli_executable(), *args, "--scheduler-file", "sched.json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    (last,) = done.stderr.strip().splitlines()
    assert last.startswith("Error: sched.json: not a scheduler file"), last
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_a_folder_output_replacing_a_file_leaves_nothing_beside_it(corpus, tmp_path):
    """``-o out.zarr --overwrite`` where out.zarr was a file: the file was moved aside as
    ``.out.zarr.XXXXXXXX.part.old`` and never removed (rmtree of a file does nothing)."""
    tifffile = pytest.importorskip("tifffile")
    pytest.importorskip("zarr")
    tifffile.imwrite(tmp_path / "t.tif", np.zeros((40, 50), dtype=np.uint8), tile=(16, 16))
    (tmp_path / "out.zarr").write_text("not a folder")
    done = subprocess.run(
        [convcli_executable(), "filter", "t.tif", "-k", "box:3", "-o", "out.zarr", "--overwrite"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out.zarr").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.zarr", "t.tif"]


def test_a_streamed_block_that_cannot_fit_is_refused_up_front(tmp_path):
    """``-o out.zarr`` with a padding of 100000 on a 600x700 TIFF planned blocks of 200000²
    cells (386 GB) and ran until killed, leaving its .part folder: refused, exit 2."""
    tifffile = pytest.importorskip("tifffile")
    pytest.importorskip("zarr")
    tifffile.imwrite(tmp_path / "t.tif", np.zeros((600, 700), dtype=np.uint8), tile=(256, 256))
    args = ["filter", "t.tif", "-k", "box:3", "-p", "100000", "-o", "out.zarr"]
    done = subprocess.run(
        [convcli_executable(), *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: t.tif: filtering in tiles"), last
    assert "more than this machine can allocate" in last and "padding" in last
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.tif"]


def test_a_nan_in_a_streamed_image_names_the_file_and_its_pixel(tmp_path):
    """A NaN at (5, 5) of a .zarr filtered in tiles said "`image` holds a non-finite value
    (nan) at index (6, 6)": neither the file nor the pixel (an index in a padded window)."""
    zarr = pytest.importorskip("zarr")
    values = np.ones((300, 400))
    values[205, 305] = np.nan
    z = zarr.open_array(
        str(tmp_path / "in.zarr"), mode="w", shape=values.shape, chunks=(100, 100), dtype="f8"
    )
    z[:] = values
    args = ["filter", "in.zarr", "-k", "box:3", "--range", "raw", "-o", "out.tif"]
    done = subprocess.run(
        [convcli_executable(), *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    (last,) = done.stderr.strip().splitlines()
    assert last == "Error: in.zarr: pixel (row 205, column 305) is nan; values must be finite"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.zarr"]
