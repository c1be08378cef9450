"""`convcli animate`: frames follow the output-size formula, numbers are right, files are stable.

The oracles are written out here: the output-size formulas as the textbook
states them, and explicit loops for correlation, transposed convolution (a
scatter of each input cell times the kernel) and pooling. Nothing expected
is computed by convcli.
"""

from __future__ import annotations

import itertools
import subprocess

import numpy as np
import PIL.Image
import pytest
from helpers import run
from terminal import convcli_executable

from convcli.errors import ShapeError
from convcli.teaching import painter as anim_mod
from convcli.teaching.animate import animation_frames, render_frames

D2L_X = "0 1 2; 3 4 5; 6 7 8"
D2L_K = "0 1; 2 3"


# ------------------------------------------------------------------ oracles


def conv_out(n, k, s, p, d):
    """floor((n + 2p - d(k-1) - 1)/s) + 1, or None when the kernel does not fit."""
    room = n + 2 * p - d * (k - 1) - 1
    return None if room < 0 else room // s + 1


def correlate_loop(x, w, s, p, d):
    """Cross-correlation with zero padding, one output at a time."""
    h, wd = len(x), len(x[0])
    kh, kw = len(w), len(w[0])
    xp = [[0.0] * (wd + 2 * p) for _ in range(h + 2 * p)]
    for i in range(h):
        for j in range(wd):
            xp[i + p][j + p] = x[i][j]
    oh = (h + 2 * p - d * (kh - 1) - 1) // s + 1
    ow = (wd + 2 * p - d * (kw - 1) - 1) // s + 1
    out = [[0.0] * ow for _ in range(oh)]
    for r in range(oh):
        for c in range(ow):
            total = 0.0
            for a in range(kh):
                for b in range(kw):
                    total += xp[r * s + a * d][c * s + b * d] * w[a][b]
            out[r][c] = total
    return out


def transposed_loop(x, w, s, p, d, op):
    """Transposed convolution as a scatter: x[i, j] * w[a, b] lands on (i*s + a*d - p, ...)."""
    n_h, n_w = len(x), len(x[0])
    kh, kw = len(w), len(w[0])
    oh = (n_h - 1) * s - 2 * p + d * (kh - 1) + op + 1
    ow = (n_w - 1) * s - 2 * p + d * (kw - 1) + op + 1
    out = [[0.0] * ow for _ in range(oh)]
    for i, j, a, b in itertools.product(range(n_h), range(n_w), range(kh), range(kw)):
        r, c = i * s + a * d - p, j * s + b * d - p
        if 0 <= r < oh and 0 <= c < ow:
            out[r][c] += x[i][j] * w[a][b]
    return out


def pool_loop(x, k, s, p, mode):
    """Max over the window's real cells; average over the whole window (padding counts 0)."""
    h, wd = len(x), len(x[0])
    oh, ow = (h + 2 * p - k) // s + 1, (wd + 2 * p - k) // s + 1
    out = [[0.0] * ow for _ in range(oh)]
    for r in range(oh):
        for c in range(ow):
            cells = [
                x[r * s + a - p][c * s + b - p]
                for a in range(k)
                for b in range(k)
                if 0 <= r * s + a - p < h and 0 <= c * s + b - p < wd
            ]
            out[r][c] = max(cells) if mode == "max" else sum(cells) / (k * k)
    return out


# ------------------------------------------------------------------ frame counts


SWEEP = list(itertools.product(range(1, 8), range(1, 5), range(1, 4), range(0, 3), range(1, 3)))


@pytest.mark.parametrize("n, k, s, p, d", SWEEP)
def test_frames_follow_the_convolution_formula(n, k, s, p, d):
    """One frame per output cell, row-major, taps at r*s + a*d on the padded grid."""
    out = conv_out(n, k, s, p, d)
    if out is None:
        with pytest.raises(ShapeError):
            animation_frames(n, k, s, p, d)
        return
    anim = animation_frames(n, k, s, p, d)
    assert anim.output_shape == (out, out)
    assert [f.output for f in anim.frames] == [(r, c) for r in range(out) for c in range(out)]
    assert len(anim.grid) == n + 2 * p and all(len(row) == n + 2 * p for row in anim.grid)
    assert sum(row.count("x") for row in anim.grid) == n * n
    for f in anim.frames:
        r, c = f.output
        expected = [(r * s + a * d, c * s + b * d) for a in range(k) for b in range(k)]
        assert list(f.footprint) == expected


@pytest.mark.parametrize(
    "size, kernel, stride, pad, dil",
    [
        ((5, 7), (3, 2), (2, 1), ((1, 1), (0, 2)), (1, 2)),
        ((4, 9), (1, 3), (1, 3), ((0, 0), (2, 1)), (2, 1)),
    ],
)
def test_frames_per_axis_with_hxw(size, kernel, stride, pad, dil):
    """Each axis follows its own numbers (before/after padding summed)."""
    anim = animation_frames(size, kernel, stride, pad, dil)
    oh = (size[0] + sum(pad[0]) - dil[0] * (kernel[0] - 1) - 1) // stride[0] + 1
    ow = (size[1] + sum(pad[1]) - dil[1] * (kernel[1] - 1) - 1) // stride[1] + 1
    assert anim.output_shape == (oh, ow)
    assert len(anim.frames) == oh * ow
    assert "H: " in anim.formula and "W: " in anim.formula


T_SWEEP = [
    (n, k, s, p, d, op)
    for n, k, s, p, d, op in itertools.product(
        range(1, 5), range(1, 4), range(1, 4), range(0, 3), range(1, 3), range(0, 2)
    )
    if p <= d * (k - 1) and op < max(s, d)
]


@pytest.mark.parametrize("n, k, s, p, d, op", T_SWEEP)
def test_transposed_frames_and_values(n, k, s, p, d, op):
    """(n − 1)s − 2p + d(k − 1) + op + 1 frames; values equal a scatter loop."""
    out = (n - 1) * s - 2 * p + d * (k - 1) + op + 1
    if out < 1:
        with pytest.raises(ShapeError):
            animation_frames(n, k, s, p, d, transposed=True, output_padding=op)
        return
    rng = np.random.default_rng(n * 1000 + k * 100 + s * 10 + p)
    x = rng.integers(-3, 4, size=(n, n)).tolist()
    w = rng.integers(-2, 3, size=(k, k)).tolist()
    anim = animation_frames(
        stride=s, padding=p, dilation=d, transposed=True, output_padding=op, input=x, kernel=w
    )
    assert anim.output_shape == (out, out)
    assert len(anim.frames) == out * out
    # the drawn grid: the input spread by s, the full padding d(k-1) - p around (op after)
    side = (n - 1) * s + 1 + 2 * (d * (k - 1) - p) + op
    assert len(anim.grid) == side and sum(row.count("x") for row in anim.grid) == n * n
    # every footprint is a stride-1 sweep
    for f in anim.frames:
        r, c = f.output
        assert f.footprint[0] == (r, c)
    assert anim.output_values() == transposed_loop(x, w, s, p, d, op)


@pytest.mark.parametrize(
    "n, k, s, p, mode",
    [
        (n, k, s, p, mode)
        for n, k, s, p, mode in itertools.product(
            range(1, 7), range(1, 4), range(1, 4), range(0, 2), ("max", "avg")
        )
        if 2 * p <= k and n + 2 * p >= k and ((n + 2 * p - k) // s) * s - p <= n - 1
    ],
)
def test_pooling_frames_and_values(n, k, s, p, mode):
    """⌊(n + 2p − k)/s⌋ + 1 frames; max and avg equal an explicit loop."""
    out = (n + 2 * p - k) // s + 1
    x = np.random.default_rng(n + 10 * k).integers(0, 9, size=(n, n)).tolist()
    anim = animation_frames(None, k, s, p, pool=mode, input=x)
    assert anim.output_shape == (out, out) and len(anim.frames) == out * out
    assert np.allclose(anim.output_values(), pool_loop(x, k, s, p, mode), rtol=0, atol=1e-12)


def test_pooling_stride_defaults_to_the_window():
    anim = animation_frames(6, 2, pool="max")
    assert anim.stride == (2, 2) and len(anim.frames) == 9


# ------------------------------------------------------------------ numbers


def test_d2l_numbers_in_the_frames():
    """The d2l example animates with its own numbers: 19, 25, 37, 43."""
    anim = animation_frames(input=[[0, 1, 2], [3, 4, 5], [6, 7, 8]], kernel=[[0, 1], [2, 3]])
    assert [f.value for f in anim.frames] == [19, 25, 37, 43]
    assert anim.frames[0].terms == ((0, 0), (1, 1), (3, 2), (4, 3))
    assert anim.frames[0].text == "Y[0,0] = 0·0 + 1·1 + 3·2 + 4·3 = 19"
    assert anim.frames[3].text.endswith("= 43")


@pytest.mark.parametrize("s, p, d", [(1, 0, 1), (2, 1, 1), (1, 2, 2), (3, 1, 1), (2, 0, 2)])
def test_random_numbers_equal_an_explicit_correlation(s, p, d):
    """--numbers without matrices: seeded small integers, and the right sums."""
    anim = animation_frames(6, 3, s, p, d, numbers=True, seed=7)
    grid = anim.grid_values
    top = p
    x = [[grid[top + i][top + j] for j in range(6)] for i in range(6)]
    assert all(v == int(v) and 0 <= v <= 3 for row in x for v in row)
    assert anim.output_values() == correlate_loop(x, anim.kernel, s, p, d)
    again = animation_frames(6, 3, s, p, d, numbers=True, seed=7)
    assert again == anim


def test_pool_value_shown_in_the_frame_text():
    anim = animation_frames(input=[[1, 5], [3, 2]], kernel_size=2, pool="max")
    assert anim.frames[0].text == "Y[0,0] = max(1, 5, 3, 2) = 5"
    anim = animation_frames(input=[[1, 5], [3, 2]], kernel_size=2, pool="avg")
    assert anim.frames[0].text == "Y[0,0] = (1 + 5 + 3 + 2)/4 = 2.75"


def test_caption_is_the_size_formula():
    anim = animation_frames(5, 3, stride=2, padding=1)
    assert anim.formula == "⌊(5 − 3 + 2 + 2)/2⌋ = ⌊3⌋ = 3"
    assert "5×5" in anim.title and "→ 3×3" in anim.title


# ------------------------------------------------------------------ pictures


def test_pictures_light_one_output_cell_per_frame():
    """Every frame lights the current output cell; the hold frame lights none."""
    anim = animation_frames(5, 3, stride=2, padding=1)
    images = render_frames(anim, cell=20)
    assert len(images) == len(anim.frames) + 1
    assert len({im.size for im in images}) == 1

    def count(im, color):
        return int(np.all(np.asarray(im) == color, axis=-1).sum())

    lit = [count(im, anim_mod._OUTPUT_NOW) for im in images]
    assert len(set(lit[:-1])) == 1 and lit[0] > 0 and lit[-1] == 0
    # frame (1,1) covers nine real cells, frame (0,0) four: more shading
    shaded = [count(im, anim_mod._FOOTPRINT) for im in images]
    assert shaded[4] > shaded[0] > 0 and shaded[-1] == 0


# ------------------------------------------------------------------ the command


def _run_installed(*args, cwd):
    return subprocess.run(
        [convcli_executable(), "animate", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("suffix", [".gif", ".png", ".webp"])
def test_installed_command_writes_identical_bytes_twice(tmp_path, suffix):
    """Two runs of the installed command write the same bytes, with one frame per cell + hold."""
    for name in ("a", "b"):
        result = _run_installed(
            "--in", 5, "--k", 3, "--s", 2, "--p", 1, "--numbers", "-o", name + suffix, cwd=tmp_path
        )
        assert result.returncode == 0, result.stderr
    assert (tmp_path / f"a{suffix}").read_bytes() == (tmp_path / f"b{suffix}").read_bytes()
    with PIL.Image.open(tmp_path / f"a{suffix}") as im:
        assert im.n_frames == 9 + 1
        assert im.format == {".gif": "GIF", ".png": "PNG", ".webp": "WEBP"}[suffix]


def test_sheet_is_one_png_and_stable(tmp_path):
    for name in ("a.png", "b.png"):
        result = run("animate", "--in", 4, "--k", 3, "--sheet", "-o", tmp_path / name)
        assert result.exit_code == 0, result.output
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    with PIL.Image.open(tmp_path / "a.png") as im:
        assert getattr(im, "n_frames", 1) == 1


def test_d2l_command(tmp_path):
    result = run("animate", "--input", D2L_X, "--kernel", D2L_K, "-o", tmp_path / "d2l.gif")
    assert result.exit_code == 0, result.output
    with PIL.Image.open(tmp_path / "d2l.gif") as im:
        assert im.n_frames == 5


def test_impossible_geometry_is_a_usage_error(tmp_path):
    """A kernel larger than the padded input: exit 2, one line, nothing written."""
    result = _run_installed("--in", 3, "--k", 5, "-o", "x.gif", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "larger than the padded input" in errors[0]
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "args",
    [
        ["--in", 5, "--k", 3, "-o", "x.jpg"],
        ["--in", 5, "--k", 3, "--sheet", "-o", "x.gif"],
        ["--in", 4, "--k", 3, "--input", D2L_X, "-o", "x.gif"],
        ["--in", 5, "--k", 3, "--pool", "max", "--kernel", D2L_K, "-o", "x.gif"],
        ["--in", 5, "--k", 3, "--pool", "max", "--transposed", "-o", "x.gif"],
        ["--in", 2, "--k", 3, "--p", 3, "--transposed", "-o", "x.gif"],
        ["--in", 5, "-o", "x.gif"],
        ["--in", 40, "--k", 1, "-o", "x.gif"],
    ],
)
def test_usage_errors_exit_2(tmp_path, args, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("animate", *args)
    assert result.exit_code == 2, result.output
    assert not list(tmp_path.iterdir())


def test_existing_output_needs_overwrite(tmp_path):
    target = tmp_path / "conv.gif"
    target.write_bytes(b"keep")
    result = run("animate", "--in", 4, "--k", 3, "-o", target)
    assert result.exit_code == 1 and "--overwrite" in result.output
    assert target.read_bytes() == b"keep"
    result = run("animate", "--in", 4, "--k", 3, "-o", target, "--overwrite")
    assert result.exit_code == 0 and target.read_bytes()[:6] == b"GIF89a"


def test_short_k_is_not_the_kernel_values(tmp_path):
    """In `shape`, -k is a kernel size; `animate --in 5 -k 3` must not silently animate a
    1x1 kernel of value 3: -k and -i are refused (usage error)."""
    from click.testing import CliRunner

    from convcli.cli import cli

    result = CliRunner().invoke(
        cli, ["animate", "--in", "5", "-k", "3", "-o", str(tmp_path / "a.gif")]
    )
    assert result.exit_code == 2
    assert "No such option '-k'" in result.output
    assert not (tmp_path / "a.gif").exists()
