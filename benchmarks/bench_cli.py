"""Time the convcli command end to end against ImageMagick, libvips and an OpenCV script.

Run from the repository root::

    python benchmarks/bench_cli.py              # 24-megapixel photo, a few minutes
    python benchmarks/bench_cli.py --markdown   # the same, as Markdown for the README
    python benchmarks/bench_cli.py --quick      # a tiny image: checks that it runs

Each tool reads an RGB photograph, filters it with the 3×3 Sobel x-gradient
and writes the result, PNG to PNG and JPEG to JPEG, as a separate process:

- ``convcli filter IN -k sobel-x --range clip -o OUT`` (the installed command),
- ImageMagick: ``convert IN -morphology Convolve Sobel OUT`` (``magick`` for
  ImageMagick 7),
- libvips: ``vips conv IN OUT sobel-x.mat``,
- a Python script: ``cv2.imread``, ``cv2.filter2D``, ``cv2.imwrite``.

All four compute the same thing: cross-correlation with
``[[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]`` (ImageMagick's ``Sobel`` kernel is
that one rotated by 180°, and its ``Convolve`` rotates it back), negative
results clipped to 0. Only the one-pixel border differs (ImageMagick and
libvips replicate the edge, convcli and OpenCV reflect); each PNG output is
checked against a scipy.ndimage oracle away from the border. Each tool
writes with its own default PNG compression and JPEG quality.

The test image is a sample photo (``sample_images/rocket.jpg``) upscaled
with Pillow's LANCZOS filter to 6000×4000 plus a little Gaussian noise, so
that PNG compression works as hard as on a real photograph; it is made once
and cached in ``--workdir``. Times are medians of the wall time of ``--repeat``
runs; peak RSS is the process's maximum resident set size (GNU ``time``). Also
timed: ``convcli shape`` with its table and with ``--json``, against
``python -c pass``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchreport import render

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "sample_images" / "rocket.jpg"
SOBEL_X = ((-1, 0, 1), (-2, 0, 2), (-1, 0, 1))

CV2_SCRIPT = """\
import sys

import cv2
import numpy as np

kernel = np.array({kernel!r}, dtype=np.float32)
image = cv2.imread(sys.argv[1], cv2.IMREAD_COLOR)
if image is None:
    sys.exit(f"cannot read {{sys.argv[1]}}")
result = cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REFLECT_101)
if not cv2.imwrite(sys.argv[2], result):
    sys.exit(f"cannot write {{sys.argv[2]}}")
"""


# --------------------------------------------------------------------------- running


@dataclass
class Run:
    """Median wall time and peak RSS of one command over several runs."""

    seconds: float | None = None
    runs: int = 0
    rss_mib: float | None = None
    note: str = ""
    check: str = ""


GNU_TIME = Path("/usr/bin/time")


def run_once(cmd: list[str], workdir: Path) -> tuple[float, float | None, int]:
    """Run ``cmd`` once: wall seconds, peak RSS in MiB (None if unknown), exit code.

    The peak RSS comes from GNU time (``/usr/bin/time -f %M``) when it is
    there: a child's ``ru_maxrss`` starts at its parent's resident size on
    Linux, so it must be a small process such as ``time`` that starts it,
    not this script with numpy loaded. The one extra fork and exec is in the
    wall time (about a millisecond).
    """
    rss_file = workdir / "rss.txt"
    wrapped = cmd
    if GNU_TIME.exists():
        rss_file.unlink(missing_ok=True)
        wrapped = [str(GNU_TIME), "-f", "%M", "-o", str(rss_file), *cmd]
    with open(workdir / "stderr.txt", "wb") as err:
        start = time.perf_counter()
        code = subprocess.run(
            wrapped, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, check=False
        ).returncode
        seconds = time.perf_counter() - start
    rss = None
    if wrapped is not cmd and rss_file.exists():
        last = rss_file.read_text().strip().splitlines()
        if last and last[-1].isdigit():
            rss = int(last[-1]) / 1024  # KiB
    return seconds, rss, code


def time_command(
    cmd: list[str], repeat: int, workdir: Path, output: Path | None = None, warmup: bool = False
) -> Run:
    """Median of ``repeat`` runs of ``cmd``; ``output`` is removed before each run."""
    times, peaks = [], []
    for i in range(repeat + int(warmup)):
        if output is not None:
            output.unlink(missing_ok=True)
        seconds, rss, code = run_once(cmd, workdir)
        if code != 0:
            text = (workdir / "stderr.txt").read_text(errors="replace")
            lines = text.strip().splitlines()
            why = lines[-1] if lines else ""
            return Run(note=f"FAILED (exit {code}): {why[:120]}")
        if warmup and i == 0:
            continue
        times.append(seconds)
        peaks.append(rss)
    known = [p for p in peaks if p is not None]
    return Run(statistics.median(times), len(times), max(known) if known else None)


# --------------------------------------------------------------------------- inputs


def make_photo(workdir: Path, width: int, height: int) -> tuple[Path, Path]:
    """The test photograph as PNG and JPEG (quality 90), made once per size."""
    import numpy as np
    from PIL import Image

    png = workdir / f"photo-{width}x{height}.png"
    jpeg = workdir / f"photo-{width}x{height}.jpg"
    if png.exists() and jpeg.exists():
        return png, jpeg
    with Image.open(SOURCE) as src:
        big = src.convert("RGB").resize((width, height), Image.Resampling.LANCZOS)
    rng = np.random.default_rng(0)
    pixels = np.asarray(big, dtype=np.float32)
    pixels += rng.normal(0.0, 3.0, size=pixels.shape).astype(np.float32)
    photo = Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8))
    for path, kwargs in ((png, {}), (jpeg, {"quality": 90})):
        tmp = path.with_suffix(".part" + path.suffix)
        photo.save(tmp, **kwargs)
        tmp.replace(path)
    return png, jpeg


def sobel_oracle(png: Path):
    """What every tool should write for the PNG case (border excluded): scipy.ndimage."""
    import numpy as np
    from PIL import Image
    from scipy import ndimage as ndi

    with Image.open(png) as im:
        pixels = np.asarray(im.convert("RGB"), dtype=np.int32)
    k = np.array(SOBEL_X, dtype=np.int32)
    planes = [ndi.correlate(pixels[..., c], k, mode="mirror") for c in range(3)]
    return np.clip(np.stack(planes, axis=-1), 0, 255).astype(np.uint8)


def compare(output: Path, oracle) -> str:
    """``ok`` when ``output`` equals the oracle away from its one-pixel border."""
    import numpy as np
    from PIL import Image

    try:
        with Image.open(output) as im:
            got = np.asarray(im.convert("RGB"))
    except (OSError, ValueError) as exc:
        return f"unreadable: {exc}"
    if got.shape != oracle.shape:
        return f"WRONG size {got.shape[1]}×{got.shape[0]}"
    inner = (slice(1, -1), slice(1, -1))
    differ = np.count_nonzero(got[inner] != oracle[inner])
    if differ == 0:
        return "ok"
    return f"DIFFERS in {differ / got[inner].size:.2%} of samples"


# --------------------------------------------------------------------------- tools


@dataclass
class Tool:
    name: str
    cmd: list[str] | None  # with {in} and {out} placeholders; None if absent
    note: str = ""
    png_only: bool = False  # a PNG option: not run on the JPEG case
    results: dict[str, Run] = field(default_factory=dict)


def find_convcli() -> str | None:
    """The installed ``convcli`` of this Python (not a version manager's shim)."""
    here = Path(sys.executable).parent / "convcli"
    if here.exists():
        return str(here)
    return shutil.which("convcli")


def find_imagemagick() -> str | None:
    """``magick`` or ``convert``, if it is really ImageMagick (some machines have stand-ins)."""
    for name in ("magick", "convert"):
        exe = shutil.which(name)
        if exe is None:
            continue
        out = subprocess.run([exe, "-version"], capture_output=True, text=True, check=False)
        if out.returncode == 0 and "ImageMagick" in (out.stdout.splitlines() or [""])[0]:
            return exe
    return None


def tools(workdir: Path) -> list[Tool]:
    mask = workdir / "sobel-x.mat"
    rows = "\n".join(" ".join(str(v) for v in r) for r in SOBEL_X)
    mask.write_text(f"3 3 1 0\n{rows}\n")  # libvips matrix: width height scale offset
    script = workdir / "cv2_sobel.py"
    script.write_text(CV2_SCRIPT.format(kernel=[list(r) for r in SOBEL_X]))

    found = []
    convcli = find_convcli()
    base = [convcli, "filter", "{in}", "-k", "sobel-x", "--range", "clip", "-o", "{out}", "-q"]
    note = "" if convcli else "convcli command not found (pip install .)"
    found.append(Tool("convcli", base if convcli else None, note))
    found.append(
        Tool(
            "convcli --png-compression 1",
            [*base, "--png-compression", "1"] if convcli else None,
            note,
            png_only=True,
        )
    )
    convert = find_imagemagick()
    found.append(
        Tool(
            "ImageMagick",
            [convert, "{in}", "-morphology", "Convolve", "Sobel", "{out}"] if convert else None,
            "" if convert else "not found (apt-get install imagemagick)",
        )
    )
    vips = shutil.which("vips")
    found.append(
        Tool(
            "vips conv",
            [vips, "conv", "{in}", "{out}", str(mask)] if vips else None,
            "" if vips else "not found (apt-get install libvips-tools)",
        )
    )
    try:
        import cv2  # noqa: F401
    except ImportError:
        has_cv2 = False
    else:
        has_cv2 = True
    found.append(
        Tool(
            "cv2 script",
            [sys.executable, str(script), "{in}", "{out}"] if has_cv2 else None,
            "" if has_cv2 else "OpenCV not installed (pip install '.[bench]')",
        )
    )
    return found


def versions() -> str:
    parts = [f"Python {platform.python_version()}"]
    try:
        from importlib.metadata import version

        parts.append(f"convcli {version('convcli')}")
        parts.append(f"Pillow {version('pillow')}")
    except Exception:  # a version string is only decoration
        pass
    for cmd, label in (
        (["magick", "-version"], "ImageMagick"),
        (["convert", "-version"], "ImageMagick"),
        (["vips", "--version"], ""),
    ):
        exe = shutil.which(cmd[0])
        if exe is None or (label == "ImageMagick" and any("ImageMagick" in p for p in parts)):
            continue
        out = subprocess.run([exe, *cmd[1:]], capture_output=True, text=True, check=False)
        first = out.stdout.strip().splitlines()[0] if out.stdout.strip() else ""
        if label and label in first:
            parts.append(f"ImageMagick {first.split()[2]}")
        elif first.startswith("vips-"):
            parts.append(f"libvips {first.removeprefix('vips-')}")
    try:
        import cv2

        parts.append(f"OpenCV {cv2.__version__}")
    except ImportError:
        pass
    return ", ".join(parts)


def machine() -> str:
    cpu = platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f", {int(line.split()[1]) / 2**20:.0f} GiB RAM"
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores{mem}, {platform.system()}"


def git_commit() -> str:
    """The checkout's commit (``-dirty`` with uncommitted changes), or "?"."""
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return "?"
    return out.stdout.strip() or "?"


# --------------------------------------------------------------------------- report


def fmt(v: float | None, digits: str = ".3g") -> str:
    return "—" if v is None else format(v, digits)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny image: check that it runs")
    parser.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    parser.add_argument("--repeat", type=int, default=3, help="runs per command (median)")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "convcli-bench",
        help="where the test photo is cached and outputs are written",
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    repeat = 1 if args.quick else args.repeat
    width, height = (300, 200) if args.quick else (6000, 4000)
    workdir: Path = args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    outdir = workdir / "out"
    outdir.mkdir(exist_ok=True)

    png, jpeg = make_photo(workdir, width, height)
    for path in (png, jpeg):
        path.read_bytes()  # into the page cache before the first timed run
    oracle = sobel_oracle(png)
    found = tools(workdir)

    cases = [
        (f"{width}×{height} RGB PNG → sobel → PNG", png, ".png"),
        (f"{width}×{height} RGB JPEG → sobel → JPEG", jpeg, ".jpg"),
    ]
    for title, src, ext in cases:
        for tool in found:
            if tool.cmd is None or (tool.png_only and ext != ".png"):
                continue
            out = outdir / (tool.name.replace(" ", "_") + ext)
            cmd = [str(out) if a == "{out}" else str(src) if a == "{in}" else a for a in tool.cmd]
            run = time_command(cmd, repeat, workdir, out)
            if run.seconds is not None and ext == ".png":
                run.check = compare(out, oracle)
            tool.results[title] = run

    convcli = find_convcli()
    startup_repeat = 3 if args.quick else max(10, args.repeat)
    startup = []
    shape = ["shape", "--in", "224", "--k", "11", "--s", "4", "--p", "2"]
    for name, cmd, target in (
        ("python -c pass", [sys.executable, "-c", "pass"], None),
        ("convcli shape (table)", [convcli, *shape] if convcli else None, 0.2),
        ("convcli shape --json", [convcli, *shape, "--json"] if convcli else None, 0.1),
    ):
        run = (
            time_command(cmd, startup_repeat, workdir, warmup=True)
            if cmd
            else Run(note="convcli command not found")
        )
        startup.append((name, run, target))

    header = [
        f"date: {datetime.date.today().isoformat()}",
        f"machine: {machine()}",
        f"versions: {versions()}",
        f"convcli command: {convcli or 'not found'} (git {git_commit()})",
    ]
    if args.quick:
        header.append("quick mode: a tiny image, to check that it runs; the ratios mean nothing")
    prefix = "- " if args.markdown else "# "
    print("\n".join(prefix + h for h in header))
    print()

    # issue 6's memory bound: 2 x (input + output) + the memory budget, with
    # input and output the decoded 8-bit RGB pixels
    from convcli.engine.convolution import DEFAULT_MEMORY_BUDGET

    pixels = width * height * 3
    bound_mib = (2 * (pixels + pixels) + DEFAULT_MEMORY_BUDGET) / 2**20
    by_name = {t.name: t for t in found}
    rows = []
    summary = []
    failed = False
    for title, _, ext in cases:
        vips = by_name["vips conv"].results.get(title)
        cv = by_name["cv2 script"].results.get(title)
        for n, tool in enumerate(found):
            run = tool.results.get(title)
            label = title if n == 0 else ""
            if tool.png_only and ext != ".png":
                continue
            if run is None or run.seconds is None:
                note = tool.note if run is None else run.note
                failed |= tool.name.startswith("convcli") and run is not None
                rows.append([label, tool.name, note, "", "", "", "", ""])
                continue
            rv = run.seconds / vips.seconds if vips and vips.seconds else None
            rc = run.seconds / cv.seconds if cv and cv.seconds else None
            rows.append(
                [
                    label,
                    tool.name,
                    fmt(run.seconds),
                    str(run.runs),
                    fmt(run.rss_mib, ".0f"),
                    fmt(rv, ".2f"),
                    fmt(rc, ".2f"),
                    run.check if ext == ".png" else "",
                ]
            )
        mine = by_name["convcli"].results.get(title)
        targets = [("vips conv", vips, 0.5 if ext == ".png" else 1.5)]
        if ext == ".png":
            targets.append(("cv2 script", cv, 1.5))
        for against, ref, target in targets:
            if mine is None or mine.seconds is None or ref is None or ref.seconds is None:
                summary.append([title, against, "—", f"≤ {target}×", "cannot tell"])
                continue
            ratio = mine.seconds / ref.seconds
            summary.append(
                [
                    title,
                    against,
                    f"{ratio:.2f}×",
                    f"≤ {target}×",
                    "yes" if ratio <= target else "NO",
                ]
            )
        if mine is not None and mine.rss_mib is not None:
            met = "yes" if mine.rss_mib <= bound_mib else "NO"
            summary.append(
                [title, "peak RSS", f"{mine.rss_mib:.0f} MiB", f"≤ {bound_mib:.0f} MiB", met]
            )
    print(
        render(
            ["case", "tool", "median s", "runs", "peak RSS MiB", "× vips", "× cv2", "output"],
            rows,
            args.markdown,
            {2, 3, 4, 5, 6},
        )
    )
    print()

    start_rows = []
    for name, run, target in startup:
        if target is None or run.seconds is None:
            met = ""
        else:
            met = "yes" if run.seconds <= target else "NO"
            summary.append([name, "wall time", f"{run.seconds:.3f} s", f"≤ {target} s", met])
        start_rows.append(
            [
                name,
                run.note or fmt(run.seconds, ".3f"),
                str(run.runs or ""),
                fmt(run.rss_mib, ".0f"),
                "" if target is None else f"≤ {target} s",
                met,
            ]
        )
    print(
        render(
            ["command", "median s", "runs", "peak RSS MiB", "target", "met"],
            start_rows,
            args.markdown,
            {1, 2, 3},
        )
    )
    print()
    print(render(["case", "against", "convcli", "target", "met"], summary, args.markdown, {2}))
    if failed:
        print("\nconvcli failed on a case: see the table above.")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
