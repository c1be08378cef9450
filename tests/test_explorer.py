"""The explorer's numbers, `conv --groups/--transposed`, and the page's offline promise.

Oracles: PyTorch (conv2d, conv_transpose2d, max/avg pooling with groups and
padding; test-only) and explicit loops. The browser tests that the page shows
these numbers are in test_explorer_browser.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shlex
import subprocess

import numpy as np
import PIL.Image
import pytest
from click.testing import CliRunner
from terminal import convcli_executable

from convcli.cli import cli
from convcli.teaching.explorer import explore

torch = pytest.importorskip("torch")
F = torch.nn.functional


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _t(a):
    return torch.tensor(np.asarray(a, dtype=np.float64))


# (c_in, c_out, groups, n, k, stride, padding, dilation)
CONV_CASES = [
    (1, 1, 1, 5, 3, 2, 1, 1),
    (1, 1, 1, (5, 7), (3, 2), (2, 1), 1, 1),
    (4, 4, 2, 4, 3, 1, 0, 1),
    (3, 6, 3, 5, 3, 2, 1, 1),  # depthwise, multiplier 2
    (2, 4, 1, 6, 2, 1, 1, 2),
]


@pytest.mark.parametrize(("c_in", "c_out", "groups", "n", "k", "s", "p", "d"), CONV_CASES)
def test_explorer_matches_torch_conv(c_in, c_out, groups, n, k, s, p, d):
    e = explore(n, k, s, p, d, channels=c_in, filters=c_out, groups=groups, seed=3)
    want = F.conv2d(_t(e.x)[None], _t(e.weight), stride=s, padding=p, dilation=d, groups=groups)
    np.testing.assert_allclose(e.output, want[0].numpy(), atol=1e-12)
    assert len(e.steps) == e.output.size


# (c_in, c_out, groups, n, k, stride, padding, output_padding, dilation)
TRANSPOSED_CASES = [
    (1, 1, 1, 2, 3, 2, 0, 0, 1),
    (1, 1, 1, 3, 3, 2, 1, 1, 1),
    (4, 4, 2, 3, 3, 2, 1, 0, 1),
    (2, 3, 1, (2, 3), (3, 2), (2, 1), 0, 0, (1, 2)),
]


@pytest.mark.parametrize(("c_in", "c_out", "g", "n", "k", "s", "p", "op", "d"), TRANSPOSED_CASES)
def test_explorer_matches_torch_transposed(c_in, c_out, g, n, k, s, p, op, d):
    e = explore(
        n, k, s, p, d, transposed=True, output_padding=op, channels=c_in, filters=c_out, groups=g
    )
    assert e.weight.shape[:2] == (c_in, c_out // g)
    want = F.conv_transpose2d(
        _t(e.x)[None], _t(e.weight), stride=s, padding=p, output_padding=op, groups=g, dilation=d
    )
    np.testing.assert_allclose(e.output, want[0].numpy(), atol=1e-12)


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_explorer_matches_torch_pooling(mode):
    e = explore(5, 3, 2, 1, pool=mode, channels=2, seed=5)
    fn = F.max_pool2d if mode == "max" else F.avg_pool2d
    want = fn(_t(e.x)[None], 3, stride=2, padding=1)
    np.testing.assert_allclose(e.output, want[0].numpy(), atol=1e-12)


def test_conv_cli_groups_and_transposed_match_torch():
    """`conv --groups` and `conv --transposed` (with --steps as JSON) give torch's numbers."""
    rng = np.random.default_rng(0)
    x = rng.integers(-3, 4, (4, 5, 5)).astype(float)
    w = rng.integers(-2, 3, (4, 2, 3, 3)).astype(float)
    grouped = run("conv", "-i", json.dumps(x.tolist()), "-k", json.dumps(w.tolist()),
                  "--groups", "2", "--stride", "2", "--padding", "1", "--format", "json")  # fmt: skip
    assert grouped.exit_code == 0, grouped.output
    want = F.conv2d(_t(x)[None], _t(w), stride=2, padding=1, groups=2)[0].numpy()
    np.testing.assert_allclose(json.loads(grouped.stdout), want)
    up = run("conv", "-i", json.dumps(x.tolist()), "-k", json.dumps(w.tolist()), "--groups", "2",
             "--transposed", "--stride", "2", "--padding", "1", "--output-padding", "1",
             "--steps", "--format", "json")  # fmt: skip
    assert up.exit_code == 0, up.output
    doc = json.loads(up.stdout)
    want = F.conv_transpose2d(_t(x)[None], _t(w), stride=2, padding=1, output_padding=1, groups=2)
    np.testing.assert_allclose(doc["result"], want[0].numpy())
    assert len(doc["steps"]) == want.numel()
    for step in doc["steps"]:  # each step's sum of products is its value, and torch's
        total = sum(a * b for a, b in zip(step["inputs"], step["weights"], strict=True))
        assert total == pytest.approx(step["value"])
        assert step["value"] == pytest.approx(float(want[0][tuple(step["index"])]))
        assert len(step["cells"]) == 2 * 9  # one group's 2 channels × 3×3 taps


def test_conv_steps_text_for_groups_reads_only_the_group():
    x = "[[[1,2],[3,4]],[[5,6],[7,8]]]"
    result = run("conv", "-i", x, "-k", "[[[[1]]],[[[10]]]]", "--groups", "2", "--steps")
    assert result.exit_code == 0, result.output
    assert "Y[0,0,0] = 1×1 = 1" in result.stdout
    assert "Y[1,0,0] = 5×10 = 50" in result.stdout


def test_conv_cli_refuses_groups_that_do_not_divide():
    result = run("conv", "-i", "[[[1]],[[2]],[[3]]]", "-k", "[[[[1]]]]", "--groups", "2")
    assert result.exit_code == 2
    assert "groups 2 does not divide the input's 3 channels" in result.output


def test_code_panel_runs_and_agrees():
    """The page's PyTorch code prints its output; its `convcli conv` line computes it too."""
    e = explore(3, 3, 2, 1, transposed=True, output_padding=1, channels=2, filters=4, groups=2)
    code = e.data()["code"]
    scope: dict = {}
    exec(code["PyTorch"].replace("print(y[0])", ""), scope)
    np.testing.assert_allclose(scope["y"][0].numpy(), e.output)
    args = shlex.split(code["convcli"])
    assert args[:2] == ["convcli", "conv"]
    done = subprocess.run(
        [convcli_executable(), *args[1:], "--format", "json"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    np.testing.assert_allclose(json.loads(done.stdout)["result"], e.output)


def test_page_is_offline_and_deterministic(tmp_path):
    """A CSP allows only the inline script and style (by hash); reruns write the same bytes."""
    for name in ("a.html", "b.html"):
        result = run("animate", "--in", "5", "--k", "3", "--s", "2", "--p", "1", "-o",
                     tmp_path / name)  # fmt: skip
        assert result.exit_code == 0, result.output
    page = (tmp_path / "a.html").read_bytes()
    assert page == (tmp_path / "b.html").read_bytes()
    text = page.decode()
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', text).group(1)
    assert "default-src 'none'" in csp and "unsafe" not in csp
    script = re.search(r"<script>(.*?)</script>", text, flags=re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in csp
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text)


def test_page_refuses_to_overwrite(tmp_path):
    target = tmp_path / "e.html"
    target.write_text("mine")
    result = run("animate", "--in", "4", "--k", "3", "-o", target)
    assert result.exit_code == 1 and "exists" in result.output
    assert target.read_text() == "mine"


def test_kernel_size_as_kernel_is_refused():
    """`animate --kernel 3` once animated a 1×1 kernel holding 3: now a usage error."""
    result = run("animate", "--in", "5", "--kernel", "3", "-o", "never.gif")
    assert result.exit_code == 2
    assert "use --k 3" in result.output


def test_layer_pictures(tmp_path):
    """A grouped layer as a GIF: one frame per output cell of every filter, then the whole;
    reruns write the same bytes; a contact sheet is one PNG."""
    args = ["animate", "--in", "4", "--k", "3", "--channels", "4", "--groups", "2"]
    for name in ("a.gif", "b.gif"):
        result = run(*args, "-o", tmp_path / name)
        assert result.exit_code == 0, result.output
    assert (tmp_path / "a.gif").read_bytes() == (tmp_path / "b.gif").read_bytes()
    with PIL.Image.open(tmp_path / "a.gif") as im:
        assert im.n_frames == 4 * 2 * 2 + 1
    result = run(*args, "--sheet", "-o", tmp_path / "s.png")
    assert result.exit_code == 0, result.output
    with PIL.Image.open(tmp_path / "s.png") as im:
        assert getattr(im, "n_frames", 1) == 1


def test_layer_pictures_refuse_a_sheet_that_is_not_png(tmp_path):
    result = run("animate", "--in", "4", "--k", "3", "--channels", "2", "--sheet", "-o",
                 tmp_path / "s.gif")  # fmt: skip
    assert result.exit_code == 2


def test_repr_html_is_a_sandboxed_iframe():
    e = explore(4, 3)
    html = e._repr_html_()
    assert html.startswith('<iframe sandbox="allow-scripts" srcdoc="&lt;!DOCTYPE html&gt;')
    assert "allow-same-origin" not in html


def _frame(tmp_path, *args):
    """The first frame of an animated PNG."""
    out = tmp_path / "f.png"
    result = run("animate", *args, "-o", out, "--overwrite")
    assert result.exit_code == 0, result.output
    with PIL.Image.open(out) as im:
        return np.asarray(im.convert("RGB"))


def _where(img, colour):
    ys, xs = np.nonzero(np.all(img == colour, axis=-1))
    return ys, xs


def test_layout_above_puts_the_output_on_top(tmp_path):
    """--layout above: the lit output cell is above the lit window; beside: right of it."""
    now, lit = (18, 150, 165), (36, 84, 160)  # the current output cell, the footprint
    args = ["--in", "4", "--k", "3", "--numbers"]
    img = _frame(tmp_path, *args, "--layout", "above")
    out_y, _ = _where(img, now)
    in_y, _ = _where(img, lit)
    assert out_y.max() < in_y.min()
    img = _frame(tmp_path, *args)
    _, out_x = _where(img, now)
    _, in_x = _where(img, lit)
    assert out_x.min() > in_x.max()


def test_numbers_stay_readable_at_16(tmp_path):
    """A 16×16 input with padding still shows its numbers: white digits in the lit window,
    in cells at least 26 pixels wide (they were hidden in 20-pixel cells)."""
    img = _frame(tmp_path, "--in", "16", "--k", "3", "--p", "1", "--numbers")
    first = img
    ys, xs = _where(first, (36, 84, 160))
    assert xs.max() - xs.min() + 1 >= 2 * 26  # the window's real cells: 2×2 in the corner
    window = first[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    assert np.all(window > 200, axis=-1).sum() > 20  # the digits (white on the lit cells)


def _svg(path):
    import xml.etree.ElementTree as ET

    return ET.parse(path).getroot()


def test_svg_frames_and_sheet(tmp_path):
    """-o NAME.svg: one group per frame (and the whole output last), toggled by SMIL; the
    last group's output cells hold the correlation's values (explicit loops); reruns
    write the same bytes; --sheet: the frames side by side."""
    x = np.array(
        [[3, 1, 4, 1, 5], [9, 2, 6, 5, 3], [5, 8, 9, 7, 9], [3, 2, 3, 8, 4], [6, 2, 6, 4, 3]]
    )
    k = np.array([[1, 0, -1], [2, 1, 0], [0, 1, 2]])
    args = ["--input", "; ".join(" ".join(map(str, r)) for r in x),
            "--kernel", "; ".join(" ".join(map(str, r)) for r in k), "--s", "2", "--p", "1"]  # fmt: skip
    for name in ("a.svg", "b.svg"):
        assert run("animate", *args, "-o", tmp_path / name).exit_code == 0
    assert (tmp_path / "a.svg").read_bytes() == (tmp_path / "b.svg").read_bytes()
    ns = "{http://www.w3.org/2000/svg}"
    root = _svg(tmp_path / "a.svg")
    groups = root.findall(f"{ns}g")
    assert len(groups) == 9 + 1
    assert all(g.find(f"{ns}set") is not None for g in groups)
    padded = np.pad(x, 1)
    want = [
        int((padded[2 * i : 2 * i + 3, 2 * j : 2 * j + 3] * k).sum())
        for i in range(3)
        for j in range(3)
    ]
    texts = [t.text for t in groups[-1].findall(f"{ns}text")]
    assert texts[-10:-1] == [str(v) for v in want]  # the output cells, then the (empty) line
    for i, g in enumerate(groups[:-1]):  # each frame lights its 3×3 window
        lit = [r for r in g.findall(f"{ns}rect") if r.get("fill") in ("#2454a0", "#c4d2e8")]
        assert len(lit) == 9, i
    result = run("animate", *args, "--sheet", "-o", tmp_path / "s.svg")
    assert result.exit_code == 0, result.output
    sheet = _svg(tmp_path / "s.svg")
    assert len(sheet.findall(f"{ns}g")) == 9 and sheet.find(f".//{ns}set") is None


def test_explorer_limits_are_usage_errors(tmp_path):
    """Too many frames across the output planes, or too many input cells: exit 2, named."""
    result = run("animate", "--in", "19", "--k", "3", "--filters", "4", "-o", tmp_path / "f.html")
    assert result.exit_code == 2
    assert "4 output plane(s) of 17×17 = 1156 output cells: an explorer has at most 1024" in (
        result.output
    )
    result = run("animate", "--in", "40", "--k", "40", "--channels", "3", "-o", tmp_path / "g.html")
    assert result.exit_code == 2 and "at most 4096 input cells" in result.output
    assert not list(tmp_path.iterdir())
