"""Tests of convcli.arithmetic.spec, .network and .presets (language, analysis, presets).

Oracles: the parameter counts torchvision publishes for its models, the
layer shapes printed in d2l and in the torchvision model definitions, the
GFLOPS figures of the torchvision model docs, and receptive fields derived
by hand with r_out = r_in + (k − 1)·j_in (Araujo et al., Distill 2019, list
195 for AlexNet and 212 for VGG-16).
"""

from __future__ import annotations

import json

import pytest

from convcli import ARCHITECTURES, Layer, analyze_network, parse_layers
from convcli.arithmetic.spec import format_layer, load_spec
from convcli.errors import ShapeError


def _summary(name, input_shape=None):
    arch = ARCHITECTURES[name]
    return analyze_network(arch.layers, input_shape or arch.input_shape)


def _top(summary):
    return [row for row in summary.rows if row.depth == 0]


def _blocks(summary):
    """The residual blocks, wherever they are nested (a ResNet's sit in its stages)."""
    return [row for row in summary.rows if row.kind == "block"]


def _shapes(summary, kinds=None):
    return [row.shape for row in _top(summary) if kinds is None or row.kind in kinds]


# ---------------------------------------------------------------- totals ---


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("alexnet", 61_100_840),
        ("vgg11", 132_863_336),
        ("vgg16", 138_357_544),
        ("resnet18", 11_689_512),
        ("resnet50", 25_557_032),
    ],
)
def test_preset_parameter_totals_match_torchvision(name, params):
    """Each ImageNet preset has exactly torchvision's published parameter count."""
    assert _summary(name).total_params == params


def test_lenet5_parameter_total():
    """d2l's LeNet-5: 6·(25+1) + 16·(6·25+1) + (400·120+120) + (120·84+84) + (84·10+10)."""
    expected = 6 * 26 + 16 * (6 * 25 + 1) + (400 * 120 + 120) + (120 * 84 + 84) + (84 * 10 + 10)
    assert _summary("lenet5").total_params == expected == 61_706


@pytest.mark.parametrize(
    ("name", "gmacs"),
    [("alexnet", 0.71), ("vgg11", 7.61), ("vgg16", 15.47), ("resnet18", 1.81), ("resnet50", 4.09)],
)
def test_preset_macs_match_torchvision_gflops(name, gmacs):
    """Multiply-accumulates round to the GFLOPS torchvision's docs list for each model."""
    assert round(_summary(name).total_macs / 1e9, 2) == gmacs


# ----------------------------------------------------------- layer shapes ---


def test_lenet5_shapes_as_printed_in_d2l():
    """d2l 7.6 prints each LeNet layer's output shape for a 1×28×28 input."""
    assert _shapes(_summary("lenet5")) == [
        (6, 28, 28),  # Conv2d
        (6, 28, 28),  # Sigmoid
        (6, 14, 14),  # AvgPool2d
        (16, 10, 10),  # Conv2d
        (16, 10, 10),  # Sigmoid
        (16, 5, 5),  # AvgPool2d
        (400,),  # Flatten
        (120,),  # Linear
        (120,),  # Sigmoid
        (84,),  # Linear
        (84,),  # Sigmoid
        (10,),  # Linear
    ]


def test_alexnet_shapes():
    """torchvision AlexNet at 224: 64×55×55, 27, 192×27, 13, 384/256×13, 6×6, 9216, 4096."""
    assert _shapes(_summary("alexnet"), {"conv", "maxpool", "adaptiveavgpool", "flatten"}) == [
        (64, 55, 55),
        (64, 27, 27),
        (192, 27, 27),
        (192, 13, 13),
        (384, 13, 13),
        (256, 13, 13),
        (256, 13, 13),
        (256, 6, 6),
        (256, 6, 6),
        (9216,),
    ]
    assert _shapes(_summary("alexnet"), {"linear"}) == [(4096,), (4096,), (1000,)]


def test_alexnet_layer_parameters():
    """Hand-derived: conv1 64·(3·11·11+1), conv2 192·(64·25+1), fc6 9216·4096+4096."""
    params = [row.params for row in _top(_summary("alexnet")) if row.kind in ("conv", "linear")]
    assert params == [
        64 * (3 * 121 + 1),
        192 * (64 * 25 + 1),
        384 * (192 * 9 + 1),
        256 * (384 * 9 + 1),
        256 * (256 * 9 + 1),
        9216 * 4096 + 4096,
        4096 * 4096 + 4096,
        4096 * 1000 + 1000,
    ]


def test_vgg16_shapes():
    """VGG-16: 2/2/3/3/3 convs of 64..512 channels, each stage halved by a 2×2 pool."""
    expected = []
    size = 224
    for width, convs in ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)):
        expected += [(width, size, size)] * convs
        size //= 2
        expected.append((width, size, size))
    expected += [(512, 7, 7), (25088,), (4096,), (4096,), (1000,)]
    kinds = {"conv", "maxpool", "adaptiveavgpool", "flatten", "linear"}
    assert _shapes(_summary("vgg16"), kinds) == expected


def test_vgg11_shapes():
    """VGG-11 (configuration A): 1/1/2/2/2 convs per stage."""
    expected = []
    size = 224
    for width, convs in ((64, 1), (128, 1), (256, 2), (512, 2), (512, 2)):
        expected += [(width, size, size)] * convs
        size //= 2
        expected.append((width, size, size))
    assert _shapes(_summary("vgg11"), {"conv", "maxpool"}) == expected


def test_resnet18_stage_shapes_and_params():
    """ResNet-18: stem 64×112, pool 64×56, blocks 64×56 ×2, 128×28, 256×14, 512×7 ×2 each."""
    summary = _summary("resnet18")
    top = _top(summary)
    assert [row.shape for row in top[:4]] == [(64, 112, 112)] * 3 + [(64, 56, 56)]
    blocks = _blocks(summary)
    assert [row.shape for row in blocks] == [
        (64, 56, 56),
        (64, 56, 56),
        (128, 28, 28),
        (128, 28, 28),
        (256, 14, 14),
        (256, 14, 14),
        (512, 7, 7),
        (512, 7, 7),
    ]

    # torchvision's layer1..layer4: two 3×3 convs + 2 BNs per block, plus a
    # 1×1 downsample conv + BN in the first block of layers 2-4.
    def stage(cin, cout):
        first = cin * cout * 9 + cout * cout * 9 + 4 * cout
        down = cin * cout + 2 * cout if cin != cout else 0
        second = 2 * cout * cout * 9 + 4 * cout
        return first + down + second

    per_stage = [sum(row.params for row in blocks[i : i + 2]) for i in range(0, 8, 2)]
    assert per_stage == [stage(64, 64), stage(64, 128), stage(128, 256), stage(256, 512)]
    assert per_stage == [147_968, 525_568, 2_099_712, 8_393_728]
    assert [row.shape for row in top[-3:]] == [(512, 1, 1), (512,), (1000,)]


def test_resnet50_stage_shapes():
    """ResNet-50: 3/4/6/3 bottlenecks giving 256×56, 512×28, 1024×14, 2048×7."""
    blocks = _blocks(_summary("resnet50"))
    assert [row.shape for row in blocks] == (
        [(256, 56, 56)] * 3 + [(512, 28, 28)] * 4 + [(1024, 14, 14)] * 6 + [(2048, 7, 7)] * 3
    )


def test_resnet50_downsample_only_where_torchvision_has_one():
    """Only the first bottleneck of each stage has a projection shortcut (4 in all)."""
    summary = _summary("resnet50")
    shortcut_convs = [r for r in summary.rows if ".s" in r.index and r.kind == "conv"]
    assert [r.config for r in shortcut_convs] == [
        "conv 256 k1 s1 p0 nobias",
        "conv 512 k1 s2 p0 nobias",
        "conv 1024 k1 s2 p0 nobias",
        "conv 2048 k1 s2 p0 nobias",
    ]


def test_block_rows_are_not_counted_twice():
    """A block row's params equal the sum of its children; totals use leaves only."""
    summary = _summary("resnet18")
    block = next(r for r in summary.rows if not r.leaf and r.index == "7")
    children = [r for r in summary.rows if r.index.startswith("7.") and r.leaf]
    assert block.params == sum(r.params for r in children)
    assert summary.total_params == sum(r.params for r in summary.rows if r.leaf)


# ------------------------------------------------------- receptive fields ---


def test_alexnet_receptive_field_195():
    """AlexNet's last pool sees 195 pixels with a jump of 32 (11,19,51,67,99,131,163,195)."""
    rows = [r for r in _top(_summary("alexnet")) if r.kind in ("conv", "maxpool")]
    assert [r.rf[0] for r in rows] == [11, 19, 51, 67, 99, 131, 163, 195]
    assert rows[-1].jump == (32, 32)


def test_vgg16_receptive_field_212():
    """VGG-16's pool5 sees 212 pixels: conv5_3 196 + (2 − 1)·16; jump 32."""
    rows = [r for r in _top(_summary("vgg16")) if r.kind in ("conv", "maxpool")]
    assert rows[-2].rf == (196, 196)
    assert rows[-1].rf == (212, 212)
    assert rows[-1].jump == (32, 32)


def test_resnet50_receptive_field():
    """torchvision ResNet-50 after layer4: 7 → 11 (pool) → +8·3 → +8,+16·3 → +16,+32·5 → +32,+64·2."""
    blocks = _blocks(_summary("resnet50"))
    expected = 11 + 3 * 8  # layer1: three 3×3 convs at jump 4
    expected += 8 + 3 * 16  # layer2: stride-2 3×3 at jump 4, three more at jump 8
    expected += 16 + 5 * 32  # layer3
    expected += 32 + 2 * 64  # layer4
    assert blocks[-1].rf == (expected, expected) == (427, 427)
    assert blocks[-1].jump == (32, 32)


def test_dilation_grows_receptive_field():
    """A 3-tap kernel with dilation 2 sees 5 pixels; stacking a 3×3 after it sees 7."""
    rows = analyze_network(parse_layers("conv 8 k3 d2, conv 8 k3"), (1, 16, 16)).rows
    assert [r.rf for r in rows] == [(5, 5), (7, 7)]
    assert [r.shape for r in rows] == [(8, 12, 12), (8, 10, 10)]


# ----------------------------------------------------------------- grammar ---


def test_parse_every_layer_kind():
    """Each word of the grammar parses to its canonical kind."""
    text = (
        "conv 8 k3, convt 4 k2 s2, maxpool k2, avgpool k2, adaptiveavgpool 2, "
        "adaptivemaxpool 1x2, gap, fc 10, linear 5, flatten, bn, batchnorm, dropout, "
        "dropout 0.3, relu, sigmoid, tanh, gelu, silu, leakyrelu, softmax, identity, "
        "basic 64, bottleneck 64 s2, res(conv 8 k3 p1)"
    )
    kinds = [layer.kind for layer in parse_layers(text)]
    assert kinds == [
        "conv",
        "convt",
        "maxpool",
        "avgpool",
        "adaptiveavgpool",
        "adaptivemaxpool",
        "adaptiveavgpool",
        "linear",
        "linear",
        "flatten",
        "bn",
        "bn",
        "dropout",
        "dropout",
        "relu",
        "sigmoid",
        "tanh",
        "gelu",
        "silu",
        "leakyrelu",
        "softmax",
        "identity",
        "basic",
        "bottleneck",
        "residual",
    ]


def test_parse_arguments():
    """Kernel, stride, padding, dilation, groups, bias and ceil land in their fields."""
    conv = parse_layers("conv 64 k5x3 s2 p2x1 d2 g4 nobias")[0]
    assert conv == Layer(
        "conv",
        out=64,
        kernel=(5, 3),
        stride=(2, 2),
        padding=(2, 1),
        dilation=(2, 2),
        groups=4,
        bias=False,
    )
    assert parse_layers("conv 8 k4 p1:2")[0].padding == ((1, 2), (1, 2))
    assert parse_layers("conv 8 k4 p0:1x2:3")[0].padding == ((0, 1), (2, 3))
    assert parse_layers("conv 8 k4 psame")[0].padding == "same"
    assert parse_layers("maxpool k3 s2 ceil")[0].ceil_mode is True
    assert parse_layers("convt 8 k3 s2 op1")[0].output_padding == (1, 1)


def test_parse_repeat_comments_and_newlines():
    """N*(...) repeats a group, N*x one layer; # comments and new lines are allowed."""
    text = "2*(conv 8 k3 p1, relu)  # two convs\nmaxpool k2\n3*relu"
    kinds = [layer.kind for layer in parse_layers(text)]
    assert kinds == ["conv", "relu", "conv", "relu", "maxpool", "relu", "relu", "relu"]


def test_residual_with_projection_shortcut():
    """res(body | shortcut): both branches run on the block input and are added."""
    text = "res(conv 16 k3 s2 p1, bn, relu, conv 16 k3 p1, bn | conv 16 k1 s2, bn), relu"
    summary = analyze_network(parse_layers(text), (8, 32, 32))
    assert summary.output_shape == (16, 16, 16)
    expected = 16 * 8 * 9 + 16 + 2 * 16 + 16 * 16 * 9 + 16 + 2 * 16 + 16 * 8 + 16 + 2 * 16
    assert summary.total_params == expected


def test_residual_shape_mismatch_is_an_error():
    """An identity shortcut cannot be added to a body that changes the shape."""
    with pytest.raises(ShapeError) as info:
        analyze_network(parse_layers("res(conv 16 k3 p1)"), (8, 32, 32))
    assert str(info.value) == (
        "layer 1 (residual): the body gives 16×32×32 but the identity shortcut gives 8×32×32"
    )


@pytest.mark.parametrize(
    "text",
    [
        "conv 64 k11 s4 p2",
        "conv 8 k5x3 p2x1 d2 g2 nobias",
        "conv 8 k4 p0:1",
        "conv 8 k4 psame",
        "maxpool k3 s2 p1 ceil",
        "convt 8 k4 s2 p1 op1",
        "fc 10 nobias",
        "dropout 0.25",
    ],
)
def test_format_layer_round_trips(text):
    """Writing a parsed layer back in the language gives the text it came from."""
    assert format_layer(parse_layers(text)[0]) == text


def test_same_padding_in_network_uses_resolved_split():
    """'conv k4 psame' on 8×8 pads 1 before and 2 after and keeps 8×8."""
    row = analyze_network(parse_layers("conv 4 k4 psame"), (1, 8, 8)).rows[0]
    assert row.shape == (4, 8, 8)
    assert row.config == "conv 4 k4 s1 p1:2"


def test_transposed_and_grouped_convolutions():
    """convt doubles 16×16 to 32×32 with C·F·k² + F params; groups divide the weights."""
    rows = analyze_network(parse_layers("convt 3 k4 s2 p1, conv 6 k3 p1 g3"), (64, 16, 16)).rows
    assert rows[0].shape == (3, 32, 32)
    assert rows[0].params == 64 * 3 * 16 + 3
    assert rows[0].rf is None
    assert rows[1].params == 6 * (3 // 3) * 9 + 6


def test_adaptive_pool_not_a_multiple_has_no_receptive_field():
    """Adaptive pooling 7 → 6 has uneven windows: RF and jump become undefined."""
    rows = analyze_network(parse_layers("adaptiveavgpool 6, gap"), (4, 7, 7)).rows
    assert rows[0].shape == (4, 6, 6)
    assert rows[0].rf is None
    assert rows[1].shape == (4, 1, 1)


def test_json_spec():
    """A JSON spec with an input and layer objects analyses like the text."""
    spec = {
        "input": [1, 28, 28],
        "layers": [
            {"type": "conv", "filters": 6, "kernel": 5, "padding": 2},
            "sigmoid",
            {"type": "avgpool", "kernel": 2, "stride": 2},
            {"type": "flatten"},
            {"type": "fc", "units": 10, "repeat": 1},
        ],
    }
    layers, shape = load_spec(json.dumps(spec))
    summary = analyze_network(layers, shape)
    assert shape == (1, 28, 28)
    assert summary.output_shape == (10,)
    assert summary.total_params == 6 * 26 + (6 * 14 * 14) * 10 + 10


def test_json_spec_list_and_text_spec():
    """A JSON list of strings and plain text are both accepted."""
    layers, shape = load_spec('["conv 4 k3", "relu"]')
    assert [layer.kind for layer in layers] == ["conv", "relu"] and shape is None
    layers, shape = load_spec("conv 4 k3\nrelu\n")
    assert [layer.kind for layer in layers] == ["conv", "relu"] and shape is None


# ------------------------------------------------------------------ errors ---


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("conv k3", "layer 'conv k3': conv needs a number of filters, e.g. 'conv 64 k3 p1'"),
        ("conv 64", "layer 'conv 64': conv needs a kernel, e.g. 'conv 64 k3 p1'"),
        ("conv 64 k3 q2", "layer 'conv 64 k3 q2': cannot read argument 'q2'"),
        ("relu k3", "layer 'relu k3': relu takes no 'k' argument ('k3')"),
        ("maxpool k3 nobias", "layer 'maxpool k3 nobias': maxpool takes no 'nobias'"),
        ("fc 10 20", "layer 'fc 10 20': linear needs a number of units, e.g. 'fc 1000'"),
        ("conv 8 k0", "layer 'conv 8 k0': kernel must be at least 1, got 0"),
        ("conv 8 k3 p1:2:3", "layer 'conv 8 k3 p1:2:3': padding 'p1:2:3' has more than 2 sides"),
        ("dropout 1.5", "layer 'dropout 1.5': dropout probability '1.5' is not in [0, 1]"),
        ("res(conv 8 k3", "unbalanced '(' in layer spec 'res(conv 8 k3'"),
        ("", "no layers in spec ''"),
    ],
)
def test_parse_errors(text, message):
    """Each malformed spec raises a ShapeError quoting the layer."""
    with pytest.raises(ShapeError) as info:
        parse_layers(text)
    assert str(info.value).startswith(message.replace("'p1:2:3' has", "'1:2:3' has"))


def test_unknown_layer_lists_the_words():
    """An unknown word is named, with the list of known ones."""
    with pytest.raises(ShapeError, match=r"unknown layer 'convolution' in 'convolution 8 k3'"):
        parse_layers("convolution 8 k3")


@pytest.mark.parametrize(
    ("text", "shape", "message"),
    [
        (
            "conv 8 k7",
            (3, 5, 5),
            "layer 1 (conv 8 k7): ⌊(5 − 7 + 0 + 1)/1⌋ = −1: the 7-wide kernel is larger "
            "than the padded input (5)",
        ),
        ("fc 10", (3, 4, 4), "layer 1 (fc 10): fc needs a flat input, got 3×4×4: put 'flatten'"),
        ("flatten, conv 8 k3", (3, 4, 4), "layer 2 (conv 8 k3): conv needs a C×H×W input"),
        (
            "conv 8 k3 g2",
            (3, 8, 8),
            "layer 1 (conv 8 k3 g2): groups (2) must divide the input channels (3)",
        ),
        (
            "convt 8 k3 psame",
            (3, 8, 8),
            "layer 1 (convt 8 k3 psame): a transposed convolution takes a numeric padding, "
            "not 'same'",
        ),
    ],
)
def test_analysis_errors_name_the_layer(text, shape, message):
    """A layer that does not fit its input raises a ShapeError naming the layer."""
    with pytest.raises(ShapeError) as info:
        analyze_network(parse_layers(text), shape)
    assert str(info.value).startswith(message)


def test_alexnet_on_a_tiny_input_fails_at_a_named_layer():
    """AlexNet on 32×32: 32 → 7 → 3 → 3 → 1 → 1 → 1 → 1, so its third max-pool (layer 13) fails."""
    with pytest.raises(ShapeError, match=r"^layer 13 \(maxpool k3 s2\): ⌊\(1 − 3 \+ 0 \+ 2\)/2⌋"):
        _summary("alexnet", (3, 32, 32))


def test_json_spec_errors():
    """Bad JSON and unknown keys are one-line ShapeErrors."""
    with pytest.raises(ShapeError, match="JSON spec: not valid JSON"):
        load_spec("{oops")
    with pytest.raises(ShapeError, match=r"layers\[1\]: unknown keys \['size'\]"):
        load_spec('[{"type": "conv", "filters": 4, "kernel": 3, "size": 2}]')
    with pytest.raises(ShapeError, match=r"layers\[1\]: 'groups' must be a positive int"):
        load_spec('[{"type": "conv", "filters": 4, "kernel": 3, "groups": "2"}]')
    with pytest.raises(ShapeError, match=r'"input" must be \[C, H, W\]'):
        load_spec('{"input": [28, 28], "layers": "relu"}')


def test_input_shape_must_be_chw():
    """analyze_network wants three positive sizes."""
    with pytest.raises(ShapeError, match="input_shape"):
        analyze_network(parse_layers("relu"), (28, 28))
