"""Coronal and sagittal reformats of an axial CT volume, as a radiologist expects to see them: the head at
the top, the patient's right on the screen's left (coronal), the front on the left (sagittal). Plain
numpy, no Django.

The volume is (z, y, x) in the series' slice order: increasing position along the slice normal, which for
an axial acquisition (orientation 1,0,0 / 0,1,0) points to the head, so slice 0 is the lowest.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Plane = Literal["coronal", "sagittal"]
PLANES: tuple[Plane, ...] = ("coronal", "sagittal")


def head_is_last_slice(orientation: tuple[float, ...] | list[float]) -> bool:
    """Whether the slice normal (row cosines x column cosines) points to the head (+z in DICOM's LPS),
    i.e. the last slice is the highest. An oblique or non-axial series keeps its slice order."""
    normal = np.cross(np.asarray(orientation[:3], dtype=float), np.asarray(orientation[3:6], dtype=float))
    return bool(normal[2] > 0)


def display_slice_order(slice_count: int, *, head_is_last: bool) -> list[int]:
    """The slice shown on each row of a reformat, top row first (the head on top)."""
    order = list(range(slice_count))
    return order[::-1] if head_is_last else order


def plane_count(shape: tuple[int, int, int], plane: Plane) -> int:
    """How many planes of this kind the volume has: one per image row (coronal) or column (sagittal)."""
    _, rows, columns = shape
    return rows if plane == "coronal" else columns


def reformat_plane(volume: np.ndarray, plane: Plane, index: int, *, head_is_last: bool) -> np.ndarray:
    """One coronal plane (axial image row `index`) or sagittal plane (axial image column `index`), as a
    (slices, width) int16 image in display order: coronal width runs along the axial rows (patient's
    right first), sagittal width along the axial columns (front first)."""
    if plane == "coronal":
        image = volume[:, index, :]
    elif plane == "sagittal":
        image = volume[:, :, index]
    else:
        raise ValueError(f"unknown plane {plane!r}")
    if head_is_last:
        image = image[::-1]
    return np.ascontiguousarray(image, dtype=np.int16)
