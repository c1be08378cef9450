"""The explorer page in a real headless Chromium, checked against `convcli conv --steps`.

Each page is written by the installed ``convcli animate ... -o NAME.html``
and opened from a file:// URL with networking cut off. The expected numbers
and windows come from another command, ``convcli conv --steps --format
json``, run on the same matrices: every frame's lit cells, weights, text and
output value on the page must be the ones it lists. Mouse events are real
(DevTools ``Input.dispatchMouseEvent``), as are clicks.
"""

from __future__ import annotations

import json
import subprocess

import numpy as np
import PIL.Image
import pytest
from chromium import Browser, console_errors, file_url
from terminal import convcli_executable

pytestmark = pytest.mark.slow

X5 = "3 1 4 1 5; 9 2 6 5 3; 5 8 9 7 9; 3 2 3 8 4; 6 2 6 4 3"
K3 = "1 0 -1; 2 1 0; 0 1 2"
X4C = np.arange(4 * 4 * 4).reshape(4, 4, 4) % 7  # 4 channels, 4×4
W_GROUPS = (np.arange(4 * 2 * 3 * 3).reshape(4, 2, 3, 3) % 5) - 2  # 4 filters of 2 channels

#: (name, animate's and conv's shared options, animate-only options, frames)
CASES = {
    "strided": (["-i", X5, "-k", K3, "--stride", "2", "--padding", "1"], [], 9),
    "transposed": (
        [
            "-i",
            "1 2 0; 3 -1 2; 0 1 4",
            "-k",
            K3,
            "--stride",
            "2",
            "--padding",
            "1",
            "--transposed",
            "--output-padding",
            "1",
        ],
        [],
        36,
    ),
    "groups": (
        ["-i", json.dumps(X4C.tolist()), "-k", json.dumps(W_GROUPS.tolist()), "--groups", "2"],
        [],
        16,
    ),
    "rectangular": (
        [
            *("-i", "1 2 3 4 5 6; 6 5 4 3 2 1; 0 1 0 1 0 1; 2 2 2 3 3 3", "-k", "1 -1 2; 0 3 1"),
            *("--stride", "1x2", "--dilation", "2x1", "--padding", "1"),
        ],
        [],
        12,  # (4 + 2 - 3)/1 + 1 = 4 rows, (6 + 2 - 3)//2 + 1 = 3 columns
    ),
    "avgpool": (
        ["-i", X5, "--pool", "avg", "--size", "3", "--stride", "2", "--padding", "1"],
        [],
        9,
    ),
}


def _animate_args(shared: list[str]) -> list[str]:
    """conv's options as animate spells them (--input/--kernel; --size is --k for pooling)."""
    out = []
    for a in shared:
        out.append({"-i": "--input", "-k": "--kernel", "--size": "--k"}.get(a, a))
    return out


def _cli(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [convcli_executable(), *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    b = Browser(tmp_path_factory.mktemp("profile"))
    yield b
    b.close()


STATE = """(() => {
  const pos = (e) => [Number(e.dataset.plane), Number(e.dataset.r), Number(e.dataset.c)];
  const lit = [...document.querySelectorAll('.in.on')].map((e) => {
    const w = e.querySelector('.w');
    return [...pos(e), w ? w.textContent : null];
  });
  const now = document.querySelector('.out.now');
  return {
    text: document.getElementById('text').textContent,
    lit,
    now: now ? [...pos(now), now.textContent] : null,
    done: document.querySelectorAll('.out.done').length,
    src: [...document.querySelectorAll('.in.src')].map(pos),
    fed: [...document.querySelectorAll('.out.fed')].map(pos).sort(),
    pinned: document.getElementById('pin').textContent,
    outputs: [...document.querySelectorAll('.out')].map((e) => [...pos(e), e.textContent]),
  };
})()"""


def _open_case(browser, tmp_path, name):
    shared, extra, frames = CASES[name]
    page_file = tmp_path / "sub" / f"{name}.html"
    page_file.parent.mkdir()
    made = _cli("animate", *_animate_args(shared), *extra, "-o", f"sub/{name}.html", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    expected = _cli("conv", *shared, "--steps", "--format", "json", cwd=tmp_path)
    assert expected.returncode == 0, expected.stderr
    doc = json.loads(expected.stdout)
    assert len(doc["steps"]) == frames
    page = browser.page
    page.events.clear()
    page.open(file_url(page_file))
    return page, doc


def _close_to(shown: str, value: float) -> bool:
    return abs(float(shown) - value) <= 5e-3 * max(1.0, abs(value))


@pytest.mark.parametrize("name", list(CASES))
def test_every_frame_matches_conv_steps(browser, tmp_path, name):
    """Each frame lights the window `conv --steps` lists, with its weights, text and value."""
    page, doc = _open_case(browser, tmp_path, name)
    steps = doc["steps"]
    for i, step in enumerate(steps):
        page.evaluate(f"(() => {{ const s = document.getElementById('scrubber'); s.value = {i}; "
                      "s.dispatchEvent(new Event('input')); })()")  # fmt: skip
        state = page.evaluate(STATE)
        assert state["text"] == step["text"], i
        lit = sorted(tuple(c[:3]) for c in state["lit"])
        assert lit == sorted({tuple(c) for c in step["cells"] + step["padding"]}), i
        if step["weights"]:  # each input cell carries the weight it is multiplied by
            shown = {tuple(c[:3]): c[3] for c in state["lit"]}
            for cell, weight in zip(step["cells"], step["weights"], strict=True):
                assert float(shown[tuple(cell)][1:]) == weight, (i, cell)
        assert state["now"][:3] == step["index"]
        assert _close_to(state["now"][3], step["value"])
        assert state["done"] == i + 1  # the outputs before it, and it
    page.evaluate("document.getElementById('last').click()")
    state = page.evaluate(STATE)
    result = np.array(doc["result"], dtype=float).reshape(-1)
    assert state["text"] == "" and state["done"] == len(steps)
    shown = sorted(state["outputs"])
    assert all(_close_to(s[3], v) for s, v in zip(shown, result, strict=True))
    assert page.requests() == [] or all(u.startswith("file:") for u in page.requests())
    assert console_errors(page) == []


def _centre(page, selector):
    box = page.evaluate(
        f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
        ".getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()"
    )
    return box


def test_hover_and_pin(browser, tmp_path):
    """Hovering an output shows its step; hovering an input lights all it feeds; clicks pin."""
    page, doc = _open_case(browser, tmp_path, "strided")
    steps = doc["steps"]
    x, y = _centre(page, '.out[data-plane="0"][data-r="1"][data-c="2"]')
    page.mouse("moved", x, y)
    state = page.evaluate(STATE)
    target = next(s for s in steps if s["index"] == [0, 1, 2])
    assert state["text"] == target["text"]
    assert sorted(tuple(c[:3]) for c in state["lit"]) == sorted(map(tuple, target["cells"]))
    # an input cell: every output whose window holds it
    cell = [0, 2, 2]  # padded coordinates: input cell (1, 1)
    ix, iy = _centre(page, '.in[data-plane="0"][data-r="2"][data-c="2"]')
    page.mouse("moved", ix, iy)
    state = page.evaluate(STATE)
    feeds = sorted(s["index"] for s in steps if cell in s["cells"])
    assert len(feeds) == 4 and state["fed"] == feeds
    assert state["src"] == [cell]
    assert state["text"].startswith("X[1,1] = 2 feeds Y[0,0] += 2×")
    # click an output: pinned, and it stays when the mouse leaves
    page.mouse("moved", x, y)
    page.mouse("pressed", x, y)
    page.mouse("released", x, y)
    page.mouse("moved", 5, 5)
    state = page.evaluate(STATE)
    assert state["pinned"] and state["text"] == target["text"]
    page.mouse("moved", x, y)
    page.mouse("pressed", x, y)
    page.mouse("released", x, y)
    page.mouse("moved", 5, 5)
    state = page.evaluate(STATE)
    assert not state["pinned"] and state["text"] == steps[0]["text"]


def test_scatter_view_of_transposed(browser, tmp_path):
    """Scatter view: one input cell a frame, lighting every output it is added into."""
    page, doc = _open_case(browser, tmp_path, "transposed")
    steps = doc["steps"]
    page.evaluate(
        "(() => { const v = document.getElementById('view'); v.value = 'scatter'; "
        "v.dispatchEvent(new Event('change')); })()"
    )
    frames = page.evaluate("Number(document.getElementById('scrubber').max)")
    assert frames == 9  # the 3×3 input cells
    seen = []
    for i in range(frames):
        page.evaluate(f"(() => {{ const s = document.getElementById('scrubber'); s.value = {i}; "
                      "s.dispatchEvent(new Event('input')); })()")  # fmt: skip
        state = page.evaluate(STATE)
        (src,) = state["src"]
        feeds = sorted(s["index"] for s in steps if src in s["cells"])
        assert state["fed"] == feeds and feeds
        seen.append(src)
    # the spread input: cell (i, j) sits at (1 + 2i, 1 + 2j) (full padding 3 - 1 - 1 = 1)
    assert seen == [[0, 1 + 2 * i, 1 + 2 * j] for i in range(3) for j in range(3)]


def test_play_and_csp(browser, tmp_path):
    """Play advances the frames by itself; the page cannot fetch anything."""
    page, _ = _open_case(browser, tmp_path, "strided")
    page.evaluate(
        "(() => { document.getElementById('speed').value = '250'; "
        "document.getElementById('play').click(); })()"
    )
    page.evaluate("new Promise((ok) => setTimeout(ok, 900))")
    assert page.evaluate("Number(document.getElementById('scrubber').value)") >= 2
    page.evaluate("document.getElementById('play').click()")  # pause
    blocked = page.evaluate(
        """new Promise((ok) => {
          document.addEventListener('securitypolicyviolation', (e) => ok(e.effectiveDirective));
          fetch('http://127.0.0.1:9/x').catch(() => {});
        })"""
    )
    assert blocked == "connect-src"


def test_screenshot_shows_the_lit_window(browser, tmp_path):
    """A screenshot of a grouped layer: lit input cells and the current output's colour."""
    page, _ = _open_case(browser, tmp_path, "groups")
    page.evaluate("document.getElementById('next').click()")
    shot = page.screenshot(tmp_path / "explorer.png")
    img = np.asarray(PIL.Image.open(shot).convert("RGB")).reshape(-1, 3)
    colours = {tuple(c) for c in img[::7]}
    assert (36, 84, 160) in colours  # a lit input cell (#2454a0)
    assert (18, 150, 165) in colours  # the current output cell (#1296a5)
    assert (224, 182, 64) in colours  # a lit kernel weight (#e0b640)
