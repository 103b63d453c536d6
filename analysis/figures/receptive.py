"""The effective receptive field (Luo et al., 2016, "Understanding the effective receptive field in
deep convolutional neural networks"): how much of its theoretical window a trained network uses.

For one unit at the centre of the last spatial feature map (the map global average pooling reads),
the gradient of its activation, summed over channels, with respect to every input pixel, is taken
for each test image; its absolute value, summed over the colour channels and averaged over the
images, is the ERF map. The theoretical receptive field is the square every path can reach; the
effective one is where the gradient actually is. The measure the site shows is the side of the
smallest square around the unit's centre that holds ERF_SHARE of the map's mass, against the
theoretical window's side.

Pure functions of a Keras model and images (drawing: analysis.figures.receptive_draw; wiring: the
runner's cross-run step). No notebook imports this module, so a change here retrains nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from analysis.figures import autodiff

ERF_SHARE = 0.95  # the share of the gradient's mass the "used" square must hold
ERF_IMAGES = 256  # test images averaged over, evenly spaced through the test list


class ReceptiveError(ValueError):
    """A network the measure cannot read (no spatial map, an unknown layer)."""


@dataclass(frozen=True)
class Unit:
    """The unit whose ERF is measured: its layer, map position and where it looks in the input."""

    layer: str
    row: int
    col: int
    centre: float  # in input pixels along either axis (square images, square maps)
    window: int  # the theoretical receptive field's side, in input pixels


def last_spatial_layer(model) -> str:
    """The name of the layer whose output global pooling (or flattening) reads."""
    import keras

    last = None
    for layer in model.layers:
        if isinstance(layer, keras.layers.GlobalAveragePooling2D | keras.layers.Flatten):
            break
        if len(getattr(layer.output, "shape", ())) == 4 and not isinstance(
            layer, keras.layers.InputLayer
        ):
            last = layer.name
    if last is None:
        raise ReceptiveError(f"{model.name}: no spatial feature map")
    return last


def _same_padding(n: int, k: int, s: int) -> int:
    """TensorFlow's and JAX's 'same': the padding before the map (the larger half goes after)."""
    out = -(-n // s)
    return max((out - 1) * s + k - n, 0) // 2


def _side(pair, what: str) -> int:
    """One side of a square (an int, or a pair of equal ints): the measure reads square images,
    kernels, pools and strides only."""
    sides = {int(v) for v in (pair if isinstance(pair, tuple | list) else (pair, pair))}
    if len(sides) != 1:
        raise ReceptiveError(f"{what} {tuple(pair)} is not square")
    return sides.pop()


def _window(layer) -> tuple[int, int, str] | None:
    """A layer's (kernel or pool side, stride, padding), None for a layer without a window."""
    k = getattr(layer, "kernel_size", None) or getattr(layer, "pool_size", None)
    if k is None:
        return None
    if not (hasattr(layer, "strides") and hasattr(layer, "padding")):
        raise ReceptiveError(f"{layer.name}: a {type(layer).__name__} is not read here")
    if _side(getattr(layer, "dilation_rate", 1), f"{layer.name}: dilation") != 1:
        raise ReceptiveError(f"{layer.name}: a dilated window is not read here")
    stride = _side(layer.strides, f"{layer.name}: stride")
    return _side(k, f"{layer.name}: window"), stride, layer.padding


def centre_unit(model, layer_name: str | None = None) -> Unit:
    """The middle unit of `layer_name`'s map (index size // 2 on an even map) and its window:
    each convolution or pooling layer of kernel k and stride s moves a unit's first input pixel
    by (start - padding) × jump, widens the window by (k - 1) × jump and multiplies the jump by s
    (Araujo et al., 2019, "Computing receptive fields of convolutional neural networks"). A
    layer that changes the map's size without a window (cropping, resizing) is refused."""
    layer_name = layer_name or last_spatial_layer(model)
    size = _side(tuple(model.inputs[0].shape[1:3]), f"{model.name}: input")
    first, jump, window = 0.0, 1, 1  # unit 0's first input pixel, its step, the window side
    for layer in model.layers:
        shape = layer.output.shape
        win = _window(layer)
        if win is not None:
            k, s, padding = win
            pad = _same_padding(size, k, s) if padding == "same" else 0
            first -= pad * jump
            window += (k - 1) * jump
            jump *= s
        if len(shape) == 4:
            out = int(shape[1])  # square: a square input through square windows
            if win is None and out != size:
                raise ReceptiveError(f"{layer.name}: a {type(layer).__name__} resizes the map")
            size = out
        if layer.name == layer_name:
            break
    else:
        raise ReceptiveError(f"{model.name}: no layer {layer_name!r}")
    index = size // 2
    centre = first + index * jump + (window - 1) / 2
    return Unit(layer=layer_name, row=index, col=index, centre=centre, window=window)


def erf_map(model, images: np.ndarray, unit: Unit | None = None, batch: int = 32) -> np.ndarray:
    """The ERF map (image-sized, summing to 1): |d unit / d pixel|, summed over colour channels,
    averaged over `images`. Batch norm and dropout in inference mode, so images do not mix."""
    import keras

    unit = unit or centre_unit(model)
    body = keras.Model(model.inputs[0], model.get_layer(unit.layer).output)

    def centre(x):
        return keras.ops.sum(body(x, training=False)[:, unit.row, unit.col, :])

    total = np.zeros(images.shape[1:3])
    for i in range(0, len(images), batch):
        try:
            g = autodiff.gradient(centre, np.asarray(images[i : i + batch], dtype="float32"))
        except autodiff.BackendError as exc:
            raise ReceptiveError(f"the ERF needs {exc}") from None
        total += np.abs(g).sum(axis=(0, 3))
    mass = total.sum()
    if not mass > 0:
        raise ReceptiveError(f"{model.name}: the centre unit's gradient is zero on every image")
    return total / mass


def used_side(erf: np.ndarray, centre: float, share: float = ERF_SHARE) -> int:
    """The side of the smallest square around `centre` (both axes) holding `share` of the map:
    a pixel at Chebyshev distance d from the centre is inside the square of side 2d + 1."""
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], not {share}")
    rows, cols = np.arange(erf.shape[0]), np.arange(erf.shape[1])
    d = np.maximum(np.abs(rows[:, None] - centre), np.abs(cols[None, :] - centre))
    order = np.argsort(d, axis=None)  # within a distance the order changes no side
    mass = np.cumsum(erf.ravel()[order])
    at = int(np.searchsorted(mass, share * mass[-1]))  # the first pixel where it is reached
    return int(round(2 * d.ravel()[order][at] + 1))


def describe(erf: np.ndarray, unit: Unit, share: float = ERF_SHARE) -> dict:
    """The numbers the site shows for one network: windows in pixels and what share is used.
    `window_in_image` is the part of the theoretical window the image can fill (at 48 px a 7×7
    network's window reaches past the image into the zero padding)."""
    side = used_side(erf, unit.centre, share)
    size = erf.shape[0]
    in_image = min(unit.window, size)
    return {
        "image_size": size,
        "layer": unit.layer,
        "centre": unit.centre,
        "window": unit.window,
        "window_in_image": in_image,
        "used_side": side,
        "share": share,
        "used_of_window": side / unit.window,
        "used_of_window_in_image": side / in_image,
        "radius_rms": rms_radius(erf, unit.centre),
    }


def rms_radius(erf: np.ndarray, centre: float) -> float:
    """The root-mean-square distance of the map's mass from the centre, in pixels: the spread
    Luo et al. show grows with the square root of depth for a Gaussian-like ERF."""
    rows, cols = np.arange(erf.shape[0]), np.arange(erf.shape[1])
    r2 = (rows[:, None] - centre) ** 2 + (cols[None, :] - centre) ** 2
    return float(math.sqrt(float((erf * r2).sum() / erf.sum())))


def sample(n_images: int, n: int = ERF_IMAGES) -> np.ndarray:
    """`n` indices evenly spaced through a list of `n_images` (all of them when fewer)."""
    if n_images <= n:
        return np.arange(n_images)
    return np.linspace(0, n_images - 1, n).round().astype(int)
