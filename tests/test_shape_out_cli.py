"""``convcli shape --out`` at any size: a bounded table, every choice on request.

The expected choices come from a brute force written out here (every stride,
every padding, the output-size formula); the table is checked through Click
and, for the big case, through the installed command at an 80-column
pseudo-terminal.
"""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess

import pytest
from click.testing import CliRunner
from terminal import convcli_executable, run_in_pty, strip_ansi

from convcli.cli import cli

ENV = {"COLUMNS": "80", "NO_COLOR": "1"}


def run(*args: str):
    return CliRunner().invoke(cli, ["shape", *map(str, args)], env=ENV)


def ok(*args: str):
    result = run(*args)
    assert result.exit_code == 0, result.output
    return result


def brute_force(n, out, k):
    """Every (stride, before, after) giving ``out``: strides up to where one window is
    left, total paddings up to 2*(k - 1), split with the extra cell after."""
    found = []
    for s in range(1, n + k):
        for t in range(2 * (k - 1) + 1):
            if n + t >= k and (n + t - k) // s + 1 == out:
                found.append((s, t // 2, t - t // 2))
    return found


def table_rows(text: str) -> list[str]:
    """The table's body lines that start a row (its --p cell, the second, is not empty)."""
    return [
        line
        for line in text.splitlines()
        if re.match(r"│\s*\d", line) and line.strip("│").split("│")[1].strip()
    ]


def words(text: str) -> str:
    """The text with its line breaks and runs of spaces as single spaces."""
    return " ".join(text.split())


def test_the_documented_example_is_unchanged_in_substance():
    table = ok("--in", 224, "--out", 112, "--k", 3).stdout
    assert "224 → 112, k 3, both axes" in table
    assert "⌊(224 − 3 + 1 + 2)/2⌋ = ⌊112⌋ = 112" in table
    assert "⌊(224 − 3 + 2 + 2)/2⌋ = ⌊112.5⌋ = 112" in table
    assert len(table_rows(table)) == 2
    assert "choices in all" not in table  # every choice is a row of its own
    assert ok("--in", 224, "--out", 112, "--k", 3, "-q").stdout == "2 0:1\n2 1\n"


@pytest.mark.parametrize(("n", "out", "k"), [(40, 3, 5), (60, 7, 3), (25, 2, 7)])
def test_every_format_lists_the_brute_force(n, out, k):
    expected = brute_force(n, out, k)
    rows = json.loads(ok("--in", n, "--out", out, "--k", k, "--json").stdout)
    assert [(r["stride"], r["pad_before"], r["pad_after"]) for r in rows] == expected
    for r in rows:
        assert r["formula"].endswith(f"= {out}")
    listed = list(
        csv.DictReader(io.StringIO(ok("--in", n, "--out", out, "--k", k, "--csv").stdout))
    )
    assert [(int(r["stride"]), int(r["total_padding"])) for r in listed] == [
        (s, b + a) for s, b, a in expected
    ]
    quiet = ok("--in", n, "--out", out, "--k", k, "-q").stdout.splitlines()
    assert quiet == [f"{s} {b}" if b == a else f"{s} {b}:{a}" for s, b, a in expected]
    # the table: runs of strides that add up to every choice
    table = ok("--in", n, "--out", out, "--k", k, "--all").stdout
    shown = 0
    for line in table_rows(table):
        cells = [c.strip() for c in line.strip("│").split("│")]
        first, _, last = cells[0].partition("–")
        shown += int(last or first) - int(first) + 1
    assert shown == len(expected)
    if len(table_rows(table)) < len(expected):
        assert f"{len(expected):,} choices in all" in words(table)


def test_a_million_cells_gives_a_few_rows():
    table = ok("--in", 1_000_000, "--out", 7, "--k", 3).stdout
    rows = table_rows(table)
    assert 1 <= len(rows) <= 10
    assert "142858–166666" in table
    assert "119,047 choices in all" in words(table)
    assert "--csv, --json or --quiet list every choice" in words(table)
    same = ok("--in", 1_000_000, "--out", 7, "--k", 3, "--p", "same").stdout
    assert len(table_rows(same)) == 1
    assert "142858–166666" in same and "valid, same" in same
    assert "23,809 choices in all" in words(same)


def test_the_table_is_cut_to_a_screenful_and_all_shows_every_row():
    args = ("--in", 1_000_000, "--out", 7, "--k", 101)
    table = ok(*args).stdout
    assert len(table_rows(table)) == 10
    assert "--all shows every row" in words(table)
    everything = ok(*args, "--all").stdout
    assert len(table_rows(everything)) > 200  # one run per total padding 0..200, some cut
    assert "--all shows every row" not in words(everything)


@pytest.mark.parametrize("n", [10**9, 10**18])
def test_huge_inputs_answer_at_once(n):
    table = ok("--in", n, "--out", 7, "--k", 3).stdout
    assert len(table_rows(table)) <= 10
    count = sum((n + t - 3) // 6 - (n + t - 3) // 7 for t in range(5))  # by padding
    assert f"{count:,} choices in all" in words(table)


@pytest.mark.parametrize("fmt", ["--json", "--csv", "-q"])
def test_choices_are_streamed_and_the_reader_may_stop(fmt):
    """10**6 cells: 119,047 choices (36 MB of JSON), the first at once, and the
    reader may stop reading (as ``| head`` does)."""
    command = [convcli_executable(), "shape", "--in", str(10**6), "--out", "7", "--k", "3"]
    with subprocess.Popen([*command, fmt], stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        head = proc.stdout.read(100_000).decode("utf-8", "replace")
        proc.stdout.close()
        code = proc.wait(timeout=30)
        error = proc.stderr.read().decode()
    assert "142857" in head and "142858" in head  # the strides of padding 0 and 1
    assert code == 141, error


@pytest.mark.parametrize("fmt", ["--json", "--csv", "-q"])
def test_too_many_choices_to_list_are_refused_up_front(fmt):
    """10**18 cells have about 2*10**16 choices (an exabyte of JSON): listing them
    one by one is refused before the first is written (issue 21 item 3: it
    streamed 1.1 GB in 30 s, and a kill left invalid JSON); the table still
    shows them as runs of strides."""
    command = [convcli_executable(), "shape", "--in", str(10**18), "--out", "7", "--k", "3"]
    done = subprocess.run(
        [*command, "--p", "same", fmt], capture_output=True, timeout=30, check=False
    )
    error = done.stderr.decode()
    assert done.returncode == 2, error
    assert done.stdout == b""
    assert error.strip().splitlines()[-1].startswith(f"Error: {fmt.replace('-q', '--quiet')}: ")
    assert "over the limit of 1,000,000 listed one by one" in error
    table = subprocess.run(command, capture_output=True, timeout=30, check=True).stdout
    assert b"choices in all" in table


def test_all_needs_out():
    result = run("--in", 224, "--k", 3, "--all")
    assert result.exit_code == 2
    assert "--all" in result.stderr and "--out" in result.stderr


def test_the_installed_command_prints_a_bounded_table_at_80_columns(tmp_path):
    for n in (1_000_000, 10**18):
        code, text = run_in_pty(
            ["shape", "--in", n, "--out", 7, "--k", 3], tmp_path, cols=80, timeout=30
        )
        text = strip_ansi(text)
        assert code == 0, text
        lines = text.rstrip("\n").splitlines()
        assert len(lines) <= 24, text
        assert max(len(line) for line in lines) <= 80, text
        assert "choices in all" in text
        assert "Traceback" not in text
