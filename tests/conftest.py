"""Shared fixtures: small test images of every kind convcli reads, built in tmp_path.

Each image fixture returns a :class:`SampleImage`: the file's path and the
arrays a correct reader must decode from it (``pixels`` colour channels only,
``alpha`` apart), built with numpy and written with Pillow or numpy directly,
never with convcli. Lossy files (JPEG) set ``tolerance`` to the largest
per-pixel difference a test should accept. Images are 12 rows by 16 columns
unless said otherwise (not square, so a transposed result cannot pass).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import PIL.Image
import pytest

HEIGHT, WIDTH = 12, 16

#: The heavy families, marked ``slow`` here and only here: plain ``pytest`` deselects them
#: (``-m "not slow"`` in pyproject's addopts) and finishes in about 40 seconds on 2 cores;
#: ``pytest -m ''`` (the README's test line, and CI) runs every test. Whole files:
SLOW_FILES = {
    "test_stdio.py",  # the installed command in shell pipelines
    "test_shape_narrow.py",  # the installed command under a pty at 80 and 60 columns
    "test_newcomer_walk.py",  # the installed command, as a newcomer runs it
    "test_kernels_terminal.py",  # the installed command under a pty
    "test_models_same_table.py",  # torch exports one network four ways
    "test_count_as.py",  # the four MAC counters on torch models
    "test_benchmarks.py",  # runs each benchmark script in quick mode
    "test_cli_terminal.py",  # the installed command under a pseudo-terminal
    "test_cluster.py",  # real dask schedulers and workers
    "test_cluster_safety.py",
    "test_corpus.py",  # hundreds of hostile inputs through the installed command
    "test_corpus_api.py",
    "test_doc_examples.py",  # every example of the README and docs/, as printed
    "test_help_examples.py",  # every --help example
    "test_learn_tiled.py",  # learn's memory bound on a large pair
    "test_pool_streaming.py",  # images larger than memory, in tiles
    "test_resume.py",  # batches stopped and resumed
    "test_signal_latency.py",  # signals sent to running batches
    "test_signals.py",
    "test_storage.py",  # URLs over a loopback HTTP server, OME-Zarr pyramids
    "test_streaming.py",
    "test_table_widths.py",  # the installed command at several terminal widths
    "test_tiled.py",
    "test_models_torch.py",  # models built, run and exported by torch
    "test_shape_onnx_exported.py",  # models exported by torch.onnx
    "test_explorer_browser.py",  # a real headless Chromium
    "test_notebook.py",  # a real Jupyter kernel
    "test_explorer.py",  # torch as the oracle of every page (importing it: ~1.5 s)
}
#: ... and single tests of files kept fast: ``file::function`` (every parametrization) or
#: ``file::function[id]`` (that one).
SLOW_TESTS = {
    "test_import_layers.py::test_import_graph_is_acyclic",  # every package's import graph
    "test_import_layers.py::test_import_graph_is_acyclic_counting_type_only_imports",
    "test_unet_valid.py::test_valid_unet_sizes_match_the_paper_rule",  # Hypothesis, brute force
    "test_unet.py::test_unet_sizes_that_work_match_torch",  # torch forward passes
    "test_default_range.py::test_edge_kernels_are_visible_on_every_photo",
    "test_docs.py::test_naming_a_slow_file_runs_it",  # a second pytest, collecting
    "test_batch_memory.py::test_memory_does_not_grow_with_the_number_of_files",  # 200 files
    "test_default_range.py::test_every_edge_map_shows_well",
    "test_animate.py::test_installed_command_writes_identical_bytes_twice",
    "test_engine.py::test_budget_holds_for_strips_spectra_and_flat_patches",
    "test_engine.py::test_conv2d_property_float32",
    "test_engine.py::test_im2col_matches_torch_unfold",
    "test_engine.py::test_peak_memory_stays_under_budget",
    "test_engine.py::test_conv2d_matches_torch",
    "test_engine.py::test_rank_one_kernels_match_the_loop_reference",
    "test_engine.py::test_rows_read_straight_from_the_input_match_the_loop",
    "test_engine.py::test_threads_and_tiny_tiles_give_the_scipy_result",
    "test_fft_blocks.py::test_any_plan_equals_the_sliding_window_oracle",
    "test_filtering.py::test_bands_match_scipy",
    "test_layer_blas.py::test_a_wide_layer_by_default_matches_torch",  # importing torch: ~3 s
    "test_layer_blas.py::test_layers_match_torch",
    "test_limits_table.py::test_the_command_line_exits_as_the_table_says",
    "test_plain_table.py::test_plain_drawing_is_what_rich_draws",
    "test_pooling.py::test_pool2d_matches_torch",
    "test_running_sum.py::test_filter2d_keeps_room_for_the_weights_it_was_given",
    "test_shape_onnx.py::test_installed_command_prints_the_table",
    "test_solve_closed_form.py::test_every_small_case_is_the_brute_force",
    "test_startup_imports.py::test_command_imports_only_what_it_uses",
    "test_shape_in_range.py::test_in_range_matches_a_brute_force_loop",  # Hypothesis
    "test_rank_one.py::test_no_decomposition_for_huge_kernels",
    "test_fft_blocks.py::test_the_cost_model_sends_large_kernels_down_their_paths",
    "test_engine_overheads.py::test_scan_agrees_with_numpy_on_any_array",  # Hypothesis
    "test_jpegstrips.py::test_ctrl_c_mid_batch_leaves_only_complete_files",
    "test_jpegstrips.py::test_the_command_writes_strips_through_a_pipe",
    "test_jpegstrips.py::test_at_a_terminal_with_relative_paths",
    "test_npystream.py::test_identity_to_npy_peaks_like_the_png_path",  # a large image
    "test_shape_narrow.py::test_exported_onnx_model_fits",  # torch.onnx.export
    "test_stdio.py::test_a_reader_that_goes_away_is_not_a_success",
    "test_passes.py::test_the_command_filters_with_a_huge_separable_kernel",
    # the installed command again, where the file keeps quicker in-process tests
    "test_startup_imports.py::test_pipe_and_beside_paths_import_what_o_imports",  # 8 runs
    "test_cli_learn.py::test_every_prints_when_piped",
    "test_cli_filter.py::test_jobs_batch_in_chunks_writes_every_file_right",  # 70 files
    "test_steps_padding.py::test_installed_conv_steps_mark_zero_and_reflect_padding",
    "test_models_keras.py::test_the_installed_command_from_another_folder_at_80_columns_and_piped",
    "test_rank_one.py::test_kernels_show_prints_the_corners_of_a_huge_kernel",
    "test_cli_filter.py::test_pipeline_through_stdin_and_stdout",  # a pipeline, as test_stdio
    "test_cli_filter.py::test_help_shows_no_empty_range",  # five --help runs, as test_help_examples
    "test_shape_out_cli.py::test_choices_are_streamed_and_the_reader_may_stop",  # closed pipes
    "test_cli_kernels.py::test_show_shades_sobel_weights_by_size_at_a_terminal",  # a pty
    # torch forward passes as the oracle (the file's own rules stay in the fast suite)
    "test_unet.py::test_unet_preset_matches_torch",
    "test_unet_valid.py::test_valid_unet_shapes_match_a_forward_pass",
    "test_unet_valid.py::test_valid_unet_parameters_match_torch",
    "test_docs.py::test_doctests[convcli.images.omezarr]",  # imports zarr (~1 s)
}
#: ... and sweeps of many cases along one path: the fast suite runs every ``n``-th case and
#: each case that brings a value of a parameter not run yet (random seeds aside), so every
#: value of every parameter still runs once; ``pytest -m ''`` runs them all.
SAMPLED = {
    "test_animate.py::test_frames_follow_the_convolution_formula": 10,  # 504 geometries
    "test_animate.py::test_transposed_frames_and_values": 10,  # 288
    "test_animate.py::test_pooling_frames_and_values": 10,  # 162
    "test_running_sum.py::test_random_box_problems_match_an_independent_oracle": 8,  # 40 seeds
    "test_solve_closed_form.py::test_random_dilations_strides_paddings_and_limits": 4,  # 4 seeds
    "test_passes.py::test_passes_match_numpy_padding_and_correlate1d": 12,
    "test_dilated_span.py::test_tap_path_equals_scipy_correlate_with_the_dilated_kernel": 20,
    "test_layer_blas.py::test_layer_keeps_the_memory_budget": 6,
    "test_overlap.py::test_overlapped_bytes_are_the_serial_paths": 10,
}
#: Hypothesis tests run ``max(FAST_EXAMPLES_FLOOR, max_examples // FAST_EXAMPLES_DIVISOR)``
#: examples in the fast suite (their own ``@settings`` count, or Hypothesis's 100), and their
#: full count under ``pytest -m ''`` or when named.
FAST_EXAMPLES_DIVISOR = 5
FAST_EXAMPLES_FLOOR = 5


def pytest_configure(config):
    """Naming files or tests runs them whole: the fast suite's ``-m "not slow"`` (pyproject's
    addopts) applies to a bare ``pytest`` only, so ``pytest tests/test_cluster.py`` runs
    the cluster tests rather than none. An ``-m`` on the command line always wins."""
    explicit = config.args_source != pytest.Config.ArgsSource.TESTPATHS
    typed_m = any(a == "-m" or a.startswith("-m") for a in config.invocation_params.args)
    if explicit and not typed_m and config.option.markexpr == "not slow":
        config.option.markexpr = ""


def pytest_ignore_collect(collection_path, config):
    """In the fast suite, do not even import the slow files (torch, dask, pty helpers)."""
    if config.option.markexpr == "not slow" and collection_path.name in SLOW_FILES:
        return True
    return None


@pytest.hookimpl(tryfirst=True)  # before the -m filter reads the marks
def pytest_collection_modifyitems(config, items):
    """Mark the tests of :data:`SLOW_FILES` and :data:`SLOW_TESTS`, and all but every
    n-th case of :data:`SAMPLED`, ``slow``; in the fast suite, run fewer Hypothesis examples."""
    cases: dict[str, int] = {}  # cases of each SAMPLED test met so far
    values: set[tuple[str, str, str]] = set()  # (test, parameter, repr of its value) run
    fast = config.option.markexpr == "not slow"
    for item in items:
        name = f"{item.path.name}::{getattr(item, 'originalname', item.name)}"
        if item.path.name in SLOW_FILES or {name, f"{item.path.name}::{item.name}"} & SLOW_TESTS:
            item.add_marker(pytest.mark.slow)
            continue
        if name in SAMPLED:
            index = cases[name] = cases.get(name, -1) + 1
            callspec = getattr(item, "callspec", None)
            chosen = callspec.params.items() if callspec else ()
            new = {(name, arg, repr(value)) for arg, value in chosen if arg != "seed"} - values
            if index % SAMPLED[name] and not new:
                item.add_marker(pytest.mark.slow)
                continue
            values.update(new)
        if fast:
            _fewer_examples(item)


def _fewer_examples(item: pytest.Item) -> None:
    """Give a Hypothesis test of the fast suite a fifth of its examples.

    Explicit ``@settings(max_examples=...)`` outrank a settings profile, so the count is
    lowered on the test itself, where Hypothesis's own pytest plugin also adjusts it.
    """
    test = getattr(item, "obj", None)
    if not getattr(test, "is_hypothesis_test", False):
        return
    fn = getattr(test, "__func__", test)
    if getattr(fn, "_convcli_fewer_examples", False):  # one function, several parametrizations
        return
    current = getattr(fn, "_hypothesis_internal_use_settings", None)
    if current is None:  # Hypothesis moved its settings: fail loudly, not slowly
        raise pytest.UsageError(f"{item.nodeid}: no Hypothesis settings to lower (conftest.py)")
    from hypothesis import settings

    fewer = max(FAST_EXAMPLES_FLOOR, current.max_examples // FAST_EXAMPLES_DIVISOR)
    fn._hypothesis_internal_use_settings = settings(
        current, max_examples=min(current.max_examples, fewer)
    )
    fn._convcli_fewer_examples = True


@dataclass
class SampleImage:
    """A test image on disk and what it must decode to."""

    path: Path
    pixels: np.ndarray
    alpha: np.ndarray | None = None
    tolerance: int = 0

    def __fspath__(self) -> str:
        return str(self.path)


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _u8(seed: int, *shape: int) -> np.ndarray:
    return _rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


def _palette_image(indices: np.ndarray, colours: list[tuple[int, int, int]]) -> PIL.Image.Image:
    h, w = indices.shape
    im = PIL.Image.frombytes("P", (w, h), np.ascontiguousarray(indices, dtype=np.uint8).tobytes())
    im.putpalette([c for colour in colours for c in colour])
    return im


# Orientation fixture: the array as stored in the file, and what a viewer shows.
EXIF_STORED = np.array([[10, 20, 30], [40, 50, 60]], dtype=np.uint8)
#: Orientation 6 means "rotate 90° clockwise to display": the left column,
#: read bottom to top, becomes the top row.
EXIF6_DISPLAYED = np.array([[40, 10], [50, 20], [60, 30]], dtype=np.uint8)
#: Orientation 8 means "rotate 90° counter-clockwise to display": the right
#: column, read top to bottom, becomes the top row.
EXIF8_DISPLAYED = np.array([[30, 60], [20, 50], [10, 40]], dtype=np.uint8)


@pytest.fixture
def gray_png(tmp_path: Path) -> SampleImage:
    """8-bit grayscale PNG (mode L) of random values: pixels (12, 16) uint8."""
    pixels = _u8(1, HEIGHT, WIDTH)
    path = tmp_path / "gray.png"
    PIL.Image.fromarray(pixels).save(path)
    return SampleImage(path, pixels)


@pytest.fixture
def rgb_png(tmp_path: Path) -> SampleImage:
    """8-bit RGB PNG of random values: pixels (12, 16, 3) uint8."""
    pixels = _u8(2, HEIGHT, WIDTH, 3)
    path = tmp_path / "rgb.png"
    PIL.Image.fromarray(pixels).save(path)
    return SampleImage(path, pixels)


@pytest.fixture
def rgba_png(tmp_path: Path) -> SampleImage:
    """RGBA PNG: random colour (12, 16, 3) uint8 and random alpha (12, 16) uint8."""
    pixels = _u8(3, HEIGHT, WIDTH, 3)
    alpha = _u8(4, HEIGHT, WIDTH)
    path = tmp_path / "rgba.png"
    PIL.Image.fromarray(np.dstack([pixels, alpha])).save(path)
    return SampleImage(path, pixels, alpha)


@pytest.fixture
def la_png(tmp_path: Path) -> SampleImage:
    """Grayscale + alpha PNG (mode LA): gray (12, 16) uint8 and alpha (12, 16) uint8."""
    pixels = _u8(5, HEIGHT, WIDTH)
    alpha = _u8(6, HEIGHT, WIDTH)
    path = tmp_path / "la.png"
    PIL.Image.fromarray(np.dstack([pixels, alpha])).save(path)
    return SampleImage(path, pixels, alpha)


PALETTE = [(255, 0, 0), (0, 128, 0), (0, 0, 255), (250, 200, 10)]


@pytest.fixture
def palette_png(tmp_path: Path) -> SampleImage:
    """Palette PNG (mode P, 4 colours, no transparency): decodes to RGB (12, 16, 3) uint8."""
    indices = _rng(7).integers(0, len(PALETTE), size=(HEIGHT, WIDTH))
    path = tmp_path / "palette.png"
    _palette_image(indices, PALETTE).save(path)
    return SampleImage(path, np.array(PALETTE, dtype=np.uint8)[indices])


@pytest.fixture
def palette_transparent_png(tmp_path: Path) -> SampleImage:
    """Palette PNG whose index 3 is transparent: RGB (12, 16, 3) plus alpha 0 there, else 255."""
    indices = _rng(8).integers(0, len(PALETTE), size=(HEIGHT, WIDTH))
    path = tmp_path / "palette_transparent.png"
    _palette_image(indices, PALETTE).save(path, transparency=3)
    alpha = np.where(indices == 3, 0, 255).astype(np.uint8)
    return SampleImage(path, np.array(PALETTE, dtype=np.uint8)[indices], alpha)


@pytest.fixture
def bilevel_png(tmp_path: Path) -> SampleImage:
    """1-bit PNG (mode 1) of random bits: decodes to grayscale (12, 16) uint8 of 0 and 255."""
    bits = _rng(9).integers(0, 2, size=(HEIGHT, WIDTH)).astype(bool)
    path = tmp_path / "bilevel.png"
    PIL.Image.fromarray(bits).save(path)
    return SampleImage(path, np.where(bits, 255, 0).astype(np.uint8))


@pytest.fixture
def gray16_png(tmp_path: Path) -> SampleImage:
    """16-bit grayscale PNG (mode I;16) spanning 0..65535: pixels (12, 16) uint16."""
    pixels = _rng(10).integers(0, 65536, size=(HEIGHT, WIDTH), dtype=np.uint16)
    pixels[0, :2] = (0, 65535)
    path = tmp_path / "gray16.png"
    PIL.Image.fromarray(pixels).save(path)
    return SampleImage(path, pixels)


@pytest.fixture
def gray16_tiff(tmp_path: Path) -> SampleImage:
    """16-bit grayscale TIFF (mode I;16): pixels (12, 16) uint16."""
    pixels = _rng(11).integers(0, 65536, size=(HEIGHT, WIDTH), dtype=np.uint16)
    path = tmp_path / "gray16.tif"
    PIL.Image.fromarray(pixels).save(path)
    return SampleImage(path, pixels)


@pytest.fixture
def float32_tiff(tmp_path: Path) -> SampleImage:
    """32-bit float grayscale TIFF (mode F) with values in -1..2: pixels (12, 16) float32."""
    pixels = (_rng(12).random((HEIGHT, WIDTH)) * 3 - 1).astype(np.float32)
    path = tmp_path / "float32.tif"
    PIL.Image.fromarray(pixels).save(path)
    return SampleImage(path, pixels)


@pytest.fixture
def rgb_jpeg(tmp_path: Path) -> SampleImage:
    """RGB JPEG (quality 95) of smooth ramps: pixels (16, 24, 3) uint8, lossy (tolerance 6)."""
    y, x = np.mgrid[0:16, 0:24]
    pixels = np.dstack([x * 8 + 20, y * 10 + 30, np.full_like(x, 128)]).astype(np.uint8)
    path = tmp_path / "rgb.jpg"
    PIL.Image.fromarray(pixels).save(path, quality=95)
    return SampleImage(path, pixels, tolerance=6)


@pytest.fixture
def exif6_png(tmp_path: Path) -> SampleImage:
    """Grayscale PNG stored as EXIF_STORED (2×3) with EXIF orientation 6: displays as
    EXIF6_DISPLAYED (3×2), the stored image turned 90° clockwise."""
    exif = PIL.Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "exif6.png"
    PIL.Image.fromarray(EXIF_STORED).save(path, exif=exif)
    return SampleImage(path, EXIF6_DISPLAYED)


@pytest.fixture
def exif8_jpeg(tmp_path: Path) -> SampleImage:
    """Grayscale JPEG stored as EXIF_STORED with each value an 8×8 block (16×24),
    EXIF orientation 8: displays as EXIF8_DISPLAYED in 8×8 blocks (24×16), lossy
    (tolerance 4)."""
    stored = np.kron(EXIF_STORED, np.ones((8, 8), dtype=np.uint8))
    exif = PIL.Image.Exif()
    exif[0x0112] = 8
    path = tmp_path / "exif8.jpg"
    PIL.Image.fromarray(stored).save(path, quality=95, exif=exif)
    displayed = np.kron(EXIF8_DISPLAYED, np.ones((8, 8), dtype=np.uint8))
    return SampleImage(path, displayed, tolerance=4)


@pytest.fixture
def animated_gif(tmp_path: Path) -> SampleImage:
    """Animated grayscale GIF with 3 different frames: pixels are the first frame (12, 16) uint8."""
    frames = [_u8(20 + i, HEIGHT, WIDTH) for i in range(3)]
    images = [PIL.Image.fromarray(f) for f in frames]
    path = tmp_path / "anim.gif"
    images[0].save(path, save_all=True, append_images=images[1:], duration=100, loop=0)
    return SampleImage(path, frames[0])


@pytest.fixture
def rgb_webp(tmp_path: Path) -> SampleImage:
    """Lossless RGB WebP of random values: pixels (12, 16, 3) uint8."""
    pixels = _u8(13, HEIGHT, WIDTH, 3)
    path = tmp_path / "rgb.webp"
    PIL.Image.fromarray(pixels).save(path, lossless=True)
    return SampleImage(path, pixels)


@pytest.fixture
def rgb_bmp(tmp_path: Path) -> SampleImage:
    """24-bit RGB BMP of random values: pixels (12, 16, 3) uint8."""
    pixels = _u8(14, HEIGHT, WIDTH, 3)
    path = tmp_path / "rgb.bmp"
    PIL.Image.fromarray(pixels).save(path)
    return SampleImage(path, pixels)


@pytest.fixture
def gray_pgm(tmp_path: Path) -> SampleImage:
    """8-bit binary PGM (P5): pixels (12, 16) uint8."""
    pixels = _u8(15, HEIGHT, WIDTH)
    path = tmp_path / "gray.pgm"
    PIL.Image.fromarray(pixels).save(path)
    return SampleImage(path, pixels)


@pytest.fixture
def gray16_pgm(tmp_path: Path) -> SampleImage:
    """16-bit binary PGM (P5, maxval 65535) written byte by byte: pixels (12, 16) uint16."""
    pixels = _rng(16).integers(0, 65536, size=(HEIGHT, WIDTH), dtype=np.uint16)
    path = tmp_path / "gray16.pgm"
    header = f"P5\n{WIDTH} {HEIGHT}\n65535\n".encode()
    path.write_bytes(header + pixels.astype(">u2").tobytes())
    return SampleImage(path, pixels)


@pytest.fixture
def rgb_ppm(tmp_path: Path) -> SampleImage:
    """8-bit binary PPM (P6) written byte by byte: pixels (12, 16, 3) uint8."""
    pixels = _u8(17, HEIGHT, WIDTH, 3)
    path = tmp_path / "rgb.ppm"
    path.write_bytes(f"P6\n{WIDTH} {HEIGHT}\n255\n".encode() + pixels.tobytes())
    return SampleImage(path, pixels)


@pytest.fixture
def gray_npy(tmp_path: Path) -> SampleImage:
    """.npy array (12, 16) float32 in 0..1: pixels as stored."""
    pixels = _rng(18).random((HEIGHT, WIDTH)).astype(np.float32)
    path = tmp_path / "gray.npy"
    np.save(path, pixels)
    return SampleImage(path, pixels)


@pytest.fixture
def rgb_npy(tmp_path: Path) -> SampleImage:
    """.npy tensor (3, 12, 16) uint8, channels first as convcli's .npy files are."""
    pixels = _u8(19, HEIGHT, WIDTH, 3)
    path = tmp_path / "rgb.npy"
    np.save(path, np.ascontiguousarray(pixels.transpose(2, 0, 1)))
    return SampleImage(path, pixels)


@pytest.fixture
def rgba_npy(tmp_path: Path) -> SampleImage:
    """.npy tensor (4, 12, 16) uint16: colour is the first 3 planes, alpha the last."""
    data = _rng(21).integers(0, 65536, size=(HEIGHT, WIDTH, 4), dtype=np.uint16)
    path = tmp_path / "rgba.npy"
    np.save(path, np.ascontiguousarray(data.transpose(2, 0, 1)))
    return SampleImage(path, data[..., :3], data[..., 3])


@pytest.fixture
def truncated_png(tmp_path: Path) -> Path:
    """A 64×64 RGB PNG cut after half of its bytes: a valid header, missing pixel data."""
    path = tmp_path / "truncated.png"
    PIL.Image.fromarray(_u8(22, 64, 64, 3)).save(path, compress_level=0)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.fixture
def text_file(tmp_path: Path) -> Path:
    """A plain text file named notes.txt: not an image."""
    path = tmp_path / "notes.txt"
    path.write_text("shopping list\n- eggs\n- milk\n")
    return path


#: Names of the fixtures above that hold a readable image, for parametrising.
IMAGE_FIXTURES = (
    "gray_png",
    "rgb_png",
    "rgba_png",
    "la_png",
    "palette_png",
    "palette_transparent_png",
    "bilevel_png",
    "gray16_png",
    "gray16_tiff",
    "float32_tiff",
    "rgb_jpeg",
    "exif6_png",
    "exif8_jpeg",
    "animated_gif",
    "rgb_webp",
    "rgb_bmp",
    "gray_pgm",
    "gray16_pgm",
    "rgb_ppm",
    "gray_npy",
    "rgb_npy",
    "rgba_npy",
)


@pytest.fixture
def numpy_engine(monkeypatch):
    """The numpy engine alone (``CONVCLI_ENGINE=numpy``): for tests of how the numpy
    strategies and their cost model behave, whether or not the native core is built."""
    from convcli.engine import native

    monkeypatch.setenv("CONVCLI_ENGINE", "numpy")
    native.reset()
    yield
    native.reset()  # the next call reads the restored environment


@pytest.fixture(params=("generic", "avx2", "avx512"))
def variant(request):
    """Each native variant this CPU runs, forced for the test, then the default restored."""
    native = pytest.importorskip("convcli.engine._native", reason="native extension not built")
    if request.param not in native.supported():
        pytest.skip(f"this CPU does not run the {request.param} variant")
    before = native.isa()
    native.use(request.param)
    yield request.param
    native.use(before)
