"""The image grid and the shape primitives the anatomy is drawn with (float32 grids, for speed).

Rows run anterior -> posterior, columns patient right -> patient left (radiological view). Shapes
are tested on 1-D coordinate vectors in mm and broadcast to the (rows, columns) grid.
"""

from __future__ import annotations

import numpy as np

MATRIX = 512  # rows = columns of every phantom slice
# The anatomy is drawn over this lung height whatever the slice count, so a 4-slice test series
# still looks like a chest.
NOMINAL_LUNG_HEIGHT_MM = 250.0


def pixel_centres_mm(pixel_spacing: float) -> np.ndarray:
    """Position of each row (or column) centre relative to the image centre, in mm."""
    return ((np.arange(MATRIX, dtype=np.float32) - (MATRIX - 1) / 2) * pixel_spacing).astype(np.float32)


def smoothstep(value: np.ndarray, low: float, high: float) -> np.ndarray:
    s = np.clip((value - np.float32(low)) / np.float32(high - low), 0, 1)
    return s * s * (3 - 2 * s)


def inside(
    xs: np.ndarray, ys: np.ndarray, cx: float, cy: float, ax: float, ay: float, power: float = 2.0
) -> np.ndarray:
    """Boolean super-ellipse |dx/ax|^p + |dy/ay|^p <= 1, built from 1-D terms."""
    if ax <= 0 or ay <= 0:
        return np.zeros((ys.size, xs.size), dtype=bool)
    u = np.abs((xs - cx) / ax) ** power
    v = np.abs((ys - cy) / ay) ** power
    return (v[:, None] + u[None, :]) <= 1.0


def inside_rotated(
    xs: np.ndarray, ys: np.ndarray, cx: float, cy: float, ax: float, ay: float, angle_deg: float
) -> np.ndarray:
    """Boolean ellipse with half axes ax, ay, turned by angle_deg from the x axis towards +y."""
    if ax <= 0 or ay <= 0:
        return np.zeros((ys.size, xs.size), dtype=bool)
    c, s = np.cos(np.radians(angle_deg)), np.sin(np.radians(angle_deg))
    dx = (xs - cx)[None, :]
    dy = (ys - cy)[:, None]
    return ((dx * c + dy * s) / ax) ** 2 + ((-dx * s + dy * c) / ay) ** 2 <= 1.0


def bump(t: float, start: float, full: float, end_full: float, end: float) -> float:
    """Trapezoid 0 -> 1 -> 0 over t, for organs present only in part of the lung height."""
    if t <= start or t >= end:
        return 0.0
    if t < full:
        return (t - start) / (full - start)
    if t <= end_full:
        return 1.0
    return (end - t) / (end - end_full)
