"""Every example in the README and docs/ runs as printed, in a scratch folder.

Each Markdown file's examples run in order (later ones may read what earlier
ones wrote) in a temporary folder that holds a copy of ``sample_images/`` and
``kernels/``, with the installed ``convcli`` first on PATH and stdout a pipe,
as a person would paste them. Shell lines come from ```bash blocks and from
the ``$ `` lines of ```console blocks, whose shown output must appear in what
the command really prints (word by word, so a table may wrap differently but
never show a different number). ```python blocks run as doctests when they
show ``>>>`` prompts, else as scripts.

The Quickstart and the Development section are install and test commands:
.ci/run runs those (and a test below checks it runs the Quickstart's test
line as written).
"""

from __future__ import annotations

import doctest
import itertools
import re
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from helpers import run_shell

ROOT = Path(__file__).resolve().parent.parent
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: README sections whose commands install or test rather than use convcli.
SKIPPED_SECTIONS = ("Quickstart", "Development")
#: characters of rich's table borders, dropped before comparing shown output
BORDERS = "┏┓┗┛┃━┡┩┯┳┻╇╋│─└┘┌┐├┤┬┴┼╭╮╰╯═║╔╗╚╝╞╡╪"


@dataclass
class Example:
    """One runnable example of a doc file."""

    doc: str
    line: int
    kind: str  # "shell", "python" or "doctest"
    code: str
    shown: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"{self.doc}:{self.line}"


def _sections(text: str) -> list[tuple[int, str]]:
    """(offset, title) of each '## ' heading."""
    return [(m.start(), m.group(1)) for m in re.finditer(r"^## (.+)$", text, flags=re.M)]


def _section_at(sections: list[tuple[int, str]], offset: int) -> str:
    title = ""
    for start, name in sections:
        if start <= offset:
            title = name
    return title


def _join_continued(lines: list[str]) -> list[tuple[int, str]]:
    """Join shell lines ending in a backslash; (index of first line, command)."""
    out: list[tuple[int, str]] = []
    pending: list[str] = []
    first = 0
    for i, line in enumerate(lines):
        if not pending:
            first = i
        if line.rstrip().endswith("\\"):
            pending.append(line.rstrip()[:-1])
            continue
        out.append((first, " ".join([*pending, line]).strip()))
        pending = []
    return out


def doc_examples(path: Path) -> list[Example]:
    """The runnable examples of one Markdown file, in order."""
    text = path.read_text(encoding="utf-8")
    doc = path.relative_to(ROOT).as_posix()
    sections = _sections(text) if path.name == "README.md" else []
    examples: list[Example] = []
    for block in re.finditer(r"^```(\w*)\n(.*?)^```", text, flags=re.S | re.M):
        lang, body = block.group(1), block.group(2)
        if _section_at(sections, block.start()) in SKIPPED_SECTIONS:
            continue
        start = text.count("\n", 0, block.start()) + 2  # first line inside the fence
        lines = body.splitlines()
        if lang == "bash":
            for i, command in _join_continued(lines):
                if command and not command.startswith("#"):
                    examples.append(Example(doc, start + i, "shell", command))
        elif lang == "console":
            current: Example | None = None
            i = 0
            while i < len(lines):
                line = lines[i]
                if line.startswith("$ "):
                    parts = [line[2:]]
                    while parts[-1].rstrip().endswith("\\") and i + 1 < len(lines):
                        parts[-1] = parts[-1].rstrip()[:-1]
                        i += 1
                        parts.append(lines[i])
                    current = Example(doc, start + i, "shell", " ".join(p.strip() for p in parts))
                    examples.append(current)
                elif current is not None:
                    current.shown.append(line)
                i += 1
        elif lang == "python":
            kind = "doctest" if body.lstrip().startswith(">>>") else "python"
            examples.append(Example(doc, start, kind, body))
    return examples


ALL = [example for path in DOC_FILES for example in doc_examples(path)]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> dict[str, Path]:
    """One scratch folder per doc file, holding copies of the sample images and kernels."""
    folders: dict[str, Path] = {}

    def get(doc: str) -> Path:
        if doc not in folders:
            folder = tmp_path_factory.mktemp(Path(doc).stem)
            shutil.copytree(ROOT / "sample_images", folder / "sample_images")
            shutil.copytree(ROOT / "kernels", folder / "kernels")
            folders[doc] = folder
        return folders[doc]

    return get  # type: ignore[return-value]


def _words(lines: list[str]) -> list[str]:
    table = str.maketrans(BORDERS, " " * len(BORDERS))
    return " ".join(lines).translate(table).split()


@pytest.mark.parametrize("example", ALL, ids=[e.id for e in ALL])
def test_doc_example_runs_as_printed(example: Example, scratch, monkeypatch):
    """The example runs in a scratch folder and prints what the doc shows."""
    folder = scratch(example.doc)
    if example.kind == "shell":
        result = run_shell(example.code, folder)
        said = result.stdout + result.stderr
        assert "Traceback" not in said, said
        if any(line.startswith("Error:") for line in example.shown):
            # the doc shows a refusal: it must still be one, with the exit code of its kind
            assert result.returncode in (1, 2), f"$ {example.code}\nexit 0, expected an error"
        else:
            assert result.returncode == 0, f"$ {example.code}\nexit {result.returncode}\n{said}"
        shown = [line for line in example.shown if line.strip() and line.strip() != "..."]
        real = _words([said])
        for line in shown:
            words = [w for w in _words([line.replace("...", " ")]) if any(c.isalnum() for c in w)]
            for word in words:
                assert word in real, (
                    f"$ {example.code}\nthe doc shows {word!r} (in {line.strip()!r}), "
                    f"the command printed:\n{said}"
                )
        return
    monkeypatch.chdir(folder)
    if example.kind == "doctest":
        parser = doctest.DocTestParser()
        test = parser.get_doctest(example.code, {}, example.id, example.doc, example.line)
        runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
        runner.run(test)
        assert runner.failures == 0, f"{example.id}: doctest failed"
    else:
        exec(compile(example.code, example.id, "exec"), {"__name__": "__doc_example__"})


def test_examples_were_found():
    """The collector sees the examples the docs are known to have."""
    docs = {e.doc for e in ALL}
    assert {"README.md", "docs/shape.md", "docs/toolbox.md"} <= docs
    assert any("convcli filter" in e.code for e in ALL if e.doc == "README.md")
    assert sum(e.kind == "shell" for e in ALL) >= 40


#: pages whose examples still write beside the clone's files (their owners move them to out/)
NOT_IN_OUT_YET: set[str] = set()


def written_paths(code: str) -> list[str]:
    """What a shell line writes: each ``-o``, ``--out-dir``, ``--manifest`` and ``>`` target
    (standard output, ``-``, aside)."""
    lexer = shlex.shlex(code, posix=True, punctuation_chars="|>")
    lexer.whitespace_split = True  # a quoted "a | b" stays one word
    words = list(lexer)
    found = [b for a, b in itertools.pairwise(words) if a in WRITING_OPTIONS]
    return [p for p in found if p not in ("-", "/dev/null") and not p.startswith("&")]


WRITING_OPTIONS = ("-o", "--output", "--out-dir", "--manifest", ">")


def test_examples_leave_the_repository_alone():
    """No example writes into the clone: paths are relative, and every output goes under
    ``out/`` (git ignores it), as the README says, so pasting the docs into a clone leaves
    its root as it was and never collides with the Quickstart's ``edges.png``."""
    assert written_paths("a -o out/x.png | b > y.png --out-dir d") == ["out/x.png", "y.png", "d"]
    assert written_paths('a "x | y" -o out/z.png >w.png 2>/dev/null 2>&1') == ["out/z.png", "w.png"]
    for example in ALL:
        if example.kind == "shell":
            assert str(ROOT) not in example.code
            if example.doc in NOT_IN_OUT_YET:
                continue
            outside = [p for p in written_paths(example.code) if not p.startswith("out/")]
            assert not outside, f"{example.id} writes {outside} outside out/"
