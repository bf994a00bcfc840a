"""The one codec for label maps (lung masks, predictions, reader masks): 8-bit grayscale PNG.

No Django here: plain functions on numpy arrays.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, UnidentifiedImageError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class LabelMapError(ValueError):
    """A label map that cannot be accepted; the message says why."""


def encode_png(labels: np.ndarray) -> bytes:
    if labels.ndim != 2:
        raise LabelMapError(f"a label map is 2-D, got shape {labels.shape}")
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(labels, dtype=np.uint8), mode="L").save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def decode_png(data: bytes, *, shape: tuple[int, int] | None = None, max_label: int = 255) -> np.ndarray:
    """Decode and check a label map PNG: 8-bit single channel, expected size, labels 0..max_label."""
    if not data.startswith(PNG_SIGNATURE):
        raise LabelMapError("not a PNG file")
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise LabelMapError(f"corrupt PNG ({error})") from None
    if image.mode not in ("L", "P", "1"):
        raise LabelMapError(f"PNG must be 8-bit single-channel (mode L), got mode {image.mode}")
    labels = np.asarray(image.convert("L") if image.mode == "1" else image, dtype=np.uint8)
    if image.mode == "1":
        labels = (labels > 0).astype(np.uint8)
    if shape is not None and labels.shape != tuple(shape):
        raise LabelMapError(
            f"label map is {labels.shape[1]}x{labels.shape[0]} pixels, the slice is {shape[1]}x{shape[0]}"
        )
    if labels.size and int(labels.max()) > max_label:
        raise LabelMapError(f"label values must be 0..{max_label}, found {int(labels.max())}")
    return labels
