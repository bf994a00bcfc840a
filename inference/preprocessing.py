"""What goes into the U-Net and what comes out of it, as pure functions on numpy arrays.

Into the model: HU -> lung window (W 1500, L -600) -> clipped to 0..1 -> 128 x 128, as a float32
batch (n, 128, 128, 1). Out of it: the softmax (n, 128, 128, 2) -> pattern probability (n, 128, 128)
-> back to the native matrix -> threshold -> kept inside the lung region.

The same functions serve training and inference: a model only works on inputs prepared exactly as its
training inputs were, so there is one implementation of each step.
"""

from __future__ import annotations

import numpy as np
from skimage.transform import resize_local_mean

MODEL_SIZE = 128
WINDOW_WIDTH_HU = 1500.0
WINDOW_LEVEL_HU = -600.0


def lung_window(hu: np.ndarray, *, width: float = WINDOW_WIDTH_HU, level: float = WINDOW_LEVEL_HU) -> np.ndarray:
    """HU -> 0..1 through the lung window (-1350..150 HU by default), clipped, float32."""
    low = level - width / 2.0
    scaled = (np.asarray(hu, dtype=np.float32) - np.float32(low)) / np.float32(width)
    return np.clip(scaled, 0.0, 1.0, out=scaled)


def _as_batch(slices: np.ndarray) -> np.ndarray:
    slices = np.asarray(slices)
    if slices.ndim == 2:
        return slices[np.newaxis]
    if slices.ndim != 3:
        raise ValueError(f"expected a slice (rows, columns) or slices (n, rows, columns), got shape {slices.shape}")
    return slices


def preprocess(hu_slices: np.ndarray, *, size: int = MODEL_SIZE, lung: np.ndarray | None = None) -> np.ndarray:
    """HU slice(s) (rows, columns) or (n, rows, columns) -> model input (n, size, size, 1) float32.

    With `lung` (bool, the slices' shape) the input is lung-masked: everything outside the lung region
    reads 0 (as air below the window), so the model sees only what it may mark.

    Downsampling uses the local mean (each output pixel = mean of the native area it covers; exactly
    a 4 x 4 block mean at 512 -> 128): no aliasing of fine reticular lines into moire, and no
    smoothing parameter to keep in step between training and inference. Windowing comes first so that
    bone and metal, clipped to 1, do not bleed into neighbouring lung pixels.
    """
    windowed = lung_window(_as_batch(hu_slices))
    if lung is not None:
        lung = _as_batch(lung)
        if lung.shape != windowed.shape:
            raise ValueError(f"lung mask shape {lung.shape} differs from the slices' {windowed.shape}")
        windowed *= lung
    return local_mean(windowed, size).astype(np.float32, copy=False)[..., np.newaxis]


def local_mean(slices: np.ndarray, size: int) -> np.ndarray:
    """(n, rows, columns) -> (n, size, size), each output pixel the mean of the native area it covers
    (skimage's `resize_local_mean` in pixel-grid mode). Where rows and columns are whole multiples of
    `size` (512 -> 128) that area is a block of whole pixels, summed here by a reshape: skimage's general
    form multiplies by a dense weight matrix, ~16 G multiply-adds for a series against ~65 M adds, to
    the same means within float32 rounding."""
    n_slices, rows, columns = slices.shape
    if rows % size or columns % size or slices.dtype != np.float32:
        return resize_local_mean(slices, (n_slices, size, size))  # the slice axis keeps its length
    block_rows, block_columns = rows // size, columns // size
    # One strided add per block offset (2x faster than `.sum` over the two block axes at once).
    by_column = slices.reshape(n_slices, rows, size, block_columns)
    column_sums = by_column[..., 0].copy()
    for offset in range(1, block_columns):
        column_sums += by_column[..., offset]
    by_row = column_sums.reshape(n_slices, size, block_rows, size)
    sums = by_row[:, :, 0].copy()
    for offset in range(1, block_rows):
        sums += by_row[:, :, offset]
    return sums * np.float32(1.0 / (block_rows * block_columns))


def downsample_mask(masks: np.ndarray, *, size: int = MODEL_SIZE) -> np.ndarray:
    """Bool mask(s) (rows, columns) or (n, rows, columns) -> (n, size, size) bool: a pixel is in the
    mask where at least half the native area it covers is (the local mean, as the images are resized)."""
    return local_mean(_as_batch(np.asarray(masks, dtype=np.float32)), size) >= 0.5


def pattern_probability(softmax: np.ndarray) -> np.ndarray:
    """Model output (n, h, w, 2) [background, pattern] -> pattern probability (n, h, w) float32."""
    softmax = np.asarray(softmax)
    if softmax.ndim != 4 or softmax.shape[-1] != 2:
        raise ValueError(f"expected a two-class softmax (n, h, w, 2), got shape {softmax.shape}")
    return softmax[..., 1].astype(np.float32, copy=False)


def binarize(probability: np.ndarray, threshold: float) -> np.ndarray:
    """The one thresholding rule (probability >= threshold), used for search and for inference alike.

    '>=' so that the top of the paper's search range (1.00) still selects saturated pixels.
    """
    return np.asarray(probability) >= threshold


POSTPROCESS_CHUNK = 16  # slices interpolated at once: 16 MB of float32 at 512 x 512


def _linear_plan(old_size: int, new_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lower index, upper index, upper weight) of each output pixel for linear interpolation with pixel
    centres aligned (skimage's `resize(order=1, mode="edge")`): output pixel o sits at input coordinate
    (o + 0.5) * old / new - 0.5, clamped to the edge pixels."""
    position = (np.arange(new_size, dtype=np.float64) + 0.5) * (old_size / new_size) - 0.5
    position = np.clip(position, 0.0, old_size - 1)
    lower = np.floor(position).astype(np.intp)
    upper = np.minimum(lower + 1, old_size - 1)
    return lower, upper, (position - lower).astype(np.float32)


def _interpolate(values: np.ndarray, plan: tuple[np.ndarray, np.ndarray, np.ndarray], axis: int) -> np.ndarray:
    """Linear interpolation along one axis, the other axes untouched (bilinear = rows, then columns)."""
    lower, upper, weight = plan
    shape = [1] * values.ndim
    shape[axis] = weight.size
    weight = weight.reshape(shape)
    below = np.take(values, lower, axis=axis)
    return below + weight * (np.take(values, upper, axis=axis) - below)


def postprocess(
    probability: np.ndarray,
    threshold: float,
    native_shape: tuple[int, int],
    region: np.ndarray | None = None,
) -> np.ndarray:
    """Pattern probability (n, 128, 128) -> bool mask (n, rows, columns) at the native size.

    The probability is resized bilinearly and thresholded afterwards, rather than thresholded at
    128 x 128 and enlarged by nearest neighbour: at a 4x factor nearest neighbour turns every
    boundary into a 4-pixel staircase and every area into a multiple of 16 pixels, while the
    interpolated probability crosses the threshold where the model's evidence does, between the
    coarse pixel centres. The interpolated probability equals the model's at the coarse pixel
    centres and a weighted mean of the four nearest ones between them, so a threshold searched at
    128 x 128 keeps its meaning. `region` (bool (n, rows, columns), normally `lung_region(...)`) limits
    the result to the lungs; None keeps everything.
    """
    probability = _as_batch(probability).astype(np.float32, copy=False)
    rows, columns = native_shape
    masks = np.zeros((probability.shape[0], rows, columns), dtype=bool)
    row_plan, column_plan = _linear_plan(probability.shape[1], rows), _linear_plan(probability.shape[2], columns)
    for start in range(0, len(probability), POSTPROCESS_CHUNK):
        # In chunks: a float volume at 512 x 512 would cost 1 GB for a 250-slice series.
        coarse = probability[start : start + POSTPROCESS_CHUNK]
        fine = _interpolate(_interpolate(coarse, row_plan, axis=1), column_plan, axis=2)
        masks[start : start + len(coarse)] = binarize(fine, threshold)
    if region is not None:
        region = _as_batch(np.asarray(region, dtype=bool))
        if region.shape != masks.shape:
            raise ValueError(f"region {region.shape} does not match the native masks {masks.shape}")
        masks &= region
    return masks
