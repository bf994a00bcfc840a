"""Lung involvement of a visit from a label map and a lung mask (no Django here).

Eq. 1 itself is `ildplatform.involvement.involvement_in_region`; what this module adds is the lung
*region* it is computed over: the lung mask united with the abnormal components that touch it
(`lung_region`). The raw threshold mask drops dense GGO and consolidation; counting such pixels as
abnormal but not as lung would let involvement exceed 100 %, and dropping them from both would bias
it low. Abnormal marks that do not touch the lung (on the table, in the chest wall) are not lung
involvement and are not counted.
"""

from __future__ import annotations

import numpy as np

from ildplatform.involvement import Involvement, involvement_in_region
from ildplatform.labels import BACKGROUND
from inference.lungmask import lung_region


def involvement(
    labels: np.ndarray,
    lung: np.ndarray,
    pixel_spacing_mm: float | tuple[float, float],
    slice_spacing_mm: float,
) -> Involvement:
    """Eq. 1 over all slices of a visit, on the lung region of `lung` and the marks.

    labels: uint8 (z, y, x), 0 background, 1 reticulation, 2 GGO. lung: bool (z, y, x), the lung
    mask (raw or already a lung region: forming the region is idempotent).
    """
    labels = np.asarray(labels)
    # Shapes and label values are checked once, by lung_region and Eq. 1 themselves.
    region = lung_region(np.asarray(lung, dtype=bool), labels != BACKGROUND)
    return involvement_in_region(labels, region, pixel_spacing_mm, slice_spacing_mm)
