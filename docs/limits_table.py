"""Write docs/limits.md, the table of every limit, from the code's own definitions.

A limit is a module-level constant of convcli with a ``#:`` comment: every
public upper-case constant of ``convcli/arithmetic/limits.py``, and any
constant elsewhere in the package whose comment has a ``Raised by:`` line.
The comment's lines give the table's columns:

- the text before the tags: what the limit bounds;
- ``Raised by: ...``: the option or parameter that lifts it ("none" if fixed);
- ``Exit: N``: the command line's exit status when it is hit (2, a usage error,
  unless given).

The value is the constant's value once imported (Pillow's limit is Pillow's).
Run ``python docs/limits_table.py`` after adding or changing a limit;
``tests/test_limits_table.py`` fails while the page and the code disagree.
"""

from __future__ import annotations

import ast
import importlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "convcli"
PAGE = ROOT / "docs" / "limits.md"
#: The module every one of whose public constants is a limit.
LIMITS_MODULE = PACKAGE / "arithmetic" / "limits.py"

_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


@dataclass(frozen=True)
class Limit:
    name: str
    module: str  # dotted
    path: str  # relative to docs/
    value: object
    bounds: str
    raised_by: str
    exit: int


def _comment_above(lines: list[str], lineno: int) -> list[str]:
    """The ``#:`` lines right above line ``lineno`` (1-based), without the marker."""
    out: list[str] = []
    i = lineno - 2
    while i >= 0 and lines[i].lstrip().startswith("#:"):
        out.insert(0, lines[i].lstrip()[2:].strip())
        i -= 1
    return out


def _parse(comment: list[str]) -> tuple[str, str | None, int]:
    """(what it bounds, raised by, exit status) of a ``#:`` comment's lines."""
    text: list[str] = []
    raised: str | None = None
    code = 2
    for line in comment:
        if line.startswith("Raised by:"):
            raised = line[len("Raised by:") :].strip()
        elif line.startswith("Exit:"):
            code = int(line[len("Exit:") :].strip())
        elif raised is not None:
            raised += " " + line  # "Raised by:" runs on over the next lines
        else:
            text.append(line)
    return " ".join(text), raised, code


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def find_limits() -> list[Limit]:
    """Every limit of the package, in module then source order."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        if "#:" not in source:
            continue
        lines = source.splitlines()
        module = _module_name(path)
        for node in ast.parse(source).body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
            elif isinstance(node, ast.AnnAssign):
                target = node.target
            else:
                continue
            if not isinstance(target, ast.Name) or not _NAME.match(target.id):
                continue
            comment = _comment_above(lines, node.lineno)
            bounds, raised, code = _parse(comment)
            if raised is None and path != LIMITS_MODULE:
                continue
            if not comment:
                continue
            value = getattr(importlib.import_module(module), target.id)
            found.append(
                Limit(
                    name=target.id,
                    module=module,
                    path="../" + path.relative_to(ROOT).as_posix(),
                    value=value,
                    bounds=bounds,
                    raised_by=raised or "none",
                    exit=code,
                )
            )
    return found


def _value(value: object, name_is_bytes: bool = False) -> str:
    """A limit's value for the table (MiB too for a number of bytes)."""
    if isinstance(value, dict):
        return ", ".join(f"{k} {_value(v)}" for k, v in value.items())
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        text = f"{value:,}"
        if name_is_bytes and value >= 2**20 and value % 2**20 == 0:
            text += f" ({value // 2**20} MiB)"
        return text
    return str(value)


def _is_bytes(name: str) -> bool:
    return name.endswith(("_BYTES", "_BUDGET"))


def _cell(text: str) -> str:
    text = re.sub(r":(?:data|func|class|mod):`~?([^`]+)`", r"`\1`", text)
    text = text.replace("``", "`")
    return text.replace("|", "\\|")


def render(limits: list[Limit]) -> str:
    rows = [
        "# Limits",
        "",
        "Every size convcli refuses, its default, what lifts it and the exit status",
        "of a command that hits it. Generated from the definitions in the code",
        "(`python docs/limits_table.py`; a test checks this page against them):",
        "do not edit by hand. A limit is refused before anything is allocated,",
        "with a message naming the limit and the option or parameter below.",
        "Besides these, any size no limit bounds is checked against the memory",
        "this machine can give (RAM, or a lower `ulimit -v`) before it is",
        "allocated: a `LimitError`, exit 2.",
        "",
        "| limit | default | what it bounds | raised by | exit |",
        "|---|---|---|---|---|",
    ]
    for lim in limits:
        rows.append(
            f"| [`{lim.name}`]({lim.path}) | {_value(lim.value, _is_bytes(lim.name))} | {_cell(lim.bounds)} "
            f"| {_cell(lim.raised_by)} | {lim.exit} |"
        )
    return "\n".join(rows) + "\n"


def main() -> None:
    PAGE.write_text(render(find_limits()), encoding="utf-8")
    print(f"wrote {PAGE.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
