"""Model files for the tests: d2l's LeNet golden shapes, and Keras 3 configs written by hand.

``D2L_LENET`` is *Dive into Deep Learning*'s LeNet (§7.6) layer by layer, the
output shapes the book prints (batch of 1 dropped).

The Keras ``config.json`` files are written as ``model.save("m.keras")`` writes them.

TensorFlow and Keras are not installed for the tests: these dictionaries follow
Keras 3's serialization (``keras/src/saving/serialization_lib.py``:
``serialize_keras_object`` gives ``{"module", "class_name", "config",
"registered_name", "build_config"}``; ``Sequential.get_config`` lists the
InputLayer first; ``Functional.get_config`` adds ``inbound_nodes`` of
``__keras_tensor__`` arguments and ``input_layers``/``output_layers``).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

D2L_LENET = [
    ("conv", (6, 28, 28)),
    ("sigmoid", (6, 28, 28)),
    ("avgpool", (6, 14, 14)),
    ("conv", (16, 10, 10)),
    ("sigmoid", (16, 10, 10)),
    ("avgpool", (16, 5, 5)),
    ("flatten", (400,)),
    ("linear", (120,)),
    ("sigmoid", (120,)),
    ("linear", (84,)),
    ("sigmoid", (84,)),
    ("linear", (10,)),
]

#: d2l's LeNet with explicit input sizes, as PyTorch source (d2l's Lazy layers need d2l to run)
LENET = '''
import torch
from torch import nn


class LeNet(nn.Module):
    """d2l's LeNet with explicit input sizes (its Lazy layers need d2l to run)."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.Sigmoid(),
            nn.AvgPool2d(kernel_size=2, stride=2),
            nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(),
            nn.AvgPool2d(kernel_size=2, stride=2),
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120), nn.Sigmoid(),
            nn.Linear(120, 84), nn.Sigmoid(),
            nn.Linear(84, num_classes))

    def forward(self, x):
        return self.net(x)
'''

DTYPE = {
    "module": "keras",
    "class_name": "DTypePolicy",
    "config": {"name": "float32"},
    "registered_name": None,
}


def layer(class_name: str, name: str, input_shape: list | None = None, **config: Any) -> dict:
    """One serialized layer, with the base Layer's keys and a build_config."""
    entry: dict[str, Any] = {
        "module": "keras.layers",
        "class_name": class_name,
        "config": {"name": name, "trainable": True, "dtype": DTYPE, **config},
        "registered_name": None,
    }
    if input_shape is not None:
        entry["build_config"] = {"input_shape": input_shape}
    return entry


def conv(name, filters, kernel, input_shape, strides=(1, 1), padding="valid", activation="linear"):
    return layer(
        "Conv2D",
        name,
        input_shape,
        filters=filters,
        kernel_size=list(kernel),
        strides=list(strides),
        padding=padding,
        data_format="channels_last",
        dilation_rate=[1, 1],
        groups=1,
        activation=activation,
        use_bias=True,
        kernel_initializer={
            "module": "keras.initializers",
            "class_name": "GlorotUniform",
            "config": {"seed": None},
            "registered_name": None,
        },
        bias_initializer={
            "module": "keras.initializers",
            "class_name": "Zeros",
            "config": {},
            "registered_name": None,
        },
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
    )


def pool(class_name, name, input_shape, pool_size=(2, 2), strides=(2, 2), padding="valid"):
    return layer(
        class_name,
        name,
        input_shape,
        pool_size=list(pool_size),
        padding=padding,
        strides=list(strides),
        data_format="channels_last",
    )


def dense(name, units, input_shape, activation="linear"):
    return layer("Dense", name, input_shape, units=units, activation=activation, use_bias=True)


def input_layer(batch_shape) -> dict:
    return {
        "module": "keras.layers",
        "class_name": "InputLayer",
        "config": {
            "batch_shape": batch_shape,
            "dtype": "float32",
            "sparse": False,
            "ragged": False,
            "name": "input_layer",
            "optional": False,
        },
        "registered_name": None,
    }


def sequential(layers: list[dict], batch_shape: list) -> dict:
    return {
        "module": "keras",
        "class_name": "Sequential",
        "config": {
            "name": "sequential",
            "trainable": True,
            "dtype": DTYPE,
            "layers": [input_layer(batch_shape), *layers],
            "build_input_shape": batch_shape,
        },
        "registered_name": None,
        "build_config": {"input_shape": batch_shape},
        "compile_config": None,
    }


def lenet_config(activation: str = "sigmoid") -> dict:
    """d2l's LeNet (§7.6) as keras.Sequential: Conv2D(6, 5, padding='same', activation=...)."""
    return sequential(
        [
            conv("conv2d", 6, (5, 5), [None, 28, 28, 1], padding="same", activation=activation),
            pool("AveragePooling2D", "average_pooling2d", [None, 28, 28, 6]),
            conv("conv2d_1", 16, (5, 5), [None, 14, 14, 6], activation=activation),
            pool("AveragePooling2D", "average_pooling2d_1", [None, 10, 10, 16]),
            layer("Flatten", "flatten", [None, 5, 5, 16], data_format="channels_last"),
            dense("dense", 120, [None, 400], activation),
            dense("dense_1", 84, [None, 120], activation),
            dense("dense_2", 10, [None, 84]),
        ],
        [None, 28, 28, 1],
    )


def keras_tensor(source: str, shape: list) -> dict:
    return {
        "class_name": "__keras_tensor__",
        "config": {"shape": shape, "dtype": "float32", "keras_history": [source, 0, 0]},
    }


def functional(layers: list[tuple[dict, list]], batch_shape: list, output: str) -> dict:
    """A Functional model: each (layer, [(source, shape), ...]) gets its inbound node."""
    entries = [{**input_layer(batch_shape), "name": "input_layer", "inbound_nodes": []}]
    for entry, sources in layers:
        args = [keras_tensor(s, shape) for s, shape in sources]
        node = {"args": [args] if len(args) > 1 else args, "kwargs": {}}
        entries.append({**entry, "name": entry["config"]["name"], "inbound_nodes": [node]})
    return {
        "module": "keras",
        "class_name": "Functional",
        "config": {
            "name": "functional",
            "trainable": True,
            "layers": entries,
            "input_layers": [["input_layer", 0, 0]],
            "output_layers": [[output, 0, 0]],
        },
        "registered_name": "Functional",
        "build_config": {"input_shape": None},
        "compile_config": None,
    }


def write_keras(path: Path, config: dict) -> Path:
    """A .keras zip as saving_lib writes it: metadata.json, config.json (no weights needed)."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(
            "metadata.json", json.dumps({"keras_version": "3.12.0", "date_saved": "2026-12-07"})
        )
        archive.writestr("config.json", json.dumps(config))
    return path
