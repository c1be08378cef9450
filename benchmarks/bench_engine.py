"""Benchmark convcli's engine side by side with scipy.ndimage, OpenCV and PyTorch.

Run from the repository root (``pip install '.[bench]'`` adds OpenCV and PyTorch)::

    python benchmarks/bench_engine.py              # every row of issue 6's Targets table
    python benchmarks/bench_engine.py --markdown   # the same, as Markdown for the README
    python benchmarks/bench_engine.py --quick      # tiny sizes: checks that it runs
    python benchmarks/bench_engine.py --huge       # issue 12's huge kernels and dilations
    python benchmarks/bench_engine.py --layers     # issue 20's conv layer, interleaved

Every case runs convcli's default (``strategy="auto"``), convcli with each
strategy forced (those that do not apply to the case are listed as such),
scipy.ndimage, and OpenCV and PyTorch where they apply and are installed.
Each implementation runs once untimed (a warm-up, which also measures its
memory and checks its output against an independent oracle), then
``--repeat`` timed runs whose median is reported. An implementation whose
warm-up alone takes longer than ``--slow`` seconds is reported by that one
run (``runs`` says 1).

Two tables are printed. The first lists every implementation: median
seconds, the ratio to the case's reference (OpenCV for the filters and
pooling, PyTorch for the conv layer), peak memory, and whether its output
matches the oracle. The second is one line per case: convcli's default
against the reference with issue 6's target, whether the default strategy
is within 1.2x of the fastest forced one, and convcli's peak memory against
the bound ``2 x (input + output) + memory budget``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import importlib
import os
import platform
import re
import statistics
import subprocess
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy
from benchreport import render
from numpy.lib.stride_tricks import sliding_window_view
from scipy import ndimage as ndi
from scipy import signal

import convcli
from convcli.engine import convolution as engine

try:
    import cv2
except ImportError:  # the `bench` extra is not installed
    cv2 = None

try:
    import torch
except ImportError:
    torch = None

MiB = 2**20
ROOT = Path(__file__).resolve().parent.parent


def _strategies() -> tuple[str, ...]:
    """The strategies convcli can be forced to use (none before the engine had any)."""
    names = getattr(engine, "STRATEGIES", None)
    if names is None:
        try:
            from convcli.engine.strategies import STRATEGIES as names
        except ImportError:
            names = ()
    return tuple(names)


STRATEGIES: tuple[str, ...] = _strategies()
#: The working-memory budget convcli's default calls run under.
BUDGET: int = engine.DEFAULT_MEMORY_BUDGET
#: How close the default strategy must be to the fastest forced one.
AUTO_SLACK = 1.2
# issue 12: huge kernels and dilations "within a few times scipy's best"
HUGE_TARGET = 5.0


# --------------------------------------------------------------------------- measuring


def _rss_status() -> tuple[float, float] | None:
    """(peak, current) resident set size of this process in MiB, from /proc (Linux)."""
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    hwm = re.search(r"VmHWM:\s+(\d+)", text)
    rss = re.search(r"VmRSS:\s+(\d+)", text)
    if hwm is None or rss is None:
        return None
    return int(hwm.group(1)) / 1024, int(rss.group(1)) / 1024


def _reset_rss_peak() -> bool:
    """Reset the kernel's peak-RSS counter to the current RSS; False where it cannot."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


@dataclass
class Measurement:
    """What one implementation did on one case."""

    seconds: float | None = None  # median of the timed runs
    runs: int = 0
    numpy_mib: float | None = None  # peak traced by tracemalloc: numpy's allocations
    rss_mib: float | None = None  # peak resident set size above the baseline
    check: str = ""  # agreement with the oracle
    note: str = ""  # why there is no time (not installed, does not apply, ...)


def measure(
    fn: Callable[[], object],
    repeat: int,
    slow: float,
    oracle: Callable[[object], str] | None,
) -> Measurement:
    """Warm up once (memory, output check), then time ``repeat`` runs.

    The warm-up is traced: tracemalloc sees everything numpy allocates
    (the output included, the input not), and the kernel's peak-RSS
    counter, reset just before, sees every allocation of the process
    (OpenCV's and PyTorch's too). If the warm-up takes longer than
    ``slow`` seconds it is the only run.
    """
    m = Measurement()
    gc.collect()
    before = _rss_status()
    can_rss = before is not None and _reset_rss_peak()
    if can_rss:
        before = _rss_status()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        start = time.perf_counter()
        out = fn()
        first = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    m.numpy_mib = peak / MiB
    if can_rss:
        after = _rss_status()
        m.rss_mib = max(0.0, after[0] - before[1])
    if oracle is not None:
        m.check = oracle(out)
    del out
    gc.collect()
    if first > slow:
        m.seconds, m.runs = first, 1
        return m
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    m.seconds, m.runs = statistics.median(times), repeat
    return m


def agreement(reference: np.ndarray) -> Callable[[object], str]:
    """A check of an output against the oracle's: ``ok`` or the largest error."""
    reference = np.asarray(reference, dtype=np.float64)
    scale = float(np.max(np.abs(reference))) or 1.0

    def check(out: object) -> str:
        if torch is not None and isinstance(out, torch.Tensor):
            out = out.numpy()
        out = np.asarray(out, dtype=np.float64)
        if out.shape != reference.shape:
            return f"WRONG shape {out.shape}"
        err = float(np.max(np.abs(out - reference))) / scale
        return "ok" if err <= 1e-4 else f"DIFFERS (max err {err:.1e} of max)"

    return check


# --------------------------------------------------------------------------- cases


@dataclass
class Impl:
    """One implementation of a case."""

    name: str
    fn: Callable[[], object] | None
    kind: str = "other"  # "auto", "forced", "reference" or "other"
    note: str = ""  # shown instead of a time when fn is None
    result: Measurement = field(default_factory=Measurement)


@dataclass
class Case:
    """One row of issue 6's Targets table."""

    title: str
    reference: str | None  # the implementation the target ratio is against
    target: float | None  # convcli default / reference must be <= this
    in_bytes: int
    out_bytes: int
    oracle: np.ndarray | None
    impls: list[Impl]
    auto_picks: str = "?"  # filled in by the default's warm-up


def absent(name: str, module: object) -> str:
    return "" if module is not None else f"{name} not installed"


def forced_impls(call: Callable[..., object]) -> list[Impl]:
    """convcli with each strategy forced (one that does not apply raises ParameterError)."""
    return [
        Impl(f"convcli strategy={s}", lambda s=s: call(strategy=s), "forced") for s in STRATEGIES
    ]


def _strategy_modules() -> list[object]:
    """The convcli modules that define ``choose_strategy`` (the engine's cost model)."""
    found = [engine]
    for name in ("strategies", "costs"):  # the cost model moved to costs.py in issue 11
        try:
            found.append(importlib.import_module(f"convcli.engine.{name}"))
        except ImportError:
            pass
    return [m for m in found if callable(getattr(m, "choose_strategy", None))]


@contextlib.contextmanager
def cost_model_spy() -> Iterator[list[str]]:
    """Record the strategies the cost model picks while the block runs.

    ``choose_strategy`` is wrapped for the duration, whatever its signature,
    so the benchmark reports what "auto" really ran. The list stays empty
    when the engine has no cost model to ask.
    """
    picked: list[str] = []
    originals = {m: m.choose_strategy for m in _strategy_modules()}

    def spy_on(original: Callable[..., object]) -> Callable[..., object]:
        def spy(*args: object, **kwargs: object) -> object:
            name = original(*args, **kwargs)
            picked.append(str(name))
            return name

        return spy

    for m, original in originals.items():
        m.choose_strategy = spy_on(original)
    try:
        yield picked
    finally:
        for m, original in originals.items():
            m.choose_strategy = original


def gaussian_taps(sigma: float, radius: int) -> np.ndarray:
    ax = np.arange(-radius, radius + 1, dtype=np.float64)
    g = np.exp(-(ax**2) / (2 * sigma**2))
    return g / g.sum()


def filter_case(
    title: str,
    img: np.ndarray,
    kernel: np.ndarray,
    target: float,
    *,
    gaussian: tuple[float, int] | None = None,
    oaconvolve: bool = False,
) -> Case:
    """A single-channel filter2d case, same size, reflect padding (REFLECT_101)."""
    impls = [Impl("convcli default", lambda: convcli.filter2d(img, kernel), "auto")]
    impls += forced_impls(lambda **kw: convcli.filter2d(img, kernel, **kw))
    if gaussian is not None:
        sigma, radius = gaussian
        impls.append(
            Impl(
                "scipy.ndimage.gaussian_filter",
                lambda: ndi.gaussian_filter(img, sigma, mode="mirror", truncate=radius / sigma),
            )
        )
        oracle = ndi.gaussian_filter(
            img.astype(np.float64), sigma, mode="mirror", truncate=radius / sigma
        )
        g = gaussian_taps(sigma, radius).astype(np.float32)
        cv_fn = lambda: cv2.sepFilter2D(img, -1, g, g, borderType=cv2.BORDER_REFLECT_101)  # noqa: E731
        cv_name = "OpenCV sepFilter2D"
    else:
        impls.append(
            Impl("scipy.ndimage.correlate", lambda: ndi.correlate(img, kernel, mode="mirror"))
        )
        oracle = ndi.correlate(img.astype(np.float64), kernel.astype(np.float64), mode="mirror")
        cv_fn = lambda: cv2.filter2D(img, -1, kernel, borderType=cv2.BORDER_REFLECT_101)  # noqa: E731
        cv_name = "OpenCV filter2D"
    if oaconvolve:
        kh, kw = kernel.shape
        flipped = kernel[::-1, ::-1]

        def oa() -> np.ndarray:
            padded = np.pad(img, ((kh // 2, kh // 2), (kw // 2, kw // 2)), mode="reflect")
            return signal.oaconvolve(padded, flipped, mode="valid")

        impls.append(Impl("scipy.signal.oaconvolve", oa))
    impls.append(Impl(cv_name, cv_fn if cv2 else None, "reference", absent("OpenCV", cv2)))
    return Case(
        title,
        cv_name,
        target,
        img.nbytes,
        img.nbytes,
        oracle,
        impls,
    )


def naive_conv(x: np.ndarray, w: np.ndarray, pad: int) -> np.ndarray:
    """Untiled im2col of a zero-padded batch, then one matrix product."""
    n, c = x.shape[:2]
    co, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    win = sliding_window_view(xp, (kh, kw), axis=(2, 3))  # n, c, oh, ow, kh, kw
    oh, ow = win.shape[2:4]
    cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(n * oh * ow, c * kh * kw)
    return (cols @ w.reshape(co, -1).T).reshape(n, oh, ow, co).transpose(0, 3, 1, 2)


def scipy_conv(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """A conv layer as one scipy.ndimage.correlate per (output, input) channel pair."""
    out = np.zeros((x.shape[0], w.shape[0], *x.shape[2:]), dtype=x.dtype)
    for n in range(x.shape[0]):
        for o in range(w.shape[0]):
            for i in range(w.shape[1]):
                out[n, o] += ndi.correlate(x[n, i], w[o, i], mode="constant")
    return out


def conv_case(hw: int, c_in: int, c_out: int, rng: np.random.Generator) -> Case:
    x = rng.standard_normal((1, c_in, hw, hw)).astype(np.float32)
    w = rng.standard_normal((c_out, c_in, 3, 3)).astype(np.float32)
    oracle = scipy_conv(x.astype(np.float64), w.astype(np.float64))
    impls = [Impl("convcli default", lambda: convcli.conv2d(x, w, padding=1), "auto")]
    impls += forced_impls(lambda **kw: convcli.conv2d(x, w, padding=1, **kw))
    impls.append(Impl("scipy.ndimage.correlate per channel pair", lambda: scipy_conv(x, w)))
    impls.append(Impl("numpy im2col + matmul (untiled)", lambda: naive_conv(x, w, 1)))
    impls.append(Impl("OpenCV", None, "other", "no conv-layer function"))
    if torch is not None:
        xt, wt = torch.from_numpy(x), torch.from_numpy(w)

        def torch_conv() -> object:
            with torch.no_grad():
                return torch.nn.functional.conv2d(xt, wt, padding=1)

        impls.append(Impl("torch conv2d", torch_conv, "reference"))
    else:
        impls.append(Impl("torch conv2d", None, "reference", "PyTorch not installed"))
    out_bytes = c_out * hw * hw * 4
    return Case(
        f"conv layer 1×{c_in}×{hw}² → {c_out}, 3×3, pad 1",
        "torch conv2d",
        1.0,
        x.nbytes + w.nbytes,
        out_bytes,
        oracle,
        impls,
    )


def pool_case(size: int, rng: np.random.Generator) -> Case:
    img = rng.random((size, size, 3), dtype=np.float32)  # H, W, C as an image
    h2 = size // 2
    oracle = img.reshape(h2, 2, h2, 2, 3).max(axis=(1, 3))
    chw = np.ascontiguousarray(np.moveaxis(img, -1, 0))  # pool2d is channels first
    impls = [Impl("convcli pool2d", lambda: np.moveaxis(convcli.pool2d(chw, 2), 0, -1), "auto")]
    impls.append(
        Impl(
            "scipy.ndimage.maximum_filter + subsample",
            lambda: ndi.maximum_filter(img, size=(2, 2, 1), origin=(-1, -1, 0))[::2, ::2],
        )
    )
    if cv2 is not None:
        ones = np.ones((2, 2), np.uint8)
        cv_fn = lambda: cv2.dilate(img, ones, anchor=(0, 0))[::2, ::2]  # noqa: E731
    else:
        cv_fn = None
    impls.append(Impl("OpenCV dilate + subsample", cv_fn, "reference", absent("OpenCV", cv2)))
    if torch is not None:
        planes = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))[None])

        def torch_pool() -> object:
            with torch.no_grad():
                return torch.nn.functional.max_pool2d(planes, 2)[0].permute(1, 2, 0)

        impls.append(Impl("torch max_pool2d (N, C, H, W)", torch_pool))
    else:
        impls.append(Impl("torch max_pool2d (N, C, H, W)", None, "other", "PyTorch not installed"))
    return Case(
        f"max pool 2×2/2 of 3×{size}²",
        "OpenCV dilate + subsample",
        1.0,
        img.nbytes,
        oracle.nbytes,
        oracle,
        impls,
        "— (no strategies)",
    )


def memory_case(big: int, rng: np.random.Generator) -> Case:
    huge = rng.random((big, big), dtype=np.float32)
    k = rng.standard_normal((11, 11)).astype(np.float32)
    impls = [Impl("convcli default", lambda: convcli.filter2d(huge, k), "auto")]
    impls.append(
        Impl(
            "OpenCV filter2D",
            (lambda: cv2.filter2D(huge, -1, k, borderType=cv2.BORDER_REFLECT_101)) if cv2 else None,
            "reference",
            absent("OpenCV", cv2),
        )
    )
    impls.append(Impl("scipy.ndimage.correlate", lambda: ndi.correlate(huge, k, mode="mirror")))
    need = huge.size * k.size * 4
    impls.append(Impl("untiled im2col", None, "other", f"skipped: needs {need / MiB:,.0f} MiB"))
    return Case(
        f"memory: {big}² float32, 11×11 random, default {BUDGET // MiB} MiB budget",
        "OpenCV filter2D",
        None,
        huge.nbytes,
        huge.nbytes,
        ndi.correlate(huge.astype(np.float64), k.astype(np.float64), mode="mirror"),
        impls,
    )


def _padded(img: np.ndarray, span: tuple[int, int]) -> np.ndarray:
    """``img`` padded for "same" by numpy's reflect (convcli's reflect, REFLECT_101)."""
    (sh, sw) = span
    return np.pad(img, ((sh // 2, (sh - 1) // 2), (sw // 2, (sw - 1) // 2)), mode="reflect")


def _scipy_fft(img: np.ndarray, kernel: np.ndarray, how: str) -> Callable[[], np.ndarray]:
    """scipy.signal's FFT convolution on the reflect-padded image: a correlation."""
    conv = getattr(signal, how)
    flipped = kernel[::-1, ::-1]
    return lambda: conv(_padded(img, kernel.shape), flipped, mode="valid")


def huge_kernel_case(
    title: str,
    img: np.ndarray,
    kernel: np.ndarray,
    special: tuple[str, Callable[[], np.ndarray]] | None,
    oracle: np.ndarray,
) -> Case:
    """Issue 12: a large kernel on a photo-sized image, against scipy's best.

    The reference is scipy's special-purpose filter where there is one
    (uniform_filter for a box, gaussian_filter for a Gaussian), else
    scipy.signal's overlap-add FFT. Only fft and separable are forced:
    direct and im2col would run for hours.
    """
    call = lambda **kw: convcli.filter2d(img, kernel, **kw)  # noqa: E731
    impls = [Impl("convcli default", call, "auto")]
    impls += [
        Impl(f"convcli strategy={s}", lambda s=s: call(strategy=s), "forced")
        for s in ("fft", "separable")
    ]
    if special is not None:
        impls.append(Impl(special[0], special[1]))
    impls.append(Impl("scipy.signal.fftconvolve", _scipy_fft(img, kernel, "fftconvolve")))
    impls.append(Impl("scipy.signal.oaconvolve", _scipy_fft(img, kernel, "oaconvolve")))
    reference = special[0] if special is not None else "scipy.signal.oaconvolve"
    for impl in impls:
        if impl.name == reference:
            impl.kind = "reference"
    return Case(title, reference, HUGE_TARGET, img.nbytes, img.nbytes, oracle, impls)


def huge_dilation_case(side: int, d: int) -> Case:
    """Issue 12: a 3x3 Sobel dilated ``d`` times (the tap-by-tap path)."""
    img = np.random.default_rng(7).random((side, side), dtype=np.float32)
    sobel = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float64)
    padded = np.pad(img.astype(np.float64), d, mode="reflect")
    # the oracle: each tap's shifted view of the padded image, by hand
    oracle = sum(
        sobel[i, j] * padded[i * d : i * d + side, j * d : j * d + side]
        for i in range(3)
        for j in range(3)
    )
    call = lambda **kw: convcli.filter2d(img, sobel, dilation=d, **kw)  # noqa: E731
    impls = [Impl("convcli default", call, "auto")]
    impls.append(Impl("convcli strategy=direct", lambda: call(strategy="direct"), "forced"))
    impls.append(
        Impl(
            "scipy.ndimage.correlate1d × 6 taps",
            lambda: _taps_by_scipy(img, sobel, d),
            "reference",
        )
    )
    return Case(
        f"{side}² float32, 3×3 Sobel, dilation {d}",
        "scipy.ndimage.correlate1d × 6 taps",
        HUGE_TARGET,
        img.nbytes,
        img.nbytes,
        oracle,
        impls,
    )


def _taps_by_scipy(img: np.ndarray, kernel: np.ndarray, d: int) -> np.ndarray:
    """A dilated kernel with scipy.ndimage, tap by tap: each nonzero tap a shift."""
    out = np.zeros(img.shape, dtype=np.float64)
    for (i, j), w in np.ndenumerate(kernel):
        if w:
            shift = (-(i - 1) * d, -(j - 1) * d)
            out += w * ndi.shift(img, shift, order=0, mode="mirror")
    return out


def huge_builders(quick: bool) -> list[Callable[[], Case]]:
    """The huge kernels and dilations of issue 12 (scaled down by 10 with --quick)."""
    side = 200 if quick else 2000
    box, sigma, big, d = (103, 20, 401, 1000) if quick else (1025, 200, 4001, 10000)
    rng = np.random.default_rng(12)
    img = rng.random((side, side), dtype=np.float32)

    def box_case() -> Case:
        k = np.full((box, box), 1.0 / box**2, dtype=np.float32)
        uniform = lambda: ndi.uniform_filter(img, box, mode="mirror")  # noqa: E731
        oracle = ndi.uniform_filter(img.astype(np.float64), box, mode="mirror")
        title = f"{side}² float32, box:{box}"
        return huge_kernel_case(title, img, k, ("scipy.ndimage.uniform_filter", uniform), oracle)

    def gaussian_case() -> Case:
        radius = 4 * sigma
        g = gaussian_taps(sigma, radius)
        k = np.outer(g, g).astype(np.float32)
        gauss = lambda: ndi.gaussian_filter(img, sigma, mode="mirror", truncate=4.0)  # noqa: E731
        oracle = ndi.gaussian_filter(img.astype(np.float64), sigma, mode="mirror", truncate=4.0)
        title = f"{side}² float32, gaussian:sigma={sigma} ({2 * radius + 1}²)"
        return huge_kernel_case(title, img, k, ("scipy.ndimage.gaussian_filter", gauss), oracle)

    def random_case() -> Case:
        k = (rng.random((big, big)) / big**2).astype(np.float32)
        oracle = _scipy_fft(img.astype(np.float64), k.astype(np.float64), "fftconvolve")()
        return huge_kernel_case(f"{side}² float32, {big}² random", img, k, None, oracle)

    return [box_case, gaussian_case, random_case, lambda: huge_dilation_case(side, d)]


# --------------------------------------------------------------------------- layers


@dataclass
class LayerImpl:
    """One implementation of the conv layer, timed interleaved with the others."""

    name: str
    fn: Callable[[], object]
    threads: int  # cores it is meant to use: compared with torch on as many
    times: list[float] = field(default_factory=list)
    torch_after: list[float] = field(default_factory=list)  # torch's next call, right after
    check: str = ""


def _torch_threads(n: int) -> Callable[[Callable[[], object]], Callable[[], object]]:
    """Run a torch call with torch held to ``n`` intra-op threads, restored after."""

    def wrap(fn: Callable[[], object]) -> Callable[[], object]:
        def run() -> object:
            before = torch.get_num_threads()
            torch.set_num_threads(n)
            try:
                return fn()
            finally:
                torch.set_num_threads(before)

        return run

    return wrap


def layer_impls(x: np.ndarray, w: np.ndarray) -> list[LayerImpl]:
    """convcli (default and one thread), torch (both cores and one), numpy's one matmul."""
    impls = [
        LayerImpl("convcli conv2d", lambda: convcli.conv2d(x, w, padding=1), 2),
        LayerImpl(
            "convcli conv2d, threads=1", lambda: convcli.conv2d(x, w, padding=1, threads=1), 1
        ),
        LayerImpl("numpy im2col + one matmul (BLAS on all cores)", lambda: naive_conv(x, w, 1), 2),
    ]
    if torch is not None:
        xt, wt = torch.from_numpy(x), torch.from_numpy(w)

        def torch_conv() -> object:
            with torch.no_grad():
                return torch.nn.functional.conv2d(xt, wt, padding=1)

        impls.append(LayerImpl("torch conv2d", torch_conv, 2))
        impls.append(LayerImpl("torch conv2d, 1 thread", _torch_threads(1)(torch_conv), 1))
    return impls


def layer_rows(
    hw: int, c_in: int, c_out: int, batch: int, repeat: int, rng: np.random.Generator
) -> tuple[str, list[LayerImpl]]:
    """Time every implementation round-robin (a rotated order each round), ``repeat`` rounds.

    After each call torch runs once more, timed apart (``torch_after``): a
    pool of threads left spinning by the call shows up as a slower torch.
    """
    x = rng.standard_normal((batch, c_in, hw, hw)).astype(np.float32)
    w = rng.standard_normal((c_out, c_in, 3, 3)).astype(np.float32)
    check = agreement(scipy_conv(x.astype(np.float64), w.astype(np.float64)))
    impls = layer_impls(x, w)
    probe = next((i.fn for i in impls if i.name == "torch conv2d"), None)
    for impl in impls:  # warm-up and output check
        impl.check = check(impl.fn())
    for r in range(repeat):
        for impl in impls[r % len(impls) :] + impls[: r % len(impls)]:
            start = time.perf_counter()
            impl.fn()
            impl.times.append(time.perf_counter() - start)
            if probe is not None:
                start = time.perf_counter()
                probe()
                impl.torch_after.append(time.perf_counter() - start)
    return f"{batch}×{c_in}×{hw}² → {c_out}, 3×3, pad 1", impls


def layer_table(cases: list[tuple[str, list[LayerImpl]]], markdown: bool) -> str:
    """Median and fastest seconds, each against torch on as many cores."""
    headers = ["layer", "implementation", "cores", "median s", "× torch", "min s", "× torch"]
    headers += ["torch right after, s", "output"]
    rows = []
    for title, impls in cases:
        ref = {i.threads: i for i in impls if i.name.startswith("torch conv2d")}
        for n, impl in enumerate(impls):
            med, best = statistics.median(impl.times), min(impl.times)
            peer = ref.get(impl.threads)
            ratio = f"{med / statistics.median(peer.times):.2f}" if peer else "—"
            ratio_min = f"{best / min(peer.times):.2f}" if peer else "—"
            after = f"{statistics.median(impl.torch_after):.3g}" if impl.torch_after else "—"
            rows.append(
                [
                    title if n == 0 else "",
                    impl.name,
                    str(impl.threads),
                    f"{med:.3g}",
                    ratio,
                    f"{best:.3g}",
                    ratio_min,
                    after,
                    impl.check,
                ]
            )
    return render(headers, rows, markdown, {2, 3, 4, 5, 6, 7})


def blas_lines() -> list[str]:
    """The BLAS libraries loaded (kernel, threads) and the note on a forced slow kernel."""
    from convcli.engine.blasinfo import blas_note, blas_summary

    lines = [f"BLAS: {summary}" for summary in blas_summary()] or ["BLAS: none found"]
    note = blas_note()
    lines.append(f"BLAS note: {note}" if note else "BLAS note: none (no slow kernel forced)")
    return lines


def layers_main(args: argparse.Namespace) -> int:
    """``--layers``: the 64→128 3×3 conv layer at 112², batch 1 and 4, interleaved."""
    hw, c_in, c_out = (16, 8, 16) if args.quick else (112, 64, 128)
    rng = np.random.default_rng(0)
    header = machine() + blas_lines()
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    cases = [layer_rows(hw, c_in, c_out, batch, args.repeat, rng) for batch in (1, 4)]
    if load is not None:
        end = os.getloadavg()
        header.append(f"load average (1 min) {load[0]:.1f} at the start, {end[0]:.1f} at the end")
    if args.quick:
        header.append("quick mode: tiny sizes, to check that it runs; the ratios mean nothing")
    prefix = "- " if args.markdown else "# "
    print("\n".join(prefix + line for line in header))
    print()
    print(layer_table(cases, args.markdown))
    print()
    if torch is None:
        print("PyTorch not installed: no ratios.")
        return 0
    misses = [
        f"{title}: {impl.name} {statistics.median(impl.times) / statistics.median(peer.times):.2f}×"
        f" torch on {impl.threads} core(s), target ≤ 1.0×"
        for title, impls in cases
        for impl in impls
        if impl.name.startswith("convcli")
        for peer in [
            next(i for i in impls if i.name.startswith("torch") and i.threads == impl.threads)
        ]
        if statistics.median(impl.times) > statistics.median(peer.times)
    ]
    print("\n".join(["Not met:", *(f"- {m}" for m in misses)]) if misses else "Every target met.")
    return 0


# --------------------------------------------------------------------------- reporting


def machine() -> list[str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        commit = ""
    mem = ""
    try:
        total = re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())
        mem = f", {int(total.group(1)) / 2**20:.0f} GiB RAM" if total else ""
    except OSError:
        pass
    cv = f"{cv2.__version__} ({cv2.getNumThreads()} threads)" if cv2 else "not installed"
    tv = f"{torch.__version__} ({torch.get_num_threads()} threads)" if torch else "not installed"
    return [
        f"date: {datetime.date.today().isoformat()}",
        f"machine: {cpu}, {os.cpu_count()} cores ({usable} usable){mem}, {platform.system()} "
        f"{platform.machine()}",
        f"python {platform.python_version()}, convcli {convcli.__version__} "
        f"(git {commit or '?'}), numpy {np.__version__}, scipy {scipy.__version__}, "
        f"OpenCV {cv}, torch {tv}",
        f"strategies: {', '.join(STRATEGIES) or 'none to force (engine without STRATEGIES)'}",
    ]


def fmt_s(m: Measurement) -> str:
    return "—" if m.seconds is None else f"{m.seconds:.3g}"


def fmt_mib(v: float | None) -> str:
    return "—" if v is None else f"{v:.0f}"


def ref_time(case: Case) -> float | None:
    for impl in case.impls:
        if impl.name == case.reference:
            return impl.result.seconds
    return None


def detail_table(cases: list[Case], markdown: bool) -> str:
    headers = ["case", "implementation", "median s", "runs", "× ref", "numpy MiB", "RSS MiB"]
    headers.append("output")
    rows = []
    for case in cases:
        ref = ref_time(case)
        for n, impl in enumerate(case.impls):
            m = impl.result
            title = case.title if n == 0 else ""
            if m.seconds is None:
                rows.append([title, impl.name, "—", "", "", "", "", impl.note or m.note])
                continue
            ratio = f"{m.seconds / ref:.2f}" if ref else "—"
            rows.append(
                [
                    title,
                    impl.name + (" (reference)" if impl.name == case.reference else ""),
                    fmt_s(m),
                    str(m.runs),
                    ratio,
                    fmt_mib(m.numpy_mib),
                    fmt_mib(m.rss_mib),
                    m.check,
                ]
            )
    return render(headers, rows, markdown, {2, 3, 4, 5, 6})


def summary_table(cases: list[Case], markdown: bool) -> tuple[str, list[str]]:
    headers = [
        "case",
        "convcli s",
        "reference",
        "ref s",
        "ratio",
        "target",
        "met",
        "auto picks",
        "fastest forced",
        "auto ≤ 1.2× fastest",
        "peak MiB",
        "bound MiB",
        "within",
    ]
    rows, misses = [], []
    for case in cases:
        auto = next(i for i in case.impls if i.kind == "auto").result
        ref = ref_time(case)
        ratio = auto.seconds / ref if (auto.seconds and ref) else None
        if case.target is None:
            met = ""
        elif ratio is None:
            met = "no reference"
            misses.append(f"{case.title}: cannot tell, no {case.reference} time")
        else:
            met = "yes" if ratio <= case.target else "NO"
            if met == "NO":
                misses.append(f"{case.title}: {ratio:.2f}× the reference, target ≤ {case.target}×")
        forced = [i for i in case.impls if i.kind == "forced" and i.result.seconds is not None]
        if forced and auto.seconds is not None:
            best = min(forced, key=lambda i: i.result.seconds)
            slack = auto.seconds / best.result.seconds
            fastest = f"{best.name.split('=')[-1]} {best.result.seconds:.3g}"
            within_slack = f"{'yes' if slack <= AUTO_SLACK else 'NO'} ({slack:.2f}×)"
            if slack > AUTO_SLACK:
                misses.append(f"{case.title}: default is {slack:.2f}× the fastest strategy")
        else:
            fastest, within_slack = "—", "—"
        bound = (2 * (case.in_bytes + case.out_bytes) + BUDGET) / MiB
        peak = auto.numpy_mib
        within = "—" if peak is None else ("yes" if peak <= bound else "NO")
        if within == "NO":
            misses.append(f"{case.title}: peak {peak:.0f} MiB > bound {bound:.0f} MiB")
        rows.append(
            [
                case.title,
                fmt_s(auto),
                case.reference or "—",
                "—" if ref is None else f"{ref:.3g}",
                "—" if ratio is None else f"{ratio:.2f}×",
                "—" if case.target is None else f"≤ {case.target}×",
                met,
                case.auto_picks,
                fastest,
                within_slack,
                fmt_mib(peak),
                f"{bound:.0f}",
                within,
            ]
        )
    return render(headers, rows, markdown, {1, 3, 4, 10, 11}), misses


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: check that it runs")
    parser.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per case (median)")
    parser.add_argument(
        "--slow",
        type=float,
        default=8.0,
        help="seconds: a warm-up slower than this is reported as the only run",
    )
    parser.add_argument(
        "--huge",
        action="store_true",
        help="issue 12's huge kernels and dilations instead, against scipy",
    )
    parser.add_argument(
        "--layers",
        action="store_true",
        help="the conv layer only, batch 1 and 4, interleaved with torch on 2 and 1 cores",
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.layers:
        return layers_main(args)

    size = 128 if args.quick else 4096
    big = 256 if args.quick else 8000
    layer = (16, 8, 16) if args.quick else (112, 64, 128)  # H = W, C_in, C_out
    rng = np.random.default_rng(0)

    img = rng.random((size, size), dtype=np.float32)
    sobel = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float32)
    g = gaussian_taps(5.0, 15)
    gauss = np.outer(g, g).astype(np.float32)

    builders: list[Callable[[], Case]] = [
        lambda: filter_case(f"{size}² float32, 3×3 Sobel, same/reflect", img, sobel, 1.5),
        lambda: filter_case(
            f"{size}² float32, 5×5 random",
            img,
            rng.standard_normal((5, 5)).astype(np.float32),
            1.5,
        ),
        lambda: filter_case(
            f"{size}² float32, 11×11 random",
            img,
            rng.standard_normal((11, 11)).astype(np.float32),
            1.0,
            oaconvolve=True,
        ),
        lambda: filter_case(
            f"{size}² float32, 31×31 Gaussian σ=5",
            img,
            gauss,
            1.2,
            gaussian=(5.0, 15),
        ),
        lambda: conv_case(*layer, rng),
        lambda: pool_case(size, rng),
        lambda: memory_case(big, rng),
    ]
    if args.huge:
        builders = huge_builders(args.quick)

    header = machine()
    cases = []
    for build in builders:
        case = build()  # one case's arrays at a time
        for impl in case.impls:
            if impl.fn is None:
                continue
            try:
                with cost_model_spy() as picked:
                    impl.result = measure(
                        impl.fn,
                        args.repeat,
                        args.slow,
                        agreement(case.oracle) if case.oracle is not None else None,
                    )
                if impl.kind == "auto" and case.auto_picks == "?" and _strategy_modules():
                    case.auto_picks = ", ".join(dict.fromkeys(picked)) or "?"
            except convcli.ParameterError as exc:  # a forced strategy that does not fit the case
                why = str(exc).splitlines()[0].split(";")[0]
                impl.note = f"does not apply: {why[:80]}"
        case.oracle = None
        case.impls = [
            Impl(i.name, None, i.kind, i.note, i.result) for i in case.impls
        ]  # drop the closures and their arrays
        cases.append(case)
        gc.collect()

    if args.quick:
        header.append("quick mode: tiny sizes, to check that it runs; the ratios mean nothing")
    prefix = "- " if args.markdown else "# "
    print("\n".join(prefix + line for line in header))
    print()
    print(detail_table(cases, args.markdown))
    print()
    summary, misses = summary_table(cases, args.markdown)
    print(summary)
    print()
    if misses:
        print("Not met, or cannot tell:")
        print("\n".join(f"- {m}" for m in misses))
    else:
        print("Every target met.")
    if any(i.result.check.startswith(("DIFFERS", "WRONG")) for c in cases for i in c.impls):
        print("Some outputs differ from the oracle (see the `output` column).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
