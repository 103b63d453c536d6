"""The effective receptive field (analysis.figures.receptive) against maps worked out by hand, and
the unit's window against automatic differentiation and the networks' own descriptions."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from analysis.figures import autodiff, receptive
from analysis.models import networks
from analysis.models.ablation import LocallyConnected2D


def ones_chain(size: int, *convs: tuple[int, int, str], pool: bool = False) -> keras.Model:
    """Linear convolutions whose kernels are all ones (k, stride, padding), one channel."""
    x = inputs = keras.Input((size, size, 1))
    for i, (k, s, pad) in enumerate(convs):
        x = keras.layers.Conv2D(
            1, k, strides=s, padding=pad, use_bias=False, kernel_initializer="ones", name=f"c{i}"
        )(x)
    if pool:
        x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, x)


def test_two_stacked_3x3_ones_kernels_spread_as_a_triangle_by_hand():
    # centre unit of a 9x9 map looks at pixels 2..6; the count of paths to each pixel is
    # [1, 2, 3, 2, 1] per axis: 81 in all, 9 to the centre pixel
    model = ones_chain(9, (3, 1, "same"), (3, 1, "same"))
    unit = receptive.centre_unit(model)
    assert (unit.layer, unit.row, unit.centre, unit.window) == ("c1", 4, 4.0, 5)
    erf = receptive.erf_map(model, np.random.default_rng(0).uniform(0, 1, (3, 9, 9, 1)), unit)
    tri = np.array([1, 2, 3, 2, 1.0])
    expected = np.zeros((9, 9))
    expected[2:7, 2:7] = np.outer(tri, tri) / 81
    np.testing.assert_allclose(erf, expected, atol=1e-7)
    # 9/81 in the centre pixel, 49/81 in the 3x3 around it, all of it in the 5x5
    assert receptive.used_side(erf, unit.centre, 0.1) == 1
    assert receptive.used_side(erf, unit.centre, 0.12) == 3
    assert receptive.used_side(erf, unit.centre, 49 / 81) == 3
    assert receptive.used_side(erf, unit.centre, 0.61) == 5
    assert receptive.used_side(erf, unit.centre, 0.95) == 5
    d = receptive.describe(erf, unit)
    assert {k: v for k, v in d.items() if k != "radius_rms"} == {
        "image_size": 9,
        "layer": "c1",
        "centre": 4.0,
        "window": 5,
        "window_in_image": 5,
        "used_side": 5,
        "share": 0.95,
        "used_of_window": 1.0,
        "used_of_window_in_image": 1.0,
    }
    half = receptive.describe(erf, unit, share=0.5)
    assert (half["used_side"], half["share"], half["used_of_window"]) == (3, 0.5, 3 / 5)
    # per axis the mean squared offset is (1*4 + 2*1 + 3*0 + 2*1 + 1*4) / 9; two axes add up
    assert d["radius_rms"] == pytest.approx(np.sqrt(2 * 12 / 9))


@pytest.mark.parametrize(
    "convs, pool, size, centre, window",
    [
        # valid: no padding, unit 3 of the 7-wide map starts at pixel 3
        ([(3, 1, "valid")], False, 9, 4.0, 3),
        # stride 2, 'same' on 8 px: padding 1 in all, none of it before, so unit 2 starts at 4
        ([(3, 2, "same")], False, 8, 5.0, 3),
        # padding 1 before, then pooling: unit 2 of the 4-wide map starts at pixel 3
        ([(3, 1, "same")], True, 8, 4.5, 4),
        # stride 2 on 9 px: 'same' pads 2, 1 before: unit 2 of 5 starts at pixel 3
        ([(3, 2, "same"), (3, 1, "same")], False, 9, 4.0, 7),
    ],
)
def test_the_units_window_is_where_its_gradient_reaches(convs, pool, size, centre, window):
    model = ones_chain(size, *convs, pool=pool)
    unit = receptive.centre_unit(model)
    assert (unit.centre, unit.window) == (centre, window)
    images = np.random.default_rng(1).uniform(0, 1, (64, size, size, 1))
    rows = np.flatnonzero(receptive.erf_map(model, images, unit).sum(axis=1) > 0)
    lo, hi = centre - (window - 1) / 2, centre + (window - 1) / 2
    # inside the window, and (where the image holds it) filling it
    assert rows.min() == max(lo, 0) and rows.max() == min(hi, size - 1)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"kernel_sizes": (5, 5, 5, 5)},
        {"kernel_sizes": (3, 3, 5, 5)},
        {"downsample": "stride"},
        {"first_stride": 2},
        {"padding": "valid"},
        {"kernel_sizes": (3, 3), "filters": (32, 64)},
    ],
)
def test_the_window_is_the_networks_described_receptive_field(kwargs):
    model = networks.build_cnn(128, 5, **kwargs)
    unit = receptive.centre_unit(model)
    described = networks.summary(model)["receptive_field_per_layer"][-1]
    assert unit.window == described["receptive_field"]
    assert unit.layer == receptive.last_spatial_layer(model)
    assert model.get_layer(unit.layer).output.shape[1] // 2 == unit.row


def test_a_network_without_a_spatial_map_or_gradient_is_refused():
    x = inputs = keras.Input((4, 4, 1))
    dense = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(x)))
    with pytest.raises(receptive.ReceptiveError, match="no spatial feature map"):
        receptive.centre_unit(dense)
    with pytest.raises(receptive.ReceptiveError, match="no layer 'nope'"):
        receptive.centre_unit(ones_chain(5, (3, 1, "same")), "nope")
    zeros = ones_chain(5, (3, 1, "same"))
    zeros.get_layer("c0").set_weights([np.zeros((3, 3, 1, 1))])
    with pytest.raises(receptive.ReceptiveError, match="zero on every image"):
        receptive.erf_map(zeros, np.ones((2, 5, 5, 1)))
    small = ones_chain(5, (3, 1, "same"))  # a gradient below one in all is still a gradient
    small.get_layer("c0").set_weights([np.full((3, 3, 1, 1), 0.01)])
    assert receptive.erf_map(small, np.ones((1, 5, 5, 1))).sum() == pytest.approx(1.0)


class NoPadding(keras.layers.Layer):
    """A window and a stride, but no padding the measure could read."""

    kernel_size, strides = (3, 3), (1, 1)

    def call(self, x):
        return x


def chain(size, *made, channels=1, width=None):
    x = inputs = keras.Input((size, width or size, channels))
    for layer in made:
        x = layer(x)
    return keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))


@pytest.mark.parametrize(
    "model, message",
    [
        (lambda: chain(8, keras.layers.Conv2D(1, (3, 1))), "window \\(3, 1\\) is not square"),
        (lambda: chain(8, keras.layers.Conv2D(1, 3, strides=(1, 2))), "stride .* not square"),
        (lambda: chain(8, keras.layers.Conv2D(1, 3, dilation_rate=2)), "dilated"),
        (lambda: chain(8, keras.layers.Conv2D(1, 3, dilation_rate=(1, 2))), "dilation .* square"),
        (lambda: chain(8, LocallyConnected2D(1, 3)), "a LocallyConnected2D is not read here"),
        (lambda: chain(8, NoPadding()), "a NoPadding is not read here"),
        (lambda: chain(8, keras.layers.Cropping2D(1)), "Cropping2D resizes the map"),
        (lambda: chain(8, keras.layers.Conv2D(1, 3), width=6), "input .* not square"),
    ],
)
def test_a_window_the_measure_cannot_read_is_refused(model, message):
    with pytest.raises(receptive.ReceptiveError, match=message):
        receptive.centre_unit(model())


def test_average_pooling_widens_the_window_like_max_pooling():
    pooled = chain(8, keras.layers.Conv2D(1, 3, padding="same"), keras.layers.AveragePooling2D(2))
    unit = receptive.centre_unit(pooled)
    assert (unit.centre, unit.window) == (4.5, 4)


def test_images_are_averaged_one_by_one_in_inference_mode():
    # max-pooling sends each image's gradient to its largest pixel of the unit's 2x2 window
    # (rows and columns 2..3 of a 4x4 image); batch norm with its moving statistics (inference)
    # passes it on unchanged, with the statistics of a batch (training) it would not
    x = inputs = keras.Input((4, 4, 1))
    x = keras.layers.BatchNormalization(name="bn")(x)
    model = keras.Model(inputs, keras.layers.MaxPooling2D(2, name="pool")(x))
    images = np.zeros((3, 4, 4, 1), dtype="uint8")  # as the cache stores them
    images[0, 2, 2] = images[1, 3, 3] = images[2, 2, 3] = 200
    images[:, 0, 0, 0] = [10, 90, 40]
    erf = receptive.erf_map(model, images, batch=2)
    expected = np.zeros((4, 4))
    expected[2, 2] = expected[3, 3] = expected[2, 3] = 1 / 3
    np.testing.assert_allclose(erf, expected, atol=1e-7)


def test_used_side_refuses_a_share_outside_zero_to_one():
    for share in (0.0, 1.5):
        with pytest.raises(ValueError, match="share"):
            receptive.used_side(np.ones((3, 3)) / 9, 1.0, share)
    assert receptive.used_side(np.ones((3, 3)) / 9, 1.0, 1.0) == 3


def test_side_and_spread_by_hand_on_a_map_that_does_not_sum_to_one():
    # 3 rows x 5 columns, centre pixel (1, 1): mass 6 there, 2 at (1, 3) two columns right
    erf = np.zeros((3, 5))
    erf[1, 1], erf[1, 3] = 6.0, 2.0
    assert receptive.used_side(erf, 1.0, 0.75) == 1  # 6 of 8
    assert receptive.used_side(erf, 1.0, 0.76) == 5  # the square reaching column 3
    assert receptive.rms_radius(erf, 1.0) == pytest.approx(np.sqrt(2 * 4 / 8))
    # the farthest pixel alone at its distance: all of the mass needs the square reaching it
    line = np.array([[1.0, 0.0, 1.0]])
    assert receptive.used_side(line, 0.0, 1.0) == 5 and receptive.used_side(line, 0.0, 0.5) == 1
    # the window in the image: a window wider than the image counts the image's side
    wide = np.zeros((5, 5))
    wide[2, 2], wide[2, 4] = 6.0, 2.0
    d = receptive.describe(wide, receptive.Unit("x", 2, 2, 2.0, window=9), share=0.75)
    assert (d["used_side"], d["window_in_image"], d["used_of_window_in_image"]) == (1, 5, 1 / 5)
    assert d["used_of_window"] == 1 / 9


def test_sample_spaces_the_test_images_evenly():
    assert receptive.sample(5, 8).tolist() == [0, 1, 2, 3, 4]
    assert receptive.sample(9, 3).tolist() == [0, 4, 8]
    assert receptive.sample(9, 3).dtype.kind == "i"  # indices, not floats
    assert len(set(receptive.sample(1000, 256))) == 256


def test_a_backend_without_gradients_is_named(monkeypatch):
    def no_gradient(total, x):
        raise autodiff.BackendError("the tensorflow or jax backend, not numpy")

    monkeypatch.setattr(autodiff, "gradient", no_gradient)
    with pytest.raises(receptive.ReceptiveError, match="the ERF needs the tensorflow or jax"):
        receptive.erf_map(ones_chain(5, (3, 1, "same")), np.ones((1, 5, 5, 1)))
