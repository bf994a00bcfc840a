"""Lung involvement, Eq. 1 of the paper, on numpy arrays (no Django here): the one Eq. 1 and the one
`Involvement` type of the platform.

    involvement % = 100 * sum over slices of abnormal area / sum over slices of lung area

Pixel spacing is constant within a series, so areas are pixel counts. Percentages are relative to
the lung region handed in; only abnormal pixels inside it count. Volumes are pixel counts times the
voxel volume (pixel area x slice spacing, the step between slices, not their thickness).
Forming the lung region from a lung mask and the marks (`inference.involvement`) is the caller's
job; phantoms hand in their true lung.
"""

from __future__ import annotations

from dataclasses import asdict, astuple, dataclass, fields

import numpy as np

from .labels import BACKGROUND, GGO, RETICULATION


@dataclass(frozen=True)
class Involvement:
    reticulation_pct: float
    ggo_pct: float
    total_pct: float
    lung_volume_ml: float  # of the lung region, abnormal pixels included
    reticulation_ml: float
    ggo_ml: float
    abnormal_ml: float

    def as_dict(self, *, patterns_told_apart: bool = True) -> dict[str, float | None]:
        """The figures by name; a source that cannot tell the patterns apart (a merged model) has no split."""
        figures = asdict(self)
        if not patterns_told_apart:
            figures.update(dict.fromkeys(PATTERN_SPLIT_FIELDS))
        return figures


PATTERN_SPLIT_FIELDS = ("reticulation_pct", "ggo_pct", "reticulation_ml", "ggo_ml")
INVOLVEMENT_FIELDS = tuple(field.name for field in fields(Involvement))


def pixel_area_mm2(pixel_spacing_mm: float | tuple[float, float]) -> float:
    spacing = np.asarray(pixel_spacing_mm, dtype=float).ravel()
    if spacing.size == 1:
        spacing = np.repeat(spacing, 2)
    if spacing.size != 2 or not np.all(spacing > 0):
        raise ValueError(f"pixel spacing must be one or two positive numbers (mm), got {pixel_spacing_mm!r}")
    return float(spacing[0] * spacing[1])


def check_label_volume(labels: np.ndarray, lung: np.ndarray) -> None:
    if labels.shape != lung.shape or labels.ndim != 3:
        raise ValueError(f"labels {labels.shape} and lung {lung.shape} must be the same (z, y, x) shape")
    # Every valid volume passes on its extremes alone: np.unique sorts the whole volume (a second a series).
    if labels.size == 0 or (labels.min() >= BACKGROUND and labels.max() <= GGO and labels.dtype.kind in "iub"):
        return
    unknown = np.setdiff1d(np.unique(labels), (BACKGROUND, RETICULATION, GGO))
    if unknown.size:
        raise ValueError(f"labels must be 0, 1 or 2; found {unknown.tolist()}")


@dataclass(frozen=True)
class RegionCounts:
    """What Eq. 1 sums over the slices: the lung region's pixels and each pattern's inside it."""

    region_pixels: int = 0
    reticulation_pixels: int = 0
    ggo_pixels: int = 0

    def __add__(self, other: RegionCounts) -> RegionCounts:
        return RegionCounts(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))


def region_counts(labels: np.ndarray, lung_region: np.ndarray) -> RegionCounts:
    """The pixel counts of Eq. 1 in labels (z, y, x) or one slice (y, x): 0 background, 1 reticulation,
    2 GGO; lung_region bool of the same shape. Only labels inside the region count."""
    labels = np.asarray(labels)
    region = np.asarray(lung_region, dtype=bool)
    if labels.ndim == 2 and region.ndim == 2:  # one slice: checked as a volume of one
        check_label_volume(labels[np.newaxis], region[np.newaxis])
    else:
        check_label_volume(labels, region)
    by_label = np.bincount(labels[region].ravel(), minlength=GGO + 1)  # one pass over the region
    return RegionCounts(int(by_label.sum()), int(by_label[RETICULATION]), int(by_label[GGO]))


def involvement_in_region(
    labels: np.ndarray,
    lung_region: np.ndarray,
    pixel_spacing_mm: float | tuple[float, float],
    slice_spacing_mm: float,
) -> Involvement:
    """Eq. 1 over all slices of a visit.

    labels: uint8 (z, y, x), 0 background, 1 reticulation, 2 GGO. lung_region: bool (z, y, x).
    An empty lung region gives 0 % (there is then no abnormal pixel counted either) and 0 mL.
    """
    if np.ndim(labels) != 3:
        raise ValueError(f"labels {np.shape(labels)} must have the (z, y, x) shape of a volume")
    return involvement_from_counts(region_counts(labels, lung_region), pixel_spacing_mm, slice_spacing_mm)


def involvement_from_counts(
    counts: RegionCounts, pixel_spacing_mm: float | tuple[float, float], slice_spacing_mm: float
) -> Involvement:
    """Eq. 1 from its pixel counts summed over the slices (`region_counts`, added slice by slice)."""
    if not slice_spacing_mm > 0:
        raise ValueError(f"slice spacing must be positive (mm), got {slice_spacing_mm!r}")
    region_pixels, reticulation_pixels, ggo_pixels = astuple(counts)
    voxel_ml = pixel_area_mm2(pixel_spacing_mm) * float(slice_spacing_mm) / 1000.0

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
