"""The bad-input corpus through the Python API: only ConvcliError escapes, nothing mutated.

Cases are built by tables: the public functions (``convcli.__all__``) ×
bad arrays (NaN, inf, wrong ndim, object/complex/string dtype, empty, None,
lists), bad integers (0, negative, 10**400, 1.5, NaN, strings, None, bools)
and bad strings (kernel specs, matrices, layer specs), plus every damaged
file of ``corpus_inputs.py`` through :func:`convcli.read_image`. Each call
must return or raise a :class:`convcli.ConvcliError` (whose value errors are
also ``ValueError``); a ``MemoryError``, ``OverflowError``,
``RecursionError``, ``ZeroDivisionError``, ``IndexError``,
``AttributeError`` or a bare ``TypeError``/``ValueError`` is a failure, and
so is a changed input array. A case marked ``must_fail`` may not return.
:data:`KNOWN_BUGS` lists the calls that still go wrong, with why (none
now: the last four, NaN/inf images and a 1e308 kernel in ``filter2d`` and a
10**400 stride in the cost model, are fixed).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import resource
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from corpus_inputs import PWNED, build_images

import convcli
from convcli import ConvcliError


@dataclass
class ApiCase:
    id: str
    call: Callable[..., object]
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    must_fail: bool = False


def _arrays() -> dict[str, tuple[object, bool]]:
    """Bad first arguments for array functions: value, whether the call must fail."""
    rng = np.random.default_rng(4)
    nan = rng.random((6, 7))
    nan[2, 3] = np.nan
    inf = rng.random((6, 7))
    inf[1, 1] = -np.inf
    return {
        "nan": (nan, True),
        "inf": (inf, True),
        "0d": (np.array(3.0), True),
        "1d": (np.arange(5.0), True),
        "5d": (np.ones((1, 1, 1, 4, 4)), True),
        "object": (np.array([[1, "a"], [None, 2]], dtype=object), True),
        "complex": (np.ones((4, 4)) * 1j, True),
        "strings": (np.full((4, 4), "x"), True),
        "datetime": (np.zeros((4, 4), dtype="datetime64[s]"), True),
        "empty-rows": (np.zeros((0, 5)), True),
        "empty-cols": (np.zeros((5, 0)), True),
        "none": (None, True),
        "str": ("not an array", True),
        "ragged": ([[1.0, 2.0], [3.0]], True),
        "bool": (rng.random((6, 7)) > 0.5, False),
        "huge-values": (np.full((6, 7), 1e308), False),
        "f16": (rng.random((6, 7)).astype(np.float16), False),
        "list": ([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]], False),
    }


#: bad integer parameters: value, whether a call given it must fail
BAD_INTS: dict[str, tuple[object, bool]] = {
    "zero": (0, True),  # a valid padding (see the padding cases), no valid size or stride
    "neg": (-1, True),
    "huge": (10**400, False),
    "big": (2**63, False),
    "float": (1.5, True),
    "nan": (float("nan"), True),
    "inf": (float("inf"), True),
    "str": ("3", True),
    "none": (None, False),
    "true": (True, True),
    "list3": ([1, 2, 3], True),
    "tuple-neg": ((-1, 2), True),
    "npint": (np.int64(-3), True),
}

BAD_KERNEL_TEXTS = [
    "nosuch", "box:0", "box:-3", "box:nan", "box:1e9", "box:abc", "gaussian:sigma=0",
    "gaussian:sigma=nan", "gaussian:sigma=1e308", "gaussian:size=-1", "motion:1e9,30",
    "log:sigma=1e-300", "diff:100000", "1,nan;0,1", "1e400", "[[1,2],[3]]", "[[]]",
    "[" * 3000 + "1" + "]" * 3000, "", ";", "box:40000000",
]  # fmt: skip

BAD_MATRICES = [
    "", "1 2; 3", "a b", "nan 1", "[[1, 2], [3]]", "[" * 3000 + "]" * 3000, "{}", "1e400",
    '{"weights": "x"}', "[[true, 1]]", "missing-file.npy",
]  # fmt: skip

BAD_LAYERS = [
    "conv", "conv 8 k0", "0*relu", "1000*()", "(" * 3000,  # huge repeats are valid now
    "unknown 3", "conv 1e400", "maxpool k-1", "," * 5000,
]  # fmt: skip


_PAD_TAKES = ("nan", "inf", "5d")


def api_cases() -> list[ApiCase]:
    c = convcli
    cases: list[ApiCase] = []
    k3 = np.ones((3, 3)) / 9
    x = np.random.default_rng(2).random((6, 7))
    # conv2d takes (N, C, H, W) and (C_out, C_in, kh, kw): with 2-D arrays every call
    # would stop at the shape check and test nothing else
    x4, k4 = x[None, None], k3[None, None]

    def four(a):
        return a[None, None] if isinstance(a, np.ndarray) and a.ndim == 2 else a

    # bad arrays × array functions
    for name, (arr, bad) in _arrays().items():
        cases += [
            ApiCase(f"conv2d-x-{name}", c.conv2d, (four(arr), k4), must_fail=bad),
            ApiCase(f"conv2d-w-{name}", c.conv2d, (x4, four(arr)), must_fail=bad),
            ApiCase(f"filter2d-x-{name}", c.filter2d, (arr, k3), must_fail=bad),
            ApiCase(f"filter2d-k-{name}", c.filter2d, (x, arr), must_fail=bad),
            ApiCase(f"pool2d-{name}", c.pool2d, (arr, 2), must_fail=bad),
            ApiCase(f"pool_tensor-{name}", c.pool_tensor, (arr, 2), must_fail=bad),
            # pad copies values (NaN is data to it) and pads the last two axes of any rank
            ApiCase(f"pad-{name}", c.pad, (arr, 1), must_fail=bad and name not in _PAD_TAKES),
            ApiCase(f"im2col-{name}", c.im2col, (arr, 3), must_fail=bad),
            ApiCase(f"learn-x-{name}", c.learn_kernel, (arr, x, 3), must_fail=bad),
            ApiCase(f"learn-y-{name}", c.learn_kernel, (x, arr, 3), must_fail=bad),
            ApiCase(f"conv_operands-{name}", c.conv_operands, (arr, k3), must_fail=bad),
        ]
    # bad integers × geometry parameters
    for name, (value, bad) in BAD_INTS.items():
        nonull = bad or value is None
        cases += [
            ApiCase(f"output_size-n-{name}", c.output_size, (value, 3), must_fail=nonull),
            ApiCase(f"output_size-k-{name}", c.output_size, (8, value), must_fail=nonull),
            ApiCase(f"output_size-s-{name}", c.output_size, (8, 3, value), must_fail=nonull),
            ApiCase(f"output_size-d-{name}", c.output_size, (8, 3, 1, 0, value), must_fail=nonull),
            ApiCase(f"pool_output_size-{name}", c.pool_output_size, (8, value), must_fail=nonull),
            ApiCase(f"same_padding-{name}", c.same_padding, (8, value), must_fail=nonull),
            ApiCase(
                f"transposed-{name}", c.transposed_output_size, (8, 3, value), must_fail=nonull
            ),
            ApiCase(f"conv_formula-{name}", c.conv_formula, (8, 3, value), must_fail=nonull),
            ApiCase(f"uncovered-{name}", c.uncovered_cells, (8, 3, value), must_fail=nonull),
            ApiCase(f"solve-{name}", c.solve_stride_padding, (value, 4, 3), must_fail=nonull),
            ApiCase(
                f"geometry-{name}",
                c.Geometry.resolve,
                ((8, 8), 3),
                {"stride": value},
                must_fail=bad,  # stride=None is Geometry's default
            ),
            ApiCase(
                f"conv2d-stride-{name}", c.conv2d, (x4, k4), {"stride": value}, must_fail=nonull
            ),
            ApiCase(
                f"conv2d-dilation-{name}",
                c.conv2d,
                (x4, k4),
                {"dilation": value},
                must_fail=nonull,
            ),
            ApiCase(
                f"conv2d-padding-{name}",
                c.conv2d,
                (x4, k4),
                {"padding": value},
                must_fail=bad and name != "zero",
            ),
            ApiCase(
                f"filter2d-stride-{name}", c.filter2d, (x, k3), {"stride": value}, must_fail=nonull
            ),
            ApiCase(f"pool2d-size-{name}", c.pool2d, (x, value), must_fail=nonull),
            ApiCase(
                f"pool2d-padding-{name}",
                c.pool2d,
                (x, 2),
                {"padding": value},
                must_fail=bad and name != "zero",
            ),
            ApiCase(f"learn-size-{name}", c.learn_kernel, (x, x, value), must_fail=nonull),
            ApiCase(f"gallery-tile-{name}", _gallery, (value,), must_fail=nonull),
        ]
    for i, text in enumerate(BAD_KERNEL_TEXTS):
        short = text[:12]
        cases += [
            ApiCase(f"get_kernel{i}[{short}]", c.get_kernel, (text,), must_fail=text != ""),
            ApiCase(f"resolve_kernel{i}[{short}]", c.resolve_kernel, (text,), must_fail=True),
        ]
    for i, text in enumerate(BAD_MATRICES):
        cases.append(
            ApiCase(f"parse_matrix{i}[{text[:12]}]", c.parse_matrix, (text,), must_fail=True)
        )
    for i, text in enumerate(BAD_LAYERS):
        cases.append(ApiCase(f"parse_layers{i}[{text[:12]}]", _layers, (text,), must_fail=True))
    for name, value in [
        ("mode", "nosuch"),
        ("pad_mode", "nosuch"),
        ("strategy", "nosuch"),
        ("threads", 0),
        ("threads", -1),
        ("memory_budget", 0),
        ("memory_budget", -5),
        ("dtype", "int8"),
        ("dtype", "complex128"),
        ("pad_value", float("nan")),
        ("groups", 0),
        ("groups", 5),
    ]:
        call = c.pool2d if name == "mode" else c.conv2d
        args = (x, 2) if name == "mode" else (x4, k4)
        cases.append(
            ApiCase(f"{call.__name__}-{name}-{value}", call, args, {name: value}, must_fail=True)
        )
    cases += [
        ApiCase("map_range-mode", c.map_range, (x, "nosuch", 1.0), must_fail=True),
        ApiCase("map_range-nan-max", c.map_range, (x, "clip", float("nan")), must_fail=True),
        ApiCase("output_format-xyz", c.output_format, ("o.xyz",), must_fail=True),
        ApiCase("output_format-none", c.output_format, ("noext",), must_fail=True),
        ApiCase("analyze-bad-shape", _analyze, ((0, 28, 28),), must_fail=True),
        ApiCase("analyze-neg-shape", _analyze, ((1, -28, 28),), must_fail=True),
        ApiCase("analyze-huge-shape", _analyze, ((1, 10**400, 28),), must_fail=False),
    ]
    return cases


def _gallery(tile):
    image = convcli.read_image(_npy_image())
    return convcli.make_gallery(image, [("box", convcli.get_kernel("box:3"))], tile=tile)


def _npy_image():
    import io

    buf = io.BytesIO()
    np.save(buf, np.random.default_rng(0).random((6, 7)))
    buf.seek(0)
    return buf


def _layers(text):
    return convcli.parse_layers(text)


def _analyze(shape):
    return convcli.analyze_network(convcli.parse_layers("conv 4 k3, relu"), shape)


#: calls that still go wrong: id -> why (each a bug to fix, counted in the summary);
#: one that starts working must leave the table, unless its reason says it "may pass"
KNOWN_BUGS: dict[str, str] = {}

SUMMARY: dict[str, int | list[str]] = {}


def _snapshot(values):
    return [np.array(v, copy=True) if isinstance(v, np.ndarray) else None for v in values]


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    if a.dtype.kind in "fc":
        return np.array_equal(a, b, equal_nan=True)
    return a.dtype == b.dtype and a.shape == b.shape and bool(np.all(a == b))


def _has_nan(value: object) -> bool:
    """Whether a result (an array, an Image's pixels, a tuple or list of them) holds NaN."""
    if isinstance(value, (tuple, list)):
        return any(_has_nan(v) for v in value)
    value = getattr(value, "pixels", value)
    if isinstance(value, np.ndarray) and value.dtype.kind in "fc":
        return bool(np.isnan(value).any())
    return False


def _run(case: ApiCase) -> list[str]:
    values = [*case.args, *case.kwargs.values()]
    before = _snapshot(values)
    problems = []
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        try:
            result = case.call(*case.args, **case.kwargs)
        except ConvcliError:
            pass
        except Exception as exc:  # every other kind is the failure under test
            problems.append(f"{type(exc).__name__}: {str(exc)[:120]}")
        else:
            if case.must_fail:
                problems.append("returned where an error was due")
            if _has_nan(result) and not any(_has_nan(v) for v in values):
                problems.append("silent NaN: a result holds NaN its inputs did not")
    for old, new in zip(before, values, strict=True):
        if old is not None and not _same(old, new):
            problems.append("an input array was changed")
    return problems


def image_file_cases(folder: Path) -> list[ApiCase]:
    families = build_images(folder)
    cases = []
    for family in ("damaged", "zero", "bomb", "npy"):
        for name in families[family]:
            may = name.startswith(("short.", "wrong.")) or name in ("d4.npy", "big-values.npy")
            cases.append(
                ApiCase(
                    f"read_image-{name}",
                    convcli.read_image,
                    (str(folder / name),),
                    must_fail=not may and name != "c9.npy",
                )
            )
    return cases


#: each call runs in a forked child under this address-space limit, for this long
MEMORY_CAP = 4 * 2**30
TIMEOUT = 30


def _run_isolated(case: ApiCase, run: Callable[[ApiCase], list[str]] | None = None) -> list[str]:
    """Run `case` (through `run`, default :func:`_run`) in a forked child with capped
    memory: a runaway allocation or a hang is reported as such instead of taking the
    test run down."""
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)

    def child() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))
        send.send((run or _run)(case))

    proc = ctx.Process(target=child)
    proc.start()
    send.close()
    try:
        if receive.poll(TIMEOUT):
            return receive.recv()
        return [f"hang: no answer within {TIMEOUT} s"]
    except EOFError:
        return [f"crash: the child died (exit {proc.exitcode})"]
    finally:
        proc.kill()
        proc.join()


def test_api_corpus(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where an unpickled payload would leave PWNED
    cases = api_cases() + image_file_cases(tmp_path)
    assert len({c.id for c in cases}) == len(cases)
    results = {c.id: _run_isolated(c) for c in cases}
    counts: dict[str, int] = {}
    for problems in results.values():
        for p in problems:
            kind = p.split(":")[0]
            counts[kind] = counts.get(kind, 0) + 1
    SUMMARY.update(
        cases=len(cases),
        wrong=sum(bool(p) for p in results.values()),
        by_kind=counts,  # type: ignore[dict-item]
        mutated=sum("an input array was changed" in p for p in results.values()),
        silent_nan=sum("silent NaN" in " ".join(p) for p in results.values()),
        internal=sum(
            any(
                not x.startswith(("returned", "an input", "silent NaN", "hang", "crash")) for x in p
            )
            for p in results.values()
        ),
        hangs=sum(any(x.startswith("hang") for x in p) for p in results.values()),
        crashes=sum(any(x.startswith("crash") for x in p) for p in results.values()),
        known_bugs=sorted(KNOWN_BUGS),
    )
    path = Path(os.environ.get("CONVCLI_CORPUS_API_SUMMARY") or tmp_path / "api-summary.json")
    path.write_text(
        json.dumps({"summary": SUMMARY, "wrong": {k: v for k, v in results.items() if v}}, indent=1)
    )
    assert not (tmp_path / PWNED).exists(), "a pickle was unpickled"
    fixed = [k for k in KNOWN_BUGS if not results.get(k) and not KNOWN_BUGS[k].startswith("may")]
    assert not fixed, f"fixed now, remove from KNOWN_BUGS: {fixed}"
    wrong = [f"{k}: {v}" for k, v in results.items() if v and k not in KNOWN_BUGS]
    assert not wrong, f"{len(wrong)} of {len(cases)} API cases wrong:\n" + "\n".join(wrong)


@pytest.mark.parametrize("spec", ["box:3", "gaussian:sigma=1.5", "1 0; 0 -1"])
def test_api_good_kernels_still_work(spec):
    """A control: the corpus's checks do not refuse good input."""
    kernel = convcli.resolve_kernel(spec)
    out = convcli.filter2d(np.ones((6, 7)), kernel.weights)
    assert out.shape == (6, 7) and np.isfinite(out).all()


# ------------------------------------------ issue 21 (items 5-8, 14) through the API
#
# Each call failed before its fix: NaN mapped to black without a word, a bare
# ValueError (int max str digits) or RecursionError out of the JSON readers, a
# bias that made every value infinite (and a RuntimeWarning), an axis of 10**400
# cells counted cell by cell.

_DIGITS = "7" * 5000


def _bias(bias):
    """filter_image of an 8-bit image (computed in float32) with ``bias``."""
    import io

    buf = io.BytesIO()
    np.save(buf, np.random.default_rng(0).integers(0, 256, (6, 7), dtype=np.uint8))
    buf.seek(0)
    image = convcli.read_image(buf)
    return convcli.filter_image(
        image, [convcli.get_kernel("box:3")], convcli.FilterSettings(bias=bias)
    )


def issue21b_api_cases() -> list[ApiCase]:
    c = convcli
    nan = np.array([[1.0, np.nan], [3.0, 4.0]])
    inf = np.array([[1.0, -np.inf]], dtype=np.float32)
    cases = [
        ApiCase(f"map_range-nan-{mode}", c.map_range, (nan, mode, 255), must_fail=True)
        for mode in ("clip", "abs", "normalize", "offset", "auto", "raw")
    ]
    cases += [
        ApiCase("map_range-inf", c.map_range, (inf, "clip", 1.0), must_fail=True),
        ApiCase("parse_kernel-digits-json", c.parse_kernel, (f"[[{_DIGITS}, 1]]",), must_fail=True),
        ApiCase("parse_matrix-digits", c.parse_matrix, (f"[[{_DIGITS}]]",), must_fail=True),
        ApiCase(
            "load_spec-digits",
            c.load_spec,
            ('[{"type": "conv", "filters": ' + _DIGITS + "}]",),
            must_fail=True,
        ),
        ApiCase("parse_layers-digits", c.parse_layers, (f"conv {_DIGITS}",), must_fail=True),
        ApiCase(
            "load_spec-deep-braces",
            c.load_spec,
            ('{"layers": ' * 3000 + "[]" + "}" * 3000,),
            must_fail=True,
        ),
        ApiCase("filter_image-bias-1e308", _bias, (1e308,), must_fail=True),
        ApiCase("filter_image-bias-3e38", _bias, (3e38,)),  # float32 holds it: may return
        ApiCase("uncovered_cells-10**400", c.uncovered_cells, (10**400, 3), {"stride": 2}),
    ]
    return cases


def test_issue21b_api_corpus():
    results = {c.id: _run_isolated(c) for c in issue21b_api_cases()}
    wrong = [f"{k}: {v}" for k, v in results.items() if v]
    assert not wrong, "\n".join(wrong)


def test_map_range_names_the_first_nan():
    """NaN has no pixel: refused like the engine refuses it, naming where (issue 21 item 8)."""
    values = np.zeros((3, 4))
    values[2, 1] = np.nan
    with pytest.raises(
        convcli.ShapeError, match=r"`values` holds a non-finite value \(nan\) at index \(2, 1\)"
    ):
        convcli.map_range(values, "clip", 255)


def test_a_huge_axis_is_counted_without_a_cell_array():
    """uncovered_cells(10**400, 3, stride=2): the windows reach all but the last cell."""
    assert convcli.uncovered_cells(10**400, 3, stride=2) == 1


#: convcli 0.1's flat modules and where 0.2 moved them (git show 550a8ac)
OLD_MODULES = {
    "convcli.atomic": "convcli.images.atomic",
    "convcli.filtering": "convcli.images.filtering",
    "convcli.gallery": "convcli.teaching.gallery",
    "convcli.imageio": "convcli.images.io",
    "convcli.learn": "convcli.teaching.learn",
    "convcli.matrices": "convcli.teaching.matrices",
    "convcli.network": "convcli.arithmetic.network",
    "convcli.pngwrite": "convcli.images.png",
    "convcli.pool_image": "convcli.images.pooling",
    "convcli.pooling": "convcli.engine.pooling",
    "convcli.shapes": "convcli.arithmetic.sizes",
    "convcli.strategies": "convcli.engine.strategies",
}
#: names of 0.1's modules that are packages now (engine.py, kernels.py, teaching.py)
OLD_NAMES = [
    ("convcli.engine", "conv2d"),
    ("convcli.engine", "filter2d"),
    ("convcli.engine", "pad"),
    ("convcli.kernels", "get_kernel"),
    ("convcli.kernels", "Kernel"),
    ("convcli.teaching", "conv_steps"),
]

_IMPORT_OLD = """
import importlib, json, sys, warnings
old, new, names = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
report = {}
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    if names:
        module = importlib.import_module(old)
        report["same"] = all(
            getattr(module, n) is getattr(importlib.import_module("convcli"), n) for n in names
        )
    else:
        report["same"] = importlib.import_module(old) is importlib.import_module(new)
report["warnings"] = [(w.category.__name__, str(w.message), w.filename) for w in caught]
print(json.dumps(report))
"""


def _import_in_a_fresh_interpreter(old: str, new: str, names: list[str]) -> dict:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_OLD, old, new, json.dumps(names)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout)


@pytest.mark.parametrize(("old", "new"), sorted(OLD_MODULES.items()))
def test_an_old_module_name_still_imports_with_a_deprecation_warning(old, new):
    """``import convcli.imageio`` (0.1) gives convcli.images.io itself and says so
    once (issue 21 item 14: the name vanished with no alias)."""
    report = _import_in_a_fresh_interpreter(old, new, [])
    assert report["same"]
    assert [w[:2] for w in report["warnings"]] == [
        [
            "DeprecationWarning",
            f"{old} is deprecated and will be removed in 0.4; use {new} "
            "(or the same names from convcli)",
        ]
    ]


@pytest.mark.parametrize(("package", "name"), OLD_NAMES)
def test_an_old_name_of_a_module_now_a_package_still_works(package, name):
    """``from convcli.engine import conv2d`` (engine was a module in 0.1): one warning."""
    done = _import_in_a_fresh_interpreter(package, "", [name])
    assert done["same"]
    ((category, message, filename),) = done["warnings"]
    assert category == "DeprecationWarning"
    assert message.startswith(f"{package}.{name} is deprecated and will be removed in 0.4; use ")
    assert filename == "<string>"  # the warning points at the caller's line


@pytest.mark.parametrize(
    "call",
    [
        lambda: convcli.filter2d(np.ones((5, 5)), np.ones((3, 3)), threads=0),
        lambda: convcli.filter2d(np.ones((5, 5)), np.ones((3, 3)), strategy="nosuch"),
        lambda: convcli.filter2d(np.ones((5, 5)), np.ones((3, 3)), memory_budget=-1),
        lambda: convcli.pool2d(np.ones((1, 1, 4, 4)), 2, mode="nosuch"),
        lambda: convcli.map_range(np.ones(3), "nosuch", 255),
    ],
    ids=["threads", "strategy", "memory_budget", "pool-mode", "range-mode"],
)
def test_code_catching_shape_error_still_catches_parameter_errors(call):
    """0.1 raised ShapeError for these values; 0.2's ParameterError was not one, so
    ``except ShapeError`` missed them (issue 21 item 14). For 0.3 it is (deprecated)."""
    with pytest.raises(convcli.ShapeError) as info:
        call()
    assert isinstance(info.value, convcli.ParameterError)
    assert isinstance(info.value, ValueError)


# ------------------------------------------------ issue 21 (items 2, 11): limits
#
# Calls that raised a bare MemoryError or OverflowError (or passed a limit the
# message said an option would lift): each must now raise LimitError before
# allocating, in a child under MEMORY_CAP as above.


def _bomb_png(path: Path, side: int = 200_000) -> Path:
    """A valid 1×1 PNG whose header says ``side`` × ``side`` (a decompression bomb)."""
    import struct
    import zlib

    import PIL.Image

    PIL.Image.new("L", (1, 1)).save(path)
    data = bytearray(path.read_bytes())
    data[16:24] = struct.pack(">II", side, side)  # IHDR width, height
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))
    return path


def _write_gif(width: int) -> None:
    import io

    convcli.write_image(io.BytesIO(), np.zeros((1, width), np.uint8), format="gif")


def _im2col_huge() -> None:
    convcli.im2col(np.zeros((1, 1, 3000, 3000), np.float32), 41)  # 48+ GiB of patches


def _padding_under_raised_limit() -> None:
    """A 10100×10100 output is refused by default and allowed once the limit is raised."""
    from convcli.arithmetic.limits import output_pixel_limit

    x = np.zeros((1, 1, 100, 100), np.float32)
    w = np.ones((1, 1, 1, 1), np.float32)
    try:
        convcli.conv2d(x, w, padding=5000, pad_mode="circular")
    except convcli.LimitError:
        pass
    else:
        raise AssertionError("10100×10100 passed the default limit")
    with output_pixel_limit(200_000_000):
        out = convcli.conv2d(x, w, padding=5000, pad_mode="circular")
    assert out.shape == (1, 1, 10100, 10100)
    raise convcli.LimitError("the raised limit let it through")  # the expected outcome


def issue21_limit_cases(folder: Path) -> list[ApiCase]:
    return [
        ApiCase(
            "read_image-bomb-no-limit",
            convcli.read_image,
            (str(_bomb_png(folder / "bomb-header.png")),),
            {"max_pixels": None},
        ),
        ApiCase("write_image-gif-70000", _write_gif, (70000,)),
        ApiCase("im2col-48GiB", _im2col_huge),
        ApiCase("conv2d-padding-raised-limit", _padding_under_raised_limit),
    ]


def _run_limit(case: ApiCase) -> list[str]:
    try:
        case.call(*case.args, **case.kwargs)
    except convcli.LimitError:
        return []
    except BaseException as exc:
        return [f"{type(exc).__name__}: {str(exc)[:160]}"]
    return ["returned where a LimitError was due"]


@pytest.mark.parametrize("index", range(4))
def test_issue21_calls_raise_limit_errors(tmp_path, index):
    case = issue21_limit_cases(tmp_path)[index]
    assert _run_isolated(case, _run_limit) == [], case.id
