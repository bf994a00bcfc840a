"""What goes into the U-Net and what comes out of it, as pure functions on numpy arrays.

Into the model: HU -> lung window (W 1500, L -600) -> clipped to 0..1 -> 128 x 128, as a float32
batch (n, 128, 128, 1). Out of it: the softmax (n, 128, 128, 2) -> pattern probability (n, 128, 128)
-> back to the native matrix -> threshold -> kept inside the lung region.

The same functions serve training and inference: a model only works on inputs prepared exactly as its
training inputs were, so there is one implementation of each step.
"""

from __future__ import annotations

import numpy as np
from skimage.transform import resize, resize_local_mean

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
    n_slices = windowed.shape[0]
    small = resize_local_mean(windowed, (n_slices, size, size))  # the slice axis keeps its length
    return small.astype(np.float32, copy=False)[..., np.newaxis]


def downsample_mask(masks: np.ndarray, *, size: int = MODEL_SIZE) -> np.ndarray:
    """Bool mask(s) (rows, columns) or (n, rows, columns) -> (n, size, size) bool: a pixel is in the
    mask where at least half the native area it covers is (the local mean, as the images are resized)."""
    batch = _as_batch(np.asarray(masks, dtype=np.float32))
    return resize_local_mean(batch, (batch.shape[0], size, size)) >= 0.5


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
    probability = _as_batch(probability)
    rows, columns = native_shape
    masks = np.zeros((probability.shape[0], rows, columns), dtype=bool)
    for index, coarse in enumerate(probability):
        # Slice by slice: a float volume at 512 x 512 would cost 1 GB for a 250-slice series.
        fine = resize(
            coarse.astype(np.float32, copy=False),
            (rows, columns),
            order=1,
            mode="edge",
            anti_aliasing=False,
            preserve_range=True,
        )
        masks[index] = binarize(fine, threshold)
    if region is not None:
        region = _as_batch(np.asarray(region, dtype=bool))
        if region.shape != masks.shape:
            raise ValueError(f"region {region.shape} does not match the native masks {masks.shape}")
        masks &= region
    return masks
