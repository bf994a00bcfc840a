"""Lung involvement of one visit, Eq. 1 of the paper, on numpy arrays.

    involvement % = 100 * sum over slices of abnormal area / sum over slices of lung area

Pixel spacing is constant within a series, so areas are pixel counts. The lung area is the lung
*region*: the lung mask united with the abnormal components that touch it (`lung_region`). The raw
threshold mask drops dense GGO and consolidation; counting such pixels as abnormal but not as lung
would let involvement exceed 100 %, and dropping them from both would bias it low. Abnormal marks
that do not touch the lung (on the table, in the chest wall) are not lung involvement and are not
counted. Percentages are relative to the lung region, volumes are lung region or pattern pixels
times the voxel volume (pixel area x slice spacing, the step between slices, not their thickness).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from inference.lungmask import lung_region

LABEL_BACKGROUND = 0
LABEL_RETICULATION = 1
LABEL_GGO = 2


@dataclass(frozen=True)
class Involvement:
    reticulation_pct: float
    ggo_pct: float
    total_pct: float
    lung_volume_ml: float  # of the lung region, abnormal pixels included
    reticulation_ml: float
    ggo_ml: float
    abnormal_ml: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _pixel_area_mm2(pixel_spacing_mm: float | tuple[float, float]) -> float:
    spacing = np.asarray(pixel_spacing_mm, dtype=float).ravel()
    if spacing.size == 1:
        spacing = np.repeat(spacing, 2)
    if spacing.size != 2 or not np.all(spacing > 0):
        raise ValueError(f"pixel spacing must be one or two positive numbers (mm), got {pixel_spacing_mm!r}")
    return float(spacing[0] * spacing[1])


def involvement(
    labels: np.ndarray,
    lung: np.ndarray,
    pixel_spacing_mm: float | tuple[float, float],
    slice_spacing_mm: float,
) -> Involvement:
    """Eq. 1 over all slices of a visit.

    labels: uint8 (z, y, x), 0 background, 1 reticulation, 2 GGO. lung: bool (z, y, x), the lung
    mask (raw or already a lung region: the region is computed here either way, and is idempotent).
    An empty lung region gives 0 % (there is then no abnormal pixel either) and 0 mL.
    """
    labels = np.asarray(labels)
    lung = np.asarray(lung, dtype=bool)
    if labels.shape != lung.shape or labels.ndim != 3:
        raise ValueError(f"labels {labels.shape} and lung {lung.shape} must be the same (z, y, x) shape")
    unknown = np.setdiff1d(np.unique(labels), (LABEL_BACKGROUND, LABEL_RETICULATION, LABEL_GGO))
    if unknown.size:
        raise ValueError(f"labels must be 0, 1 or 2; found {unknown.tolist()}")
    if slice_spacing_mm <= 0:
        raise ValueError(f"slice spacing must be positive (mm), got {slice_spacing_mm!r}")

    region = lung_region(lung, labels != LABEL_BACKGROUND)
    region_pixels = int(region.sum())
    reticulation_pixels = int(np.count_nonzero((labels == LABEL_RETICULATION) & region))
    ggo_pixels = int(np.count_nonzero((labels == LABEL_GGO) & region))
    voxel_ml = _pixel_area_mm2(pixel_spacing_mm) * float(slice_spacing_mm) / 1000.0

    def percent(pixels: int) -> float:
        return 100.0 * pixels / region_pixels if region_pixels else 0.0

    return Involvement(
        reticulation_pct=percent(reticulation_pixels),
        ggo_pct=percent(ggo_pixels),
        total_pct=percent(reticulation_pixels + ggo_pixels),
        lung_volume_ml=region_pixels * voxel_ml,
        reticulation_ml=reticulation_pixels * voxel_ml,
        ggo_ml=ggo_pixels * voxel_ml,
        abnormal_ml=(reticulation_pixels + ggo_pixels) * voxel_ml,
    )
