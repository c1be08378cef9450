"""Facts that once stood in several places have one home each (issue 23).

Each check reads the package's code with comments and strings removed (so a
docstring may still quote a formula) and names the only module allowed to
write the fact. A second copy fails here with its file and line.
"""

from __future__ import annotations

import functools
import io
import re
import tokenize
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "convcli"


@functools.cache
def _code_lines(path: Path) -> list[tuple[int, str]]:
    """The lines of ``path`` with every comment and string literal blanked out."""
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    blank = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type in (tokenize.COMMENT, tokenize.STRING):
            (r0, c0), (r1, c1) = tok.start, tok.end
            for row in range(r0, r1 + 1):
                text = blank.get(row, lines[row - 1])
                start = c0 if row == r0 else 0
                end = c1 if row == r1 else len(text)
                blank[row] = text[:start] + " " * (end - start) + text[end:]
    return [(n, blank.get(n, line)) for n, line in enumerate(lines, 1)]


def _places(pattern: str) -> list[str]:
    """Every ``file:line`` of the package whose code matches ``pattern``."""
    found = []
    rx = re.compile(pattern)
    for path in sorted(PACKAGE.rglob("*.py")):
        for number, line in _code_lines(path):
            if rx.search(line):
                found.append(f"{path.relative_to(PACKAGE).as_posix()}:{number}")
    return found


#: (what, a regular expression for writing it, the one module allowed to)
HOMES = [
    (
        "the dilated span d*(k-1)+1",
        r"\*\s*\(\s*\w+\s*-\s*1\s*\)\s*\+\s*1\b",
        "arithmetic/support.py",
    ),
    ("the usable cores", r"sched_getaffinity|cpu_count\(", "engine/threads.py"),
    ("the .npy header", r"read_array_header|read_magic|np\.lib\.format", "kernels/npy.py"),
    ("the terminal check", r"(?<!def )\bisatty\(", "output/streams.py"),
    ("the 'same' split of a total padding", r"def split_total\b", "arithmetic/padding.py"),
]


@pytest.mark.parametrize(("what", "pattern", "home"), HOMES, ids=[h[0] for h in HOMES])
def test_a_fact_is_written_in_its_home_only(what, pattern, home):
    places = _places(pattern)
    strays = [p for p in places if not p.startswith(f"{home}:")]
    assert not strays, f"{what} is written outside {home}: {strays}"


def test_the_checks_can_fail():
    """Each pattern finds its fact in its home (a pattern that matches nothing guards nothing)."""
    for what, pattern, home in HOMES:
        assert any(p.startswith(f"{home}:") for p in _places(pattern)), what
    assert _places(r"\*\s*\(\s*\w+\s*-\s*1\s*\)\s*\+\s*1\b") == [
        p for p in _places(r"return dilation \* \(k - 1\) \+ 1")
    ]


def test_no_module_is_over_500_lines():
    """A file that does one job fits in 500 lines (issue 23)."""
    long = {
        path.relative_to(PACKAGE).as_posix(): n
        for path in PACKAGE.rglob("*.py")
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > 500
    }
    assert not long, f"split these by job: {long}"


def test_the_refusal_to_write_to_a_terminal_is_worded_once():
    """Every writer of binary data to ``-`` refuses a terminal through one function."""
    places = [
        f"{path.relative_to(PACKAGE).as_posix()}:{n}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "refusing to write" in line
    ]
    assert len(places) == 1 and places[0].startswith("images/atomic.py:"), places


#: numpy's own loader, which trusts a ``.npy`` header (kernels/npy.py trusts it for nothing).
NP_LOAD = r"\b(?:np|numpy)\.load\("


def test_npy_data_is_read_by_the_one_reader():
    """No module calls ``np.load``: ``.npy`` data goes through :mod:`convcli.kernels.npy`."""
    assert re.search(NP_LOAD, 'arr = np.load(source, mmap_mode="r")')  # the check can fail
    assert not _places(NP_LOAD), f"np.load outside kernels/npy.py: {_places(NP_LOAD)}"
