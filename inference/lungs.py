"""The lung methods of the platform and the one lung region every figure is computed in (no Django).

- `lung3d` (the default): the 3-D, pathology-inclusive segmentation of `inference.lung3d`, left and
  right labelled. Its region already holds the dense pathology, so it is used as it is: abnormal
  marks outside it (on the table, in the chest wall) do not count in Eq. 1.
- `mader2d`: the paper's 2-D algorithm (`inference.lungmask`), bit-identical to the paper's steps,
  to reproduce the paper. Its raw mask drops dense pathology, so the abnormal components touching
  it are added back (`lung_region`), as the platform always did for it.
Lung label maps hold 0 outside, RIGHT_LUNG and LEFT_LUNG inside (Mader's regions are given the side
of their centre: the patient's right is towards low columns in the standard axial orientation).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage as ndi

from ildplatform.labels import LEFT_LUNG, RIGHT_LUNG
from ildplatform.parallel import fork_map

from . import lung3d, lungmask

LUNG3D, MADER2D = "lung3d", "mader2d"
LUNG_METHODS = (LUNG3D, MADER2D)
GAS_POCKET_HU = -900.0  # pure gas (stomach, bowel, trachea); aerated lung is denser, about -850 HU
GAS_POCKET_RADIUS_MM = 7.0  # a ball 14 mm across fits in a pocket; no bronchus past the main ones is as wide
MADER_CHUNK_SLICES = 64  # slices per progress report of the 2-D method


def method_with_parameters(method: str) -> str:
    """What a stored mask records about the method that made it."""
    if method == LUNG3D:
        return (
            f"lung3d(air {lung3d.AIR_HU:g} HU, grid {lung3d.GRID_MM} mm, dense < {lung3d.DENSE_LUNG_MAX_HU:g} HU "
            f"within {lung3d.PATHOLOGY_REACH_MM} mm, pleural closing {lung3d.PLEURAL_CLOSING_MM} mm)"
        )
    if method == MADER2D:
        return (
            f"mader2d(threshold {lungmask.THRESHOLD_HU:g} HU, erode {lungmask.EROSION_MM} mm, "
            f"close {lungmask.CLOSING_MM} mm)"
        )
    raise ValueError(f"unknown lung method {method!r}; choose one of {', '.join(LUNG_METHODS)}")


def sides_by_centre(lung: np.ndarray) -> np.ndarray:
    """RIGHT_LUNG / LEFT_LUNG for each 2-D lung component by the side of the slice its centre lies on."""
    labels = np.zeros(lung.shape, dtype=np.uint8)
    rows, columns = np.flatnonzero(lung.any(axis=1)), np.flatnonzero(lung.any(axis=0))
    if rows.size == 0:
        return labels
    # Only the box around the lung is labelled: most of a slice is not lung.
    box = (slice(rows[0], rows[-1] + 1), slice(columns[0], columns[-1] + 1))
    components, count = ndi.label(lung[box])
    sizes = np.maximum(np.bincount(components.ravel(), minlength=count + 1), 1)
    column_of_pixel = np.tile(np.arange(columns[0], columns[-1] + 1), components.shape[0])
    column_sums = np.bincount(components.ravel(), weights=column_of_pixel, minlength=count + 1)
    sides = np.where(column_sums / sizes < lung.shape[1] / 2, RIGHT_LUNG, LEFT_LUNG).astype(np.uint8)
    sides[0] = 0
    labels[box] = sides[components]
    return labels


def lung_labels(
    volume_hu: np.ndarray,
    pixel_spacing_mm: tuple[float, float],
    slice_spacing_mm: float,
    method: str,
    on_progress: Callable[[float], None] = lambda fraction: None,
) -> np.ndarray:
    """The lungs of a (z, y, x) HU volume by `method`: uint8, 0, RIGHT_LUNG or LEFT_LUNG."""
    method_with_parameters(method)  # refuses an unknown method
    if method == LUNG3D:
        labels = lung3d.lung_labels_3d(np.asarray(volume_hu), pixel_spacing_mm, slice_spacing_mm)
        on_progress(1.0)
        return labels
    labels = np.zeros(np.shape(volume_hu), dtype=np.uint8)
    # Slice by slice, so side by side in forked workers (ildplatform.parallel), a few chunks for progress.
    step = max(MADER_CHUNK_SLICES, -(-labels.shape[0] // 4))
    for start in range(0, labels.shape[0], step):
        stop = min(start + step, labels.shape[0])
        labels[start:stop] = fork_map(
            lambda index, start=start: sides_by_centre(
                lungmask.lung_mask(np.asarray(volume_hu[start + index]), pixel_spacing_mm)
            ),
            stop - start,
        )
        on_progress(stop / labels.shape[0])
    return labels


def gas_pockets(
    volume_hu: np.ndarray, lung: np.ndarray, pixel_spacing_mm: tuple[float, float], slice_spacing_mm: float
) -> np.ndarray:
    """Non-lung air inside a lung region, whatever method drew it: pockets of pure gas (mean below
    GAS_POCKET_HU on the working grid) that hold a ball GAS_POCKET_RADIUS_MM in radius, i.e. the
    region's gas opened by that ball. Stomach and bowel gas and the trachea are such pockets; the
    aerated lung and its bronchi are not (a large bulla is, and is worth a look too). Bool, full size."""
    lung = np.asarray(lung, dtype=bool)
    found = np.zeros(lung.shape, dtype=bool)
    boxes = ndi.find_objects(lung.view(np.uint8))
    if not boxes:
        return found
    box = boxes[0]
    grid = lung3d.working_grid(pixel_spacing_mm, slice_spacing_mm)
    coarse_lung = lung3d.block_mean(lung[box].view(np.uint8), grid.factor) >= 0.5
    gas = (lung3d.block_mean(np.asarray(volume_hu)[box], grid.factor) < GAS_POCKET_HU) & coarse_lung
    if not gas.any():
        return found
    cores = lung3d.distance_mm(gas, grid.spacing_mm) > GAS_POCKET_RADIUS_MM
    if cores.any():
        # The ball reaches GAS_POCKET_RADIUS_MM from the cores: their box grown by that much holds every
        # pocket voxel and every core, so the distance to the nearest core is exact on it.
        near = lung3d.box_around(
            cores, tuple(int(np.ceil(GAS_POCKET_RADIUS_MM / spacing)) + 1 for spacing in grid.spacing_mm)
        )
        pocket = np.zeros_like(gas)
        pocket[near] = (lung3d.distance_mm(~cores[near], grid.spacing_mm) <= GAS_POCKET_RADIUS_MM) & gas[near]
        found[box] = lung3d.upsampled(pocket, grid.factor, lung[box].shape) & lung[box]
    return found


def lung_region_for(method: str, lung: np.ndarray, abnormal: np.ndarray) -> np.ndarray:
    """The region Eq. 1, the agreement and the model's predictions are computed in."""
    lung = np.asarray(lung, dtype=bool)
    if method == MADER2D:
        return lungmask.lung_region(lung, abnormal)
    return lung
