"""Model builders and their computed descriptions."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from analysis.models import networks as models


def expected_receptive_fields(kernels):
    """Independent recurrence: r += (k - 1) * jump; jump *= stride (conv stride 1, pool 2x2/2)."""
    r, jump, out = 1, 1, []
    for k in kernels:
        r += (k - 1) * jump
        out.append(r)
        r += (2 - 1) * jump
        jump *= 2
        out.append(r)
    return out


@pytest.mark.parametrize("kernels", [(3, 3, 3, 3), (5, 5, 5, 5), (7, 7, 7, 7), (3, 3, 5, 5)])
def test_cnn_description(kernels):
    model = models.build_cnn(64, 24, kernels)
    s = models.summary(model)
    assert [r["receptive_field"] for r in s["receptive_field_per_layer"]] == (
        expected_receptive_fields(kernels)
    )
    # Worked out by hand: convolution weights (no bias), 4 batch-norm values per channel, the
    # dense head with its bias.
    channels = [3, 32, 64, 128, 256]
    conv = sum(
        k * k * cin * cout
        for k, cin, cout in zip(kernels, channels[:-1], channels[1:], strict=True)
    )
    assert s["parameters"] == conv + 4 * sum(channels[1:]) + 256 * 24 + 24
    assert s["trainable_parameters"] == conv + 2 * sum(channels[1:]) + 256 * 24 + 24
    by_name = {layer["name"].split("_")[0]: layer for layer in s["layers"]}
    k1, k2 = kernels[0], kernels[1]
    assert by_name["conv1"]["flops"] == 2 * k1 * k1 * 3 * 32 * 64 * 64
    assert by_name["conv1"]["parameters"] == k1 * k1 * 3 * 32  # no bias: batch norm follows
    # The second block sees 32 input channels at 32 x 32 (after one pooling).
    assert by_name["conv2"]["flops"] == 2 * k2 * k2 * 32 * 64 * 32 * 32
    assert by_name["classes"]["flops"] == 2 * 256 * 24


def test_kernels_change_only_the_kernels():
    small = models.summary(models.build_cnn(64, 24, (3, 3, 3, 3)))
    large = models.summary(models.build_cnn(64, 24, (5, 5, 5, 5)))
    shapes = [(lay["kind"], lay["output_shape"]) for lay in small["layers"]]
    assert shapes == [(lay["kind"], lay["output_shape"]) for lay in large["layers"]]
    assert large["parameters"] > small["parameters"]


def test_baseline_has_no_convolution():
    s = models.summary(models.build_baseline(32, 24))
    assert not any(layer["kind"] == "Conv2D" for layer in s["layers"])
    dense = next(layer for layer in s["layers"] if layer["name"] == "dense_512")
    assert dense["parameters"] == 32 * 32 * 3 * 512 + 512


# --- tiny models, worked out layer by layer -------------------------------------------------

RNG = np.random.default_rng(0)


def layer_table(model):
    return [
        (layer.name, type(layer).__name__, tuple(layer.output.shape[1:]), layer.count_params())
        for layer in model.layers
    ]


def test_baseline_architecture():
    model = models.build_baseline(8, 3)
    assert model.name == "baseline"
    assert layer_table(model) == [
        ("image", "InputLayer", (8, 8, 3), 0),
        ("scale", "Rescaling", (8, 8, 3), 0),
        ("flatten", "Flatten", (192,), 0),  # 8 * 8 * 3 pixels, each its own input
        ("dense_512", "Dense", (512,), 192 * 512 + 512),
        ("dropout", "Dropout", (512,), 0),
        ("dense_256", "Dense", (256,), 512 * 256 + 256),
        ("classes", "Dense", (3,), 256 * 3 + 3),
    ]
    activations = [
        model.get_layer(n).get_config()["activation"] for n in ("dense_512", "dense_256")
    ]
    assert activations == ["relu", "relu"]
    assert model.inputs[0].dtype == "float32"


@pytest.mark.parametrize("build", [models.build_baseline, models.build_cnn])
def test_models_take_0_to_255_pixels_and_answer_a_distribution(build):
    # 16 pixels: the default CNN halves the size four times
    model = build(16, 3)
    white = np.full((1, 16, 16, 3), 255.0, dtype="float32")
    assert np.asarray(model.get_layer("scale")(white)) == pytest.approx(1.0)  # 255 -> 1.0
    images = RNG.uniform(0, 255, (5, 16, 16, 3)).astype("float32")
    probs = np.asarray(model(images, training=False))
    assert probs.shape == (5, 3)
    assert (probs > 0).all() and probs.sum(axis=1) == pytest.approx(1.0, abs=1e-5)


def dropout_mask(model, size=20_000):
    return np.asarray(model.get_layer("dropout")(np.ones((1, size)), training=True))[0]


@pytest.mark.parametrize(("build", "rate"), [(models.build_baseline, 0.3), (models.build_cnn, 0.5)])
def test_dropout_rate_and_seed(build, rate):
    mask = dropout_mask(build(16, 3))
    # inverted dropout: a unit is zeroed with probability `rate`, the rest scaled by 1/(1-rate)
    assert np.mean(mask == 0) == pytest.approx(rate, abs=0.02)
    assert mask[mask != 0] == pytest.approx(1 / (1 - rate))
    # the mask is fixed by the seed (default 0), and another seed draws another one
    assert np.array_equal(dropout_mask(build(16, 3)), mask)
    assert np.array_equal(dropout_mask(build(16, 3, seed=0)), mask)
    assert not np.array_equal(dropout_mask(build(16, 3, seed=1)), mask)
    assert build(16, 3, seed=5).get_layer("dropout").get_config()["seed"] == 5


def test_cnn_architecture():
    model = models.build_cnn(8, 3, kernel_sizes=(3, 5), filters=(4, 6))
    assert model.name == "cnn_3-5_w4-6"
    assert layer_table(model) == [
        ("image", "InputLayer", (8, 8, 3), 0),
        ("scale", "Rescaling", (8, 8, 3), 0),
        # `same` padding, stride 1: the size stays; no bias; batch norm: 4 values a channel
        ("conv1_3x3", "Conv2D", (8, 8, 4), 3 * 3 * 3 * 4),
        ("bn1", "BatchNormalization", (8, 8, 4), 4 * 4),
        ("relu1", "ReLU", (8, 8, 4), 0),
        ("pool1", "MaxPooling2D", (4, 4, 4), 0),
        ("conv2_5x5", "Conv2D", (4, 4, 6), 5 * 5 * 4 * 6),
        ("bn2", "BatchNormalization", (4, 4, 6), 4 * 6),
        ("relu2", "ReLU", (4, 4, 6), 0),
        ("pool2", "MaxPooling2D", (2, 2, 6), 0),
        ("gap", "GlobalAveragePooling2D", (6,), 0),
        ("dropout", "Dropout", (6,), 0),
        ("classes", "Dense", (3,), 6 * 3 + 3),
    ]
    assert model.inputs[0].dtype == "float32"


def test_cnn_defaults_four_blocks_of_32_to_256_3x3_filters():
    model = models.build_cnn(16, 3)
    assert model.name == "cnn_3-3-3-3"  # the default widths are not spelled out in the name
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [(c.name, c.filters, c.kernel_size) for c in convs] == [
        ("conv1_3x3", 32, (3, 3)),
        ("conv2_3x3", 64, (3, 3)),
        ("conv3_3x3", 128, (3, 3)),
        ("conv4_3x3", 256, (3, 3)),
    ]
    # 16 -> 8 -> 4 -> 2 -> 1 through the four poolings
    assert [tuple(model.get_layer(f"pool{i}").output.shape[1:3]) for i in range(1, 5)] == [
        (8, 8),
        (4, 4),
        (2, 2),
        (1, 1),
    ]
    assert models.build_cnn(8, 3, (3, 3), (32, 64)).name == "cnn_3-3_w32-64"


@pytest.mark.parametrize(("momentum", "kwargs"), [(0.9, {}), (0.5, {"bn_momentum": 0.5})])
def test_batch_norm_momentum(momentum, kwargs):
    bn = models.build_cnn(8, 3, (3,), (2,), **kwargs).get_layer("bn1")
    # one training batch whose channels average 10: the running mean (from 0) moves a share
    # (1 - momentum) of the way
    bn(np.full((4, 8, 8, 2), 10.0, dtype="float32"), training=True)
    assert np.asarray(bn.moving_mean) == pytest.approx([(1 - momentum) * 10] * 2, rel=1e-5)


def test_cnn_needs_one_kernel_size_per_block():
    with pytest.raises(ValueError, match="needs one entry per block"):
        models.build_cnn(8, 3, kernel_sizes=(3, 3, 3), filters=(4, 6))


# --- describe(): parameters, FLOPs and receptive fields of every layer ----------------------


def rows(model):
    return [
        (r.name, r.kind, r.output_shape, r.parameters, r.flops, r.receptive_field, r.jump)
        for r in models.describe(model)
    ]


def test_describe_the_tiny_cnn_by_hand():
    model = models.build_cnn(8, 3, kernel_sizes=(3, 5), filters=(4, 6))
    # FLOPs: convolution 2 k^2 c_in c_out H W; batch norm and ReLU 2 per value; max pooling
    # k^2 per output value; global pooling 1 per input value; dense 2 c_in c_out.
    # Receptive field r += (k - 1) * jump, then jump *= stride.
    assert rows(model) == [
        ("scale", "Rescaling", (8, 8, 3), 0, 0, 1, 1),
        ("conv1_3x3", "Conv2D", (8, 8, 4), 108, 2 * 9 * 3 * 4 * 64, 3, 1),
        ("bn1", "BatchNormalization", (8, 8, 4), 16, 2 * 256, 3, 1),
        ("relu1", "ReLU", (8, 8, 4), 0, 2 * 256, 3, 1),
        ("pool1", "MaxPooling2D", (4, 4, 4), 0, 64 * 4, 4, 2),
        ("conv2_5x5", "Conv2D", (4, 4, 6), 600, 2 * 25 * 4 * 6 * 16, 4 + 4 * 2, 2),
        ("bn2", "BatchNormalization", (4, 4, 6), 24, 2 * 96, 12, 2),
        ("relu2", "ReLU", (4, 4, 6), 0, 2 * 96, 12, 2),
        ("pool2", "MaxPooling2D", (2, 2, 6), 0, 24 * 4, 12 + 1 * 2, 4),
        ("gap", "GlobalAveragePooling2D", (6,), 0, 2 * 2 * 6, -1, 4),  # the whole image
        ("dropout", "Dropout", (6,), 0, 0, -1, 4),
        ("classes", "Dense", (3,), 21, 2 * 6 * 3, -1, 4),
    ]


def test_describe_a_non_square_model_with_strides_and_a_head_after_global_pooling():
    x = inputs = keras.Input((12, 8, 3))
    x = keras.layers.Conv2D(5, 3, strides=2, name="c1")(x)  # valid: (12-3)//2+1, (8-3)//2+1
    x = keras.layers.AveragePooling2D(2, strides=1, name="avg")(x)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.ReLU(name="relu")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="max")(x)
    x = keras.layers.GlobalAveragePooling2D(keepdims=True, name="gap")(x)
    x = keras.layers.Conv2D(4, 1, name="c2")(x)  # a 1x1 head on the pooled map
    x = keras.layers.Dense(3, name="dense")(x)
    outputs = keras.layers.Flatten(name="flat")(x)
    model = keras.Model(inputs, outputs)
    assert rows(model) == [
        ("c1", "Conv2D", (5, 3, 5), 3 * 3 * 3 * 5 + 5, 2 * 9 * 3 * 5 * (5 * 3), 3, 2),
        ("avg", "AveragePooling2D", (4, 2, 5), 0, (4 * 2 * 5) * 4, 3 + 1 * 2, 2),
        ("bn", "BatchNormalization", (4, 2, 5), 20, 2 * 40, 5, 2),
        ("relu", "ReLU", (4, 2, 5), 0, 2 * 40, 5, 2),
        ("max", "MaxPooling2D", (2, 1, 5), 0, (2 * 1 * 5) * 9, 5 + 2 * 2, 4),
        ("gap", "GlobalAveragePooling2D", (1, 1, 5), 0, 2 * 1 * 5, -1, 4),
        # after global pooling every unit sees the whole image, whatever follows
        ("c2", "Conv2D", (1, 1, 4), 5 * 4 + 4, 2 * 1 * 5 * 4, -1, 4),
        ("dense", "Dense", (1, 1, 3), 4 * 3 + 3, 2 * 4 * 3, -1, 4),
        ("flat", "Flatten", (3,), 0, 0, -1, 4),
    ]


def test_summary_of_the_tiny_cnn():
    s = models.summary(models.build_cnn(8, 3, kernel_sizes=(3, 5), filters=(4, 6)))
    assert s["name"] == "cnn_3-5_w4-6"
    assert s["parameters"] == 108 + 16 + 600 + 24 + 21
    # batch norm's moving mean and variance (2 a channel) are not trained
    assert s["trainable_parameters"] == 108 + 8 + 600 + 12 + 21
    assert s["flops_per_image"] == 13824 + 512 + 512 + 256 + 19200 + 192 + 192 + 96 + 24 + 36
    assert s["receptive_field_per_layer"] == [
        {"layer": "conv1_3x3", "receptive_field": 3, "jump": 1},
        {"layer": "pool1", "receptive_field": 4, "jump": 2},
        {"layer": "conv2_5x5", "receptive_field": 12, "jump": 2},
        {"layer": "pool2", "receptive_field": 14, "jump": 4},
    ]
    assert s["layers"][:2] == [
        {
            "name": "scale",
            "kind": "Rescaling",
            "output_shape": [8, 8, 3],
            "parameters": 0,
            "flops": 0,
        },
        {
            "name": "conv1_3x3",
            "kind": "Conv2D",
            "output_shape": [8, 8, 4],
            "parameters": 108,
            "flops": 13824,
        },
    ]
    assert [layer["name"] for layer in s["layers"]][-3:] == ["gap", "dropout", "classes"]
    assert s["layers"][-1] == {
        "name": "classes",
        "kind": "Dense",
        "output_shape": [3],
        "parameters": 21,
        "flops": 36,
    }


# --- augmentation() ----------------------------------------------------------------------


def aug_table(aug):
    keys = ("mode", "height_factor", "width_factor", "fill_mode", "value_range", "seed")
    out = []
    for layer in aug.layers:
        config = layer.get_config()
        out.append((type(layer).__name__, {k: config[k] for k in keys if k in config}))
    return out


def test_augmentation_layers_per_strength():
    flip = ("RandomFlip", {"mode": "horizontal", "seed": 7})  # never vertical: sky stays up

    def shift(f):
        return (
            "RandomTranslation",
            {"height_factor": f, "width_factor": f, "fill_mode": "reflect", "seed": 8},
        )

    def zoom(f):
        return (
            "RandomZoom",
            {"height_factor": f, "width_factor": f, "fill_mode": "reflect", "seed": 9},
        )

    colour = [
        ("RandomContrast", {"value_range": (0, 255), "seed": 10}),
        ("RandomBrightness", {"value_range": [0, 255], "seed": 11}),
    ]
    assert models.augmentation(7, "none") is None
    light = models.augmentation(7, "light")
    assert light.name == "augment_light" and aug_table(light) == [flip, shift(0.08)]
    standard = models.augmentation(7)  # the default strength
    assert standard.name == "augment_standard"
    assert aug_table(standard) == [flip, shift(0.1), zoom(0.1), *colour]
    strong = models.augmentation(7, "strong")
    assert strong.name == "augment_strong"
    assert aug_table(strong) == [flip, shift(0.15), zoom(0.2), *colour]


@pytest.mark.parametrize("strength", ["medium", "None", "STANDARD", ""])
def test_augmentation_refuses_an_unknown_strength(strength):
    with pytest.raises(ValueError, match=f"augment must be one of .*'none'.*not '{strength}'"):
        models.augmentation(0, strength)


def test_augmentation_is_seeded_and_keeps_the_shape():
    images = RNG.uniform(0, 255, (4, 16, 16, 3)).astype("float32")
    out = np.asarray(models.augmentation(3, "strong")(images, training=True))
    assert out.shape == images.shape and out.dtype == np.float32
    assert not np.allclose(out, images)
    again = np.asarray(models.augmentation(3, "strong")(images, training=True))
    assert np.array_equal(out, again)
    other = np.asarray(models.augmentation(4, "strong")(images, training=True))
    assert not np.allclose(out, other)


def test_flip_is_horizontal_only():
    image = np.arange(2 * 3 * 3, dtype="float32").reshape(2, 3, 3)
    flip = models.augmentation(0, "light").layers[0]
    out = np.asarray(flip(np.repeat(image[None], 32, axis=0), training=True))
    same = [np.array_equal(o, image) for o in out]
    mirrored = [np.array_equal(o, image[:, ::-1]) for o in out]
    assert all(s or m for s, m in zip(same, mirrored, strict=True))
    assert any(same) and any(mirrored)


@pytest.mark.parametrize(("strength", "colour"), [("standard", 0.2), ("strong", 0.35)])
def test_brightness_and_contrast_ranges(strength, colour):
    contrast, brightness = models.augmentation(0, strength).layers[3:]
    # mid-grey with a little texture, so no value is clipped at 0 or 255
    image = RNG.uniform(110, 145, (8, 8, 3)).astype("float32")
    batch = np.repeat(image[None], 400, axis=0)
    shift = np.asarray(brightness(batch, training=True)).mean(axis=(1, 2, 3)) - image.mean()
    assert np.abs(shift).max() <= colour * 255 + 1e-3  # up to +-colour of the 0..255 range
    assert shift.min() < -0.9 * colour * 255 and shift.max() > 0.9 * colour * 255
    gain = np.asarray(contrast(batch, training=True)).std(axis=(1, 2)) / image.std(axis=(0, 1))
    assert gain.max() <= 1 + colour + 1e-4 and gain.max() > 1 + 0.9 * colour


def test_contrast_is_lowered_as_well_as_raised():
    """Keras 3's RandomContrast(f) only ever raises contrast (factors in [1, 1 + f]); the
    augmentation asks for [1 - f, 1 + f]."""
    contrast = models.augmentation(0, "strong").layers[3]
    image = RNG.uniform(110, 145, (8, 8, 3)).astype("float32")
    out = np.asarray(contrast(np.repeat(image[None], 400, axis=0), training=True))
    ratio = out.std(axis=(1, 2)) / image.std(axis=(0, 1))
    assert ratio.min() < 0.7 and ratio.max() > 1.3  # 'strong': factors in [0.65, 1.35]


# --- depth, stride and padding (issue 33): each one decision away from the reference at 128 px.
# Worked out by hand for 24 classes. Parameters: a k×k convolution without bias has
# k·k·c_in·c_out, batch norm 4·c, the softmax layer (c_last + 1)·24. Convolution FLOPs:
# 2·k·k·c_in·c_out·H_out·W_out. Receptive field r' = r + (k − 1)·j, jump j' = j·s.
DECISIONS = {
    # name: (build_cnn arguments, parameters, convolution FLOPs, map sizes after each block,
    #        receptive field and jump after the last block)
    "reference": ({}, 396_024, 481_296_384, [64, 32, 16, 8], (46, 16)),
    "depth 2": (
        {"kernel_sizes": (3, 3), "filters": (32, 64)},
        864 + 128 + 18_432 + 256 + 65 * 24,
        28_311_552 + 150_994_944,
        [64, 32],
        (10, 4),
    ),
    "depth 3": (
        {"kernel_sizes": (3, 3, 3), "filters": (32, 64, 128)},
        864 + 128 + 18_432 + 256 + 73_728 + 512 + 129 * 24,
        28_311_552 + 2 * 150_994_944,
        [64, 32, 16],
        (22, 8),
    ),
    "depth 5": (
        {"kernel_sizes": (3,) * 5, "filters": (32, 64, 128, 256, 512)},
        389_856 + 1_179_648 + 2_048 + 513 * 24,
        481_296_384 + 150_994_944,
        [64, 32, 16, 8, 4],
        (94, 32),
    ),
    # stride-2 convolutions instead of pooling: the same weights, a quarter of the maps
    "strided": ({"downsample": "stride"}, 396_024, 120_324_096, [64, 32, 16, 8], (31, 16)),
    # a stride-2 first convolution, pooling kept: the maps halve once more
    "stem 2": ({"first_stride": 2}, 396_024, 120_324_096, [32, 16, 8, 4], (89, 32)),
    # valid padding: each 3×3 convolution trims a pixel on every side before pooling
    "valid": ({"padding": "valid"}, 396_024, 365_144_832, [63, 30, 14, 6], (46, 16)),
}


@pytest.mark.parametrize("decision", list(DECISIONS))
def test_depth_stride_and_padding_networks_by_hand(decision):
    kwargs, params, conv_flops, sizes, (rf, jump) = DECISIONS[decision]
    model = models.build_cnn(128, 24, **kwargs)
    rows = models.describe(model)
    assert model.count_params() == params
    assert sum(r.flops for r in rows if r.kind == "Conv2D") == conv_flops
    ends = [r for r in rows if r.name.startswith("relu" if "downsample" in kwargs else "pool")]
    assert [r.output_shape[0] for r in ends] == sizes
    last = [r for r in rows if (r.receptive_field or 0) > 0][-1]
    assert (last.receptive_field, last.jump) == (rf, jump)


def test_the_reference_is_what_the_defaults_build():
    """The decisions' defaults keep the published network, weight for weight."""
    keras.utils.set_random_seed(0)
    a = models.build_cnn(48, 24)
    keras.utils.set_random_seed(0)
    b = models.build_cnn(48, 24, downsample="pool", first_stride=1, padding="same")
    assert a.get_config() == b.get_config()
    assert all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights(), strict=True))


@pytest.mark.parametrize(
    "kwargs", [{"downsample": "avg"}, {"padding": "causal"}, {"first_stride": 3}]
)
def test_an_unknown_decision_is_refused(kwargs):
    with pytest.raises(ValueError, match="downsample must be one of"):
        models.build_cnn(128, 24, **kwargs)


def _through(layer, x: np.ndarray) -> np.ndarray:
    return keras.ops.convert_to_numpy(layer(keras.ops.convert_to_tensor(x)))


def test_scramble_moves_every_value_and_mixes_the_channels():
    """The colour control: one fixed shuffle of all values, positions and channels together."""
    x = np.arange(2 * 6 * 6 * 3, dtype="float32").reshape(2, 6, 6, 3)
    layer = models.ScrambleValues()
    out = _through(layer, x)
    assert out.shape == x.shape
    for image, shuffled in zip(x, out, strict=True):  # a permutation of each image's own values
        np.testing.assert_array_equal(np.sort(shuffled.ravel()), np.sort(image.ravel()))
    # The same shuffle for every image: image 2 is image 1 plus a constant here.
    np.testing.assert_array_equal(out[1] - out[0], np.full_like(out[0], 6 * 6 * 3))
    # Channels are mixed: an output channel holds values of every input channel ...
    source_channel = out[0].astype(int) % 3
    for c in range(3):
        assert set(np.unique(source_channel[..., c])) == {0, 1, 2}
    # ... and a pixel's three values no longer come from one input pixel.
    source_pixel = out[0].astype(int) // 3
    assert np.mean(source_pixel[..., 0] == source_pixel[..., 1]) < 0.2
    # Fixed by its seed: another layer with the same seed shuffles the same way; another seed not.
    np.testing.assert_array_equal(_through(models.ScrambleValues(), x), out)
    assert not np.array_equal(_through(models.ScrambleValues(seed=1), x), out)


def test_the_scrambled_cnn_is_the_reference_behind_the_shuffle():
    plain = models.build_cnn(16, 4, (3, 3), (4, 8), seed=0)
    scrambled = models.build_cnn(16, 4, (3, 3), (4, 8), seed=0, scramble=True)
    assert scrambled.name == plain.name + "_scrambled"
    assert scrambled.count_params() == plain.count_params()  # the shuffle has no weights
    assert [w.shape for w in scrambled.weights] == [w.shape for w in plain.weights]
    names = [layer.name for layer in scrambled.layers]
    assert names.index("scramble") == names.index("scale") + 1
    assert "scramble" not in [layer.name for layer in plain.layers]
    described = {r["layer"]: r for r in models.summary(scrambled)["receptive_field_per_layer"]}
    assert described == {r["layer"]: r for r in models.summary(plain)["receptive_field_per_layer"]}


def test_the_scrambled_cnn_saves_and_loads(tmp_path):
    net = models.build_cnn(8, 3, (3,), (4,), seed=0, scramble=True)
    x = np.random.default_rng(0).integers(0, 256, (2, 8, 8, 3)).astype("float32")
    net.save(tmp_path / "net.keras")
    again = keras.saving.load_model(tmp_path / "net.keras")
    np.testing.assert_allclose(again.predict(x, verbose=0), net.predict(x, verbose=0), rtol=1e-6)


@pytest.mark.parametrize(
    ("model", "change"),
    [
        ("cnn", {}),
        ("cnn_strided", {"downsample": "stride"}),
        ("cnn_stem2", {"first_stride": 2}),
        ("cnn_valid", {"padding": "valid"}),
        ("cnn_scrambled", {"scramble": True}),
    ],
)
def test_a_run_names_each_cnn_variant_by_its_model(model, change):
    from analysis.training import experiment

    p = {"model": model, "image_size": 16, "kernel_sizes": [3, 3], "filters": [4, 8]}
    built = experiment.build_model(p, 3, seed=0)
    direct = models.build_cnn(16, 3, (3, 3), (4, 8), seed=0, **change)
    assert built.name == direct.name
    assert models.summary(built) == models.summary(direct)


def test_an_unknown_model_is_refused_with_the_known_ones():
    from analysis.training import experiment

    with pytest.raises(ValueError, match="'cnn_valid'.*not 'cnn_sideways'"):
        experiment.build_model({"model": "cnn_sideways", "image_size": 8}, 3, seed=0)
