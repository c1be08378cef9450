"""Tables for a pipe are drawn without rich's console, character for character as rich draws them.

The oracle is rich itself: :func:`convcli.output.render_table` with its
plain drawer switched off draws every table with rich's ``Table`` and
``Console``; with it on, a colourless table must come out the same, and the
commands that print tables must not import ``rich.console`` for a pipe.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convcli import output
from convcli.output import tables as output_tables
from convcli.output.plain import draw_plain


def by_rich(monkeypatch, *args, **kwargs) -> str:
    with monkeypatch.context() as m:
        m.setattr(output_tables, "draw_plain", lambda *a, **k: None)
        return output.render_table(*args, **kwargs)


# letters, digits, spaces, the symbols convcli prints, wide and zero-width
# characters, and a few that rich must handle itself (tab, escape)
ALPHABET = st.sampled_from([*"ab XYZ019,.:;()[]=-+", *"×−⌊⌋—…·²→é日本", "\u0301"])
CELL = st.text(ALPHABET, max_size=30) | st.sampled_from(
    ["", "1,505,290", "64×55×55", "  conv 3", "a\tb", "\x1b[1m"]
)
MULTILINE = st.lists(CELL, min_size=1, max_size=3).map("\n".join)


@st.composite
def tables(draw):
    ncols = draw(st.integers(1, 6))
    headers = draw(
        st.lists(
            st.text(ALPHABET, min_size=1, max_size=12), min_size=ncols, max_size=ncols, unique=True
        )
    )
    rows = draw(st.lists(st.lists(CELL | MULTILINE, min_size=ncols, max_size=ncols), max_size=5))
    right = draw(st.lists(st.sampled_from(headers), max_size=ncols))
    no_wrap = draw(st.lists(st.sampled_from(headers), max_size=ncols))
    kwargs = {
        "title": draw(st.none() | st.text(ALPHABET, max_size=90)),
        "caption": draw(st.none() | st.text(ALPHABET, max_size=90)),
        "right": right,
        "no_wrap": no_wrap,
        "width": draw(st.integers(10, 120)),
        "show_header": draw(st.booleans()),
        "styles": draw(st.none() | st.just(["dim", None, "bold"])),
    }
    return headers, rows, kwargs


@settings(max_examples=400, deadline=None)
@given(tables())
def test_plain_drawing_is_what_rich_draws(table):
    headers, rows, kwargs = table
    with pytest.MonkeyPatch.context() as mp:
        expected = by_rich(mp, headers, rows, **kwargs)
    assert output.render_table(headers, rows, **kwargs) == expected


@pytest.mark.parametrize(
    ("headers", "rows", "kwargs"),
    [
        (
            ["axis", "n", "out"],
            [["H, W", "224", "55"]],
            {"title": "Convolution", "right": ["n", "out"]},
        ),
        (["a"], [], {}),
        (["a", "b"], [], {"show_header": False}),
        (
            ["layer", "config"],
            [["conv1", "conv 64 k11 s4 p2 " * 6]],
            {"width": 40, "caption": "AlexNet"},
        ),
        (["x"], [["日本語のテキスト"]], {"title": "日本"}),
        (
            ["k", "n"],
            [["box", "1"]],
            {"caption": "a caption much wider than this small table, wrapped"},
        ),
    ],
)
def test_examples_match_rich(monkeypatch, headers, rows, kwargs):
    assert output.render_table(headers, rows, **kwargs) == by_rich(
        monkeypatch, headers, rows, **kwargs
    )


def test_plain_drawer_declines_what_rich_must_do():
    assert draw_plain(["a"], [["tab\there"]], [8]) is None  # rich expands the tab
    assert draw_plain(["a"], [["toolong"]], [3]) is None  # rich would fold it
    assert draw_plain(["a"], [["x"]], [1], title="awordwiderthanthetable") is None
    assert draw_plain(["a"], [["x"]], [1]) is not None


def test_colour_still_goes_through_rich():
    text = output.render_table(["n"], [["1"]], title="T", color=True)
    assert "\x1b[" in text


@pytest.mark.parametrize("where", ["title", "caption", "header"])
def test_brackets_are_characters_not_rich_markup(monkeypatch, where):
    """Found by the property test above: rich read a caption "[a]" as a style tag and
    printed nothing. Titles, captions and headers are plain text, as cells are."""
    headers = ["[b]"] if where == "header" else ["b"]
    kwargs = {where: "[a]"} if where != "header" else {}
    rich = by_rich(monkeypatch, headers, [["1"]], width=20, **kwargs)
    assert "[a]" in rich or "[b]" in rich
    assert output.render_table(headers, [["1"]], width=20, **kwargs) == rich
