"""Keras configs (``.keras``, ``.h5``) and Keras / Flax source, read without TensorFlow or JAX.

Neither framework is installed: the ``.keras`` files are written by hand in
Keras 3's format (tests/keras_configs.py), and the expected sizes come from
the frameworks' documented formulas, computed here by explicit arithmetic:
Keras ``'valid'`` gives ⌊(n − k)/s⌋ + 1 and ``'same'`` ⌈n/s⌉; a transposed
convolution gives n·s + max(k − s, 0) (valid) or n·s (same) without
``output_padding``; Flax pools default to stride 1.
"""

from __future__ import annotations

import json
import math
import os
import sys

import pytest
from click.testing import CliRunner
from model_files import (
    D2L_LENET,
    LENET,
    conv,
    dense,
    functional,
    layer,
    lenet_config,
    pool,
    sequential,
    write_keras,
)

from convcli.cli import cli
from convcli.models.common import ModelError
from convcli.models.keras import read_keras
from convcli.models.read import read_model

KERAS_LENET_SOURCE = """
import keras
from keras import layers

model = keras.Sequential([
    keras.Input(shape=(28, 28, 1)),
    layers.Conv2D(6, 5, padding="same", activation="sigmoid"),
    layers.AveragePooling2D(pool_size=2, strides=2),
    layers.Conv2D(16, kernel_size=5, activation="sigmoid"),
    layers.AveragePooling2D(2),
    layers.Flatten(),
    layers.Dense(120, activation="sigmoid"),
    layers.Dense(84, activation="sigmoid"),
    layers.Dense(10),
])
"""


FLAX_LENET_SOURCE = """
import flax.linen as nn
import jax.numpy as jnp


class LeNet(nn.Module):
    num_classes: int = 10

    @nn.compact
    def __call__(self, x):
        x = nn.sigmoid(nn.Conv(features=6, kernel_size=(5, 5))(x))
        x = nn.avg_pool(x, window_shape=(2, 2), strides=(2, 2))
        x = nn.Conv(16, (5, 5), padding="VALID")(x)
        x = nn.sigmoid(x)
        x = nn.avg_pool(x, (2, 2), strides=(2, 2))
        x = x.reshape((x.shape[0], -1))
        x = nn.sigmoid(nn.Dense(120)(x))
        x = nn.sigmoid(nn.Dense(features=84)(x))
        return nn.Dense(self.num_classes)(x)
"""


def test_keras_lenet_golden_shapes(tmp_path):
    """d2l's LeNet as a hand-written Keras 3 .keras: the book's shapes, C×H×W, and a note."""
    model = read_keras(str(write_keras(tmp_path / "lenet.keras", lenet_config())))
    assert [(r.kind, r.shape[1:]) for r in model.summary.rows] == D2L_LENET
    assert model.summary.total_params == 61_706
    assert model.summary.input_shape == (1, 1, 28, 28)
    assert any("channels-last" in note for note in model.summary.notes)


def test_keras_source_and_flax_source_give_the_same_lenet(tmp_path):
    """LeNet written for Keras and for Flax (explicit pool strides) reads to the same rows."""
    keras_py = tmp_path / "keras_lenet.py"
    keras_py.write_text(KERAS_LENET_SOURCE, encoding="utf-8")
    flax_py = tmp_path / "flax_lenet.py"
    flax_py.write_text(FLAX_LENET_SOURCE, encoding="utf-8")
    from_keras = read_model(str(keras_py), code="model").summary
    from_flax = read_model(str(flax_py), "LeNet", given=(28, 28), channels=1).summary
    assert [(r.kind, r.shape[1:]) for r in from_keras.rows] == D2L_LENET
    assert [(r.kind, r.shape[1:]) for r in from_flax.rows] == D2L_LENET
    assert from_keras.total_params == from_flax.total_params == 61_706


def test_flax_pools_default_to_stride_one(tmp_path):
    """nn.avg_pool(x, (2, 2)) without strides slides by 1 in Flax: 28 → 27, not 14 as in PyTorch."""
    source = FLAX_LENET_SOURCE.replace(
        "nn.avg_pool(x, window_shape=(2, 2), strides=(2, 2))", "nn.avg_pool(x, (2, 2))"
    )
    path = tmp_path / "flax.py"
    path.write_text(source, encoding="utf-8")
    rows = read_model(str(path), "LeNet", given=(28, 28), channels=1).summary.rows
    assert rows[2].shape[1:] == (6, 28 - 2 + 1, 28 - 2 + 1)
    assert rows[3].shape[1:] == (16, 27 - 5 + 1, 27 - 5 + 1)


def test_flax_int_kernel_is_refused(tmp_path):
    """An int kernel_size is a 1-D kernel in Flax: refused at its line rather than guessed."""
    source = FLAX_LENET_SOURCE.replace("nn.Conv(16, (5, 5)", "nn.Conv(16, 5")
    path = tmp_path / "flax.py"
    path.write_text(source, encoding="utf-8")
    with pytest.raises(ModelError, match=r"flax\.py:13: an int kernel_size is a 1-D window"):
        read_model(str(path), "LeNet", given=(28, 28), channels=1)


def test_keras_py_and_torch_py_tables_match(tmp_path, monkeypatch):
    """`convcli shape` prints the same table body for the .keras, its Keras source and PyTorch source."""
    monkeypatch.chdir(tmp_path)
    write_keras(tmp_path / "lenet.keras", lenet_config())
    (tmp_path / "keras_lenet.py").write_text(KERAS_LENET_SOURCE, encoding="utf-8")
    (tmp_path / "lenet.py").write_text(LENET, encoding="utf-8")
    runner = CliRunner()
    env = {"COLUMNS": "100", "NO_COLOR": "1"}
    bodies = []
    for args in (
        ["lenet.keras"],
        ["keras_lenet.py", "--code", "model"],
        ["lenet.py", "--in", "28", "--channels", "1"],
    ):
        result = runner.invoke(cli, ["shape", *args], env=env)
        assert result.exit_code == 0, result.output
        bodies.append(result.stdout.splitlines()[1:])
    assert bodies[0] == bodies[1] == bodies[2]


def _same(n: int, s: int) -> int:
    return math.ceil(n / s)


def _valid(n: int, k: int, s: int) -> int:
    return (n - k) // s + 1


def test_functional_residual_and_transposed(tmp_path):
    """A Functional model: an Add of two branches is a residual block; Keras' transposed sizes."""
    x_shape = [None, 33, 20, 3]
    h, w = _same(33, 2), _same(20, 2)
    layers = [
        (
            conv("stem", 8, (3, 3), x_shape, strides=(2, 2), padding="same"),
            [("input_layer", x_shape)],
        ),
        (
            conv("body", 8, (3, 3), [None, h, w, 8], padding="same", activation="relu"),
            [("stem", [None, h, w, 8])],
        ),
        (
            layer("Add", "add", [[None, h, w, 8], [None, h, w, 8]]),
            [("body", [None, h, w, 8]), ("stem", [None, h, w, 8])],
        ),
        (
            layer(
                "Conv2DTranspose",
                "up",
                [None, h, w, 8],
                filters=4,
                kernel_size=[3, 3],
                strides=[2, 2],
                padding="valid",
                output_padding=None,
                dilation_rate=[1, 1],
                activation="linear",
                use_bias=True,
            ),
            [("add", [None, h, w, 8])],
        ),
        (
            pool("MaxPooling2D", "pool", None, pool_size=(3, 3), strides=(2, 2), padding="same"),
            [("up", None)],
        ),
        (layer("GlobalAveragePooling2D", "gap", None, keepdims=False), [("pool", None)]),
        (dense("out", 5, [None, 4]), [("gap", None)]),
    ]
    path = write_keras(tmp_path / "res.keras", functional(layers, x_shape, "out"))
    rows = read_keras(str(path)).summary.rows
    kinds = [(r.index, r.kind, r.shape[1:]) for r in rows]
    up_h, up_w = h * 2 + max(3 - 2, 0), w * 2 + max(3 - 2, 0)  # Keras: n·s + max(k − s, 0)
    assert kinds == [
        ("1", "conv", (8, h, w)),
        ("2", "block", (8, h, w)),
        ("2.1", "conv", (8, h, w)),
        ("2.2", "relu", (8, h, w)),
        ("2.+", "add", (8, h, w)),
        ("3", "convt", (4, up_h, up_w)),
        ("4", "maxpool", (4, _same(up_h, 2), _same(up_w, 2))),
        ("5", "adaptiveavgpool", (4, 1, 1)),
        ("6", "flatten", (4,)),
        ("7", "linear", (5,)),
    ]


def test_keras_transposed_same_and_valid_small_kernel(tmp_path):
    """Transposed sizes: 'same' gives n·s; 'valid' with k < s gives n·s (Keras' formula)."""
    for padding, kernel, expected in (("same", 3, 7 * 2), ("valid", 1, 7 * 3), ("same", 4, 7 * 2)):
        stride = 3 if kernel == 1 else 2
        cfg = sequential(
            [
                layer(
                    "Conv2DTranspose",
                    "up",
                    [None, 7, 7, 2],
                    filters=2,
                    kernel_size=[kernel, kernel],
                    strides=[stride, stride],
                    padding=padding,
                    dilation_rate=[1, 1],
                    activation="linear",
                    use_bias=True,
                )
            ],
            [None, 7, 7, 2],
        )
        path = write_keras(tmp_path / f"t{padding}{kernel}.keras", cfg)
        assert read_keras(str(path)).summary.rows[0].shape[1:] == (2, expected, expected)


def test_keras_h5_model_config(tmp_path):
    """A legacy .h5 (Keras 2's model.save) holds the config in its model_config attribute."""
    h5py = pytest.importorskip("h5py")
    keras2 = {
        "class_name": "Sequential",
        "config": {
            "name": "sequential",
            "layers": [
                {
                    "class_name": "Conv2D",
                    "config": {
                        "name": "conv2d",
                        "batch_input_shape": [None, 28, 28, 1],
                        "filters": 6,
                        "kernel_size": [5, 5],
                        "strides": [1, 1],
                        "padding": "same",
                        "data_format": "channels_last",
                        "dilation_rate": [1, 1],
                        "activation": "sigmoid",
                        "use_bias": True,
                    },
                },
                {
                    "class_name": "AveragePooling2D",
                    "config": {
                        "name": "p",
                        "pool_size": [2, 2],
                        "padding": "valid",
                        "strides": [2, 2],
                    },
                },
                {"class_name": "Flatten", "config": {"name": "flatten"}},
                {
                    "class_name": "Dense",
                    "config": {"name": "d", "units": 10, "activation": "softmax"},
                },
            ],
        },
    }
    path = tmp_path / "m.h5"
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(keras2)
        f.attrs["keras_version"] = "2.15.0"
    rows = read_keras(str(path)).summary.rows
    assert [(r.kind, r.shape[1:]) for r in rows] == [
        ("conv", (6, 28, 28)),
        ("sigmoid", (6, 28, 28)),
        ("avgpool", (6, 14, 14)),
        ("flatten", (6 * 14 * 14,)),
        ("linear", (10,)),
        ("softmax", (10,)),
    ]


def test_unknown_keras_layer_exits_2_with_its_name(tmp_path, monkeypatch):
    """A Keras layer convcli has no row for is named, and the command exits 2."""
    cfg = lenet_config()
    cfg["config"]["layers"].insert(2, layer("LSTM", "lstm", [None, 28, 28, 6], units=4))
    write_keras(tmp_path / "bad.keras", cfg)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["shape", "bad.keras"])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "Error: bad.keras: layer 'lstm' (LSTM): convcli has no row for the Keras layer LSTM"
    )


def test_keras_input_size_left_open_needs_in(tmp_path, monkeypatch):
    """An input of None×None asks for --in, and --in fills it."""
    cfg = sequential(
        [conv("c", 4, (3, 3), [None, None, None, 3], strides=(2, 2))], [None, None, None, 3]
    )
    write_keras(tmp_path / "open.keras", cfg)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = runner.invoke(cli, ["shape", "open.keras"])
    assert result.exit_code == 2
    assert "give --in" in result.stderr
    result = runner.invoke(cli, ["shape", "open.keras", "--in", "9", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["layers"][0]["output"] == ["N", 4, _valid(9, 3, 2), _valid(9, 3, 2)]
    assert data["source"] == "keras"


def test_a_zip_without_config_is_refused(tmp_path):
    """A .keras that is not a Keras archive says so (no traceback)."""
    (tmp_path / "x.keras").write_bytes(b"not a zip")
    result = CliRunner().invoke(cli, ["shape", str(tmp_path / "x.keras")])
    assert result.exit_code == 1
    assert "not a .keras file" in result.stderr


TOY_RESNET = """
import keras
from keras import layers

inputs = keras.Input(shape=(32, 32, 3), name="img")
x = layers.Conv2D(32, 3, activation="relu")(inputs)
x = layers.Conv2D(64, 3, activation="relu")(x)
block_1_output = layers.MaxPooling2D(3)(x)

x = layers.Conv2D(64, 3, activation="relu", padding="same")(block_1_output)
x = layers.Conv2D(64, 3, activation="relu", padding="same")(x)
block_2_output = layers.add([x, block_1_output])

x = layers.Conv2D(64, 3, activation="relu")(block_2_output)
x = layers.GlobalAveragePooling2D()(x)
x = layers.Dense(256, activation="relu")(x)
x = layers.Dropout(0.5)(x)
outputs = layers.Dense(10)(x)

model = keras.Model(inputs, outputs, name="toy_resnet")
"""


def test_keras_functional_source_with_a_residual_add(tmp_path):
    """The Keras guide's toy ResNet (one residual block): the add is a block, sizes by Keras' rules."""
    (tmp_path / "toy.py").write_text(TOY_RESNET, encoding="utf-8")
    summary = read_model(str(tmp_path / "toy.py"), code="model").summary
    top = [(r.kind, r.shape[1:]) for r in summary.rows if r.depth == 0]
    a = _valid(32, 3, 1)
    b = _valid(a, 3, 1)
    c = _valid(b, 3, 3)  # MaxPooling2D(3): strides default to the pool size
    d = _valid(c, 3, 1)
    assert top == [
        ("conv", (32, a, a)),
        ("relu", (32, a, a)),
        ("conv", (64, b, b)),
        ("relu", (64, b, b)),
        ("maxpool", (64, c, c)),
        ("block", (64, c, c)),
        ("conv", (64, d, d)),
        ("relu", (64, d, d)),
        ("adaptiveavgpool", (64, 1, 1)),
        ("flatten", (64,)),
        ("linear", (256,)),
        ("relu", (256,)),
        ("dropout", (256,)),
        ("linear", (10,)),
    ]
    # Keras' own count: 3·3·3·32+32, 3·3·32·64+64, 3 × (3·3·64·64+64), 64·256+256, 256·10+10
    assert summary.total_params == 896 + 18_496 + 3 * 36_928 + 16_640 + 2_570


def test_the_installed_command_from_another_folder_at_80_columns_and_piped(tmp_path):
    """As a person runs it: relative paths from a sibling folder, a terminal of 80 columns, a pipe."""
    import subprocess

    from terminal import convcli_executable, run_in_pty, strip_ansi

    models = tmp_path / "models"
    work = tmp_path / "work"
    models.mkdir()
    work.mkdir()
    write_keras(models / "lenet.keras", lenet_config())
    (models / "lenet.py").write_text(LENET, encoding="utf-8")
    wanted = ["117,600", "240,000", "48,120", "61,706", "16×10×10"]
    code, screen = run_in_pty(["shape", "../models/lenet.keras"], work, cols=80)
    screen = strip_ansi(screen)
    assert code == 0, screen
    assert all(len(line) <= 80 for line in screen.splitlines()), screen
    for number in wanted:
        assert number in screen, screen
    assert "Note: the model is channels-last" in screen
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    piped = subprocess.run(
        [convcli_executable(), "shape", "../models/lenet.py", "--in", "28", "--channels", "1"],
        cwd=work,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env=env,
        timeout=60,
        check=False,
    )
    assert piped.returncode == 0, piped.stderr
    assert "\x1b[" not in piped.stdout
    for number in wanted:
        assert number in piped.stdout
    assert piped.stdout.splitlines()[0].strip() == "lenet.py: LeNet: N×1×28×28 → N×10"


def test_keras_batchnorm_counts_two_parameters_a_channel_and_says_so(tmp_path):
    """BatchNormalization: gamma and beta count (2·C); the moving statistics are buffers, noted."""
    cfg = sequential(
        [
            conv("c", 8, (3, 3), [None, 16, 16, 3]),
            layer("BatchNormalization", "bn", [None, 14, 14, 8], axis=-1, center=True, scale=True),
        ],
        [None, 16, 16, 3],
    )
    summary = read_keras(str(write_keras(tmp_path / "bn.keras", cfg))).summary
    assert [r.params for r in summary.rows] == [3 * 3 * 3 * 8 + 8, 2 * 8]
    assert any("moving mean and variance are buffers" in note for note in summary.notes)


def test_flax_setup_style_module(tmp_path):
    """A Flax module built in setup() and called in __call__ reads like its compact form."""
    source = (
        "import flax.linen as nn\n\n\nclass CNN(nn.Module):\n    classes: int = 10\n\n"
        "    def setup(self):\n        self.conv = nn.Conv(8, (3, 3), strides=2, padding='VALID')\n"
        "        self.head = nn.Dense(self.classes)\n\n"
        "    def __call__(self, x):\n        x = nn.relu(self.conv(x))\n"
        "        x = x.mean(axis=(1, 2))\n        return self.head(x)\n"
    )
    (tmp_path / "cnn.py").write_text(source, encoding="utf-8")
    rows = read_model(str(tmp_path / "cnn.py"), code="CNN(classes=4)", given=(15, 15), channels=1)
    side = _valid(15, 3, 2)
    assert [(r.kind, r.shape[1:]) for r in rows.summary.rows] == [
        ("conv", (8, side, side)),
        ("relu", (8, side, side)),
        ("adaptiveavgpool", (8, 1, 1)),
        ("flatten", (8,)),
        ("linear", (4,)),
    ]


def test_h5_without_h5py_says_what_to_install(tmp_path, monkeypatch):
    """Without h5py, an .h5 model is refused in one line naming the package (exit 1)."""
    monkeypatch.setitem(sys.modules, "h5py", None)  # as if not installed
    (tmp_path / "m.h5").write_bytes(b"\x89HDF\r\n\x1a\n")
    result = CliRunner().invoke(cli, ["shape", str(tmp_path / "m.h5")])
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "Error: reading a Keras .h5 file needs the h5py package: pip install '.[keras]' (in convcli's folder)"
    )
