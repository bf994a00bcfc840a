"""An independent lung reference for real CT, built differently from lung3d: slice by slice in 2-D,
from the apex down, with no erosion, watershed or distance transform.

- Body: the largest tissue (> -500 HU) object of each slice, holes filled.
- Lungs: on the first slice from the top with a large air object (>= 3 cm2) at least 20 mm off the
  body's middle on each side, those objects; below, every air object that overlaps the lungs of the
  slice above by 30 % of its area (stomach and bowel gas lie under the diaphragm, so the slice above
  them holds no lung where they are). Holes filled per slice.
- Pleural envelope: each side's lung hull per slice (convex), where dense lung is looked for.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.morphology import convex_hull_image

TISSUE_HU = -500
OFF_MIDDLE_MM = 20.0
APEX_MIN_AREA_CM2 = 3.0
OVERLAP_WITH_ABOVE = 0.3


def _body(section: np.ndarray) -> np.ndarray:
    objects, count = ndi.label(ndi.binary_fill_holes(section > TISSUE_HU))
    if count == 0:
        return np.zeros(section.shape, dtype=bool)
    return objects == np.bincount(objects.ravel())[1:].argmax() + 1


def reference_lungs(hu: np.ndarray, pixel_mm: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lung, air inside the body, the body's middle column per slice); index 0 is the most caudal slice."""
    lung = np.zeros(hu.shape, dtype=bool)
    air_in_body = np.zeros(hu.shape, dtype=bool)
    middle = np.full(hu.shape[0], hu.shape[2] / 2)
    pixel_cm2 = pixel_mm * pixel_mm / 100
    started = False
    for z in range(hu.shape[0] - 1, -1, -1):
        body = _body(hu[z])
        if not body.any():
            continue
        middle[z] = np.nonzero(body)[1].mean()
        air_in_body[z] = (hu[z] < TISSUE_HU) & body
        objects, count = ndi.label(air_in_body[z])
        areas = np.bincount(objects.ravel(), minlength=count + 1) * pixel_cm2
        centres = ndi.center_of_mass(air_in_body[z], objects, range(1, count + 1))
        if not started:
            off_middle = [
                i + 1 for i, (_, column) in enumerate(centres) if abs(column - middle[z]) * pixel_mm > OFF_MIDDLE_MM
            ]
            large = [i for i in off_middle if areas[i] >= APEX_MIN_AREA_CM2]
            if len({centres[i - 1][1] > middle[z] for i in large}) < 2:
                continue
            started, kept = True, large
        else:
            above = ndi.binary_dilation(lung[z + 1], iterations=2)
            kept = [
                i
                for i in range(1, count + 1)
                if (above & (objects == i)).sum() >= OVERLAP_WITH_ABOVE * areas[i] / pixel_cm2
            ]
        lung[z] = ndi.binary_fill_holes(np.isin(objects, kept))
    return lung, air_in_body, middle


def pleural_envelope(lung: np.ndarray, middle: np.ndarray) -> np.ndarray:
    envelope = np.zeros(lung.shape, dtype=bool)
    columns = np.arange(lung.shape[2])
    for z in np.nonzero(lung.any(axis=(1, 2)))[0]:
        for side in (columns < middle[z], columns >= middle[z]):
            part = lung[z] & side[None, :]
            if np.count_nonzero(part) > 20:
                envelope[z] |= convex_hull_image(part)
    return envelope
