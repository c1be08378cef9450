"""docs/limits.md is the table the code's limit definitions generate, and it is true.

The page is written by ``docs/limits_table.py`` from the ``#:`` comments of
the limits (see its docstring); here it must match what the code says now,
cover every public limit of ``convcli.arithmetic.limits``, name only options
that exist, and the command line must exit as the table says.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
from terminal import convcli_executable

import convcli.arithmetic.limits as limits

ROOT = Path(__file__).resolve().parent.parent


@functools.cache
def _generator():
    spec = importlib.util.spec_from_file_location("limits_table", ROOT / "docs" / "limits_table.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("limits_table", module)  # its dataclass looks itself up there
    spec.loader.exec_module(module)
    return module


@functools.cache
def _limits():
    """The limits the generator finds (each reads the whole package): once per run."""
    return tuple(_generator().find_limits())


def test_the_page_is_what_the_code_generates():
    gen = _generator()
    assert (ROOT / "docs" / "limits.md").read_text() == gen.render(list(_limits())), (
        "docs/limits.md is out of date: run `python docs/limits_table.py`"
    )


def test_every_public_limit_is_in_the_table():
    names = {lim.name for lim in _limits()}
    constants = {n for n in limits.__all__ if n.isupper()}
    assert constants <= names, constants - names
    # and the ones that live elsewhere
    assert {"DEFAULT_MAX_PIXELS", "MAX_FRAMES"} <= names


def test_the_options_the_table_names_exist():
    from convcli.cli import COMMANDS, cli

    ctx = cli.make_context("convcli", ["--help"], resilient_parsing=True)
    options = set()
    for name in COMMANDS:
        command = cli.get_command(ctx, name)
        for param in getattr(command, "params", []):
            options.update(o for o in getattr(param, "opts", []) if o.startswith("--"))
    for lim in _limits():
        for option in re.findall(r"`(--[a-z-]+)", lim.raised_by):
            assert option in options, f"{lim.name}: no command has {option}"


def test_the_python_parameters_the_table_names_exist():
    import inspect

    import convcli

    for lim in _limits():
        for func, param in re.findall(r"`(\w+)\((\w+)=\)`", lim.raised_by):
            assert param in inspect.signature(getattr(convcli, func)).parameters, lim.name
        for param in re.findall(r"`(\w+)=` of ([\w, ]+)", lim.raised_by):
            name, funcs = param
            for func in re.findall(r"\w+", funcs.replace(" and ", " ")):
                assert name in inspect.signature(getattr(convcli, func)).parameters, lim.name


def _exit(args: list[str], folder: Path) -> tuple[int, str]:
    done = subprocess.run(
        [convcli_executable(), *args], cwd=folder, capture_output=True, text=True, check=False
    )
    return done.returncode, done.stderr


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> Path:
    import numpy as np
    import PIL.Image

    folder = tmp_path_factory.mktemp("limits")
    PIL.Image.fromarray(np.zeros((20, 24), np.uint8)).save(folder / "in.png")
    (folder / "deep.json").write_text("[" * 100 + "1" + "]" * 100)
    return folder


#: a run over each limit the command line can reach: (limit, arguments)
RUNS = [
    (
        "MAX_OUTPUT_PIXELS",
        ["filter", "in.png", "-k", "box:3", "--padding", "100000", "-o", "o.png"],
    ),
    (
        "MAX_OUTPUT_PIXELS",
        [
            "filter",
            "in.png",
            "-k",
            "box:3",
            "--padding",
            "30",
            "--max-pixels",
            "2000",
            "-o",
            "o.png",
        ],
    ),
    (
        "DEFAULT_MAX_PIXELS",
        ["filter", "in.png", "-k", "box:3", "--max-pixels", "100", "-o", "o.png"],
    ),
    ("MAX_KERNEL_TAPS", ["filter", "in.png", "-k", "unsharp:size=6001", "-o", "o.png"]),
    ("MAX_KERNEL_TAPS", ["filter", "in.png", "-k", "box:40000000", "-o", "o.png"]),
    ("MAX_NESTING", ["filter", "in.png", "-k", "deep.json", "-o", "o.png"]),
    ("MAX_LAYERS", ["shape", "--in", "224", "--layers", "1000*(" * 14 + "relu, relu" + ")" * 14]),
    ("MAX_FRAMES", ["animate", "--in", "40", "--k", "3", "-o", "a.gif"]),
    (
        "FORMAT_MAX_SIDE",
        ["filter", "in.png", "-k", "identity", "--padding", "0:17000", "-o", "o.webp"],
    ),
]


@pytest.mark.parametrize(("name", "args"), RUNS, ids=[f"{r[0]}-{i}" for i, r in enumerate(RUNS)])
def test_the_command_line_exits_as_the_table_says(image, name, args):
    table = {lim.name: lim for lim in _limits()}
    code, err = _exit(args, image)
    assert code == table[name].exit, err
    assert "Traceback" not in err
    assert not list(image.glob("o.*"))
