"""Lung masking (K. Scott Mader's algorithm) and the dense-pathology guard, on numpy arrays.

The algorithm, per axial slice, as the paper uses it:

1. binarise: air/lung (HU < -320) vs tissue;
2. clear the objects that touch the image border (outside air, the gap under the patient);
3. label the rest (8-connectivity);
4. keep the two largest regions (every region as large as the second largest, as Mader's code does);
5. erode with a disk (1.4 mm, 2 px at 0.7 mm): detaches vessels and nodules from the mask edge;
6. close with a disk (7 mm, 10 px at 0.7 mm): brings juxtapleural nodules and vessels back in;
7. fill the holes (vessels and airways inside the lung);
8. the result is the lung mask that is applied to the image.

Threshold: a fixed -320 HU rather than Otsu. HU is calibrated, so a fixed value means the same
tissue boundary on every slice and every scanner; Otsu's split depends on what else is in the field of
view (padding outside the reconstruction circle at -3024 HU, how much lung the slice holds) and moves
from slice to slice of one series. -320 HU lies between aerated lung (about -850) and soft tissue
(about 0..+60); partly aerated lung (GGO about -700..-300) mostly stays inside, consolidation does not.

`lung_mask_reference` is the straightforward scikit-image implementation (the specification);
`lung_mask` is the production version, which must give identical masks (the tests and
`tests/benchmarks/bench_lungmask.py` check it) and is about 9x faster at 512x512. Why it is faster:
- one `scipy.ndimage.label` replaces clear_border's labelling plus the second labelling plus
  regionprops; region sizes come from one `bincount`;
- the morphology runs on the bounding box of the kept regions, padded so that the result is exact
  (see `_lung_mask_crop` for the argument);
- the disk closing (about 85 % of the reference's time) is done as a union of a few rectangles, each
  a separable pair of running max/min filters: disk(r) is exactly the union of the rectangles
  [-w, w] x [-h, h] over its distinct half-widths w (checked when the decomposition is built), the
  dilation by a union is the union of the dilations and the erosion by a union is the intersection
  of the erosions. An erosion/dilation through a thresholded Euclidean distance transform is exact too
  (disk(r) is {x^2 + y^2 <= r^2}) and measured as fast; the rectangle form was kept because its
  exactness does not rest on floating-point square roots;
- fill holes = clear the background components (4-connected, as binary_fill_holes) that touch the
  crop border, one labelling instead of an iterated propagation.

Known behaviour of the algorithm (seen on the RICORD series, documented, not corrected, because the
paper's method is this algorithm and both versions must agree):
- CT table: the air *between* patient and table touches the border and is cleared, but the table's own
  closed air cavity does not. Where both lungs are one connected region (at the carina, joined
  through trachea and main bronchi), the table cavity becomes the "second largest region" and is
  kept (RICORD, slices in z order from the base: 97-105 of 248, about 2,700 px, up to 7.4 % of those
  slices' masks, 0.4 % of the series' lung area). It lies far from the lungs, so `lung_region` rarely
  grows from it, but it inflates the lung area of Eq. 1 slightly.
- Trachea and main bronchi: above the apices (RICORD slices ~212-247) the trachea is the largest air
  region and is kept as "lung"; at the hilum they are part of the lung region, and they are what joins
  the two lungs into one region. Both add airway area to the denominator.
- Below the bases the two largest air regions are stomach and bowel gas.
- Dense pathology: consolidation and dense GGO are above -320 HU and fall outside the mask (RICORD's
  right lower lobe). `lung_region` puts back abnormal components that touch the lung, and
  `qc_missed_fraction` measures how much the raw mask missed, so that a study can be flagged.
The clinical remedy for the first three is a slice range (apex to base) chosen per series, or a
3-D connectivity check; both change the method and so belong to a decision, not to this module.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import ndimage as ndi
from skimage.measure import label as sk_label
from skimage.measure import regionprops
from skimage.morphology import binary_closing, binary_erosion, disk
from skimage.segmentation import clear_border

THRESHOLD_HU = -320.0
EROSION_MM = 1.4  # 2 px at the paper's ~0.7 mm pixels
CLOSING_MM = 7.0  # 10 px at the paper's ~0.7 mm pixels

PixelSpacing = float | tuple[float, float] | np.ndarray  # mm: one value, or (row, column)
_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)
_FOUR_CONNECTED = ndi.generate_binary_structure(2, 1)


def _mean_spacing(pixel_spacing_mm: PixelSpacing) -> float:
    spacing = np.asarray(pixel_spacing_mm, dtype=float).ravel()
    if spacing.size not in (1, 2) or not np.all(spacing > 0):
        raise ValueError(f"pixel spacing must be one or two positive numbers (mm), got {pixel_spacing_mm!r}")
    # Disks are isotropic in pixels; in-plane pixels are square on CT, the mean only guards odd headers.
    return float(spacing.mean())


def radius_px(radius_mm: float, pixel_spacing_mm: PixelSpacing) -> int:
    """A radius in millimetres as whole pixels: rounded half up (not banker's rounding), at least 1."""
    return max(1, math.floor(radius_mm / _mean_spacing(pixel_spacing_mm) + 0.5))


def morphology_radii_px(
    pixel_spacing_mm: PixelSpacing,
    *,
    erosion_mm: float = EROSION_MM,
    closing_mm: float = CLOSING_MM,
) -> tuple[int, int]:
    """(erosion, closing) disk radii in pixels for a slice's pixel spacing: (2, 10) at 0.703 mm."""
    return radius_px(erosion_mm, pixel_spacing_mm), radius_px(closing_mm, pixel_spacing_mm)


@dataclass(frozen=True)
class MaderSettings:
    """The algorithm's parameters: threshold in HU, morphology radii in millimetres."""

    threshold_hu: float = THRESHOLD_HU
    erosion_mm: float = EROSION_MM
    closing_mm: float = CLOSING_MM

    def radii_px(self, pixel_spacing_mm: PixelSpacing) -> tuple[int, int]:
        return morphology_radii_px(pixel_spacing_mm, erosion_mm=self.erosion_mm, closing_mm=self.closing_mm)


MADER = MaderSettings()


def _check_slice(slice_hu: np.ndarray) -> np.ndarray:
    slice_hu = np.asarray(slice_hu)
    if slice_hu.ndim != 2:
        raise ValueError(f"expected one 2-D slice (rows, columns), got shape {slice_hu.shape}")
    return slice_hu


# ----------------------------------------------------------------------------------------------
# Reference: the 8 steps written the obvious way with scikit-image. This is the specification that
# the production version is tested against; do not optimise it.


def lung_mask_reference(
    slice_hu: np.ndarray, pixel_spacing_mm: PixelSpacing, settings: MaderSettings = MADER
) -> np.ndarray:
    """Mader's lung mask of one HU slice, straightforward scikit-image version (slow, the spec)."""
    slice_hu = _check_slice(slice_hu)
    r_erode, r_close = settings.radii_px(pixel_spacing_mm)

    binary = slice_hu < settings.threshold_hu  # 1. air and lung
    cleared = clear_border(binary)  # 2.
    labelled = sk_label(cleared)  # 3. full (8-) connectivity, skimage's default
    regions = regionprops(labelled)
    areas = sorted(region.area for region in regions)
    keep = np.zeros(labelled.max() + 1, dtype=bool)
    if areas:  # 4. Mader: drop every region smaller than the second largest
        second_largest = areas[-2] if len(areas) >= 2 else areas[-1]
        for region in regions:
            keep[region.label] = region.area >= second_largest
    mask = keep[labelled]
    # binary_erosion/closing are deprecated in scikit-image 0.26 (removed in 0.28; the project pins
    # <0.27). Their replacements erosion/closing(mode="ignore") compute the same thing, slower.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        mask = binary_erosion(mask, disk(r_erode))  # 5.
        mask = binary_closing(mask, disk(r_close))  # 6.
    return ndi.binary_fill_holes(mask)  # 7. (8.: the caller applies it)


# ----------------------------------------------------------------------------------------------
# Production


@lru_cache(maxsize=32)
def _disk_rectangles(radius: int) -> tuple[tuple[int, int], ...]:
    """disk(radius) as a union of centred rectangles, as (half_width, half_height) pairs."""
    footprint = disk(radius).astype(bool)
    half_widths = footprint[radius:].sum(axis=1) // 2  # row offsets 0..radius below the centre
    rectangles = []
    for half_width in sorted(set(half_widths.tolist())):
        half_height = int(np.flatnonzero(half_widths >= half_width).max())
        rectangles.append((half_width, half_height))
    union = np.zeros_like(footprint)
    for half_width, half_height in rectangles:
        union[radius - half_height : radius + half_height + 1, radius - half_width : radius + half_width + 1] = True
    # The exactness of the production closing rests on this equality.
    assert np.array_equal(union, footprint), f"rectangle decomposition of disk({radius}) is not exact"
    return tuple(rectangles)


def _rectangle_filter(image: np.ndarray, rectangles: tuple[tuple[int, int], ...], *, dilate: bool) -> np.ndarray:
    """Dilation (outside the array False) or erosion (outside True) by a union of rectangles.

    These are the border conventions of skimage's binary_dilation/binary_erosion (mode="ignore").
    """
    running = ndi.maximum_filter1d if dilate else ndi.minimum_filter1d
    border = 0 if dilate else 1
    combine = np.maximum if dilate else np.minimum
    result = np.full_like(image, border)  # identity of the combine: 0 for max, 1 for min
    for half_width, half_height in rectangles:
        rows = running(image, 2 * half_width + 1, axis=1, mode="constant", cval=border)
        rect = running(rows, 2 * half_height + 1, axis=0, mode="constant", cval=border)
        combine(result, rect, out=result)
    return result


def _keep_two_largest_inner(binary: np.ndarray) -> np.ndarray:
    """Steps 2-4 with one labelling: components not touching the border, the two largest kept."""
    labelled, count = ndi.label(binary, structure=_EIGHT_CONNECTED)
    if count == 0:
        return np.zeros(binary.shape, dtype=bool)
    sizes = np.bincount(labelled.ravel(), minlength=count + 1)
    border_labels = np.concatenate([labelled[0], labelled[-1], labelled[:, 0], labelled[:, -1]])
    sizes[border_labels] = 0  # clear_border; also zeroes label 0, the background
    sizes[0] = 0
    inner_sizes = np.sort(sizes[sizes > 0])
    if inner_sizes.size == 0:
        return np.zeros(binary.shape, dtype=bool)
    second_largest = inner_sizes[-2] if inner_sizes.size >= 2 else inner_sizes[-1]
    keep = sizes >= second_largest
    keep[0] = False
    return keep[labelled]


def _lung_mask_crop(candidates: np.ndarray, r_erode: int, r_close: int) -> np.ndarray:
    """Steps 5-7 on the bounding box of `candidates`, padded so that the result is exact.

    With pad >= 2 * r_close + 2 beyond the box (clipped at the image border):
    - dilation: everything outside the crop is False, so nothing outside can feed it;
    - erosion: a dilated pixel lies within r_close of the box, hence >= r_close + 2 from an inner crop
      edge, so its disk never leaves the crop except through the true image border, where the crop
      edge *is* the image edge and "outside True" is skimage's convention;
    - fill holes: pixels within r_close + 1 of an inner crop edge are False after the closing, a
      background frame joined to the outside, so "touches the crop border" = "touches the image border";
    - the first erosion only removes pixels, and pad >= r_erode + 1 keeps its disk inside the crop.
    """
    rows = np.flatnonzero(candidates.any(axis=1))
    cols = np.flatnonzero(candidates.any(axis=0))
    pad = max(2 * r_close + 2, r_erode + 1)
    height, width = candidates.shape
    y0, y1 = max(rows[0] - pad, 0), min(rows[-1] + pad + 1, height)
    x0, x1 = max(cols[0] - pad, 0), min(cols[-1] + pad + 1, width)
    crop = candidates[y0:y1, x0:x1]

    crop = ndi.binary_erosion(crop, structure=disk(r_erode).astype(bool), border_value=1)
    rectangles = _disk_rectangles(r_close)
    dilated = _rectangle_filter(crop.view(np.uint8), rectangles, dilate=True)
    closed = _rectangle_filter(dilated, rectangles, dilate=False).view(bool)

    background, count = ndi.label(~closed, structure=_FOUR_CONNECTED)
    if count:
        edge_labels = np.concatenate([background[0], background[-1], background[:, 0], background[:, -1]])
        reaches_border = np.zeros(count + 1, dtype=bool)
        reaches_border[edge_labels] = True
        reaches_border[0] = False  # label 0 is the lung itself
        closed = ~reaches_border[background]

    mask = np.zeros(candidates.shape, dtype=bool)
    mask[y0:y1, x0:x1] = closed
    return mask


def lung_mask(slice_hu: np.ndarray, pixel_spacing_mm: PixelSpacing, settings: MaderSettings = MADER) -> np.ndarray:
    """Mader's lung mask of one HU slice (rows, columns) -> bool, identical to `lung_mask_reference`."""
    slice_hu = _check_slice(slice_hu)
    r_erode, r_close = settings.radii_px(pixel_spacing_mm)
    candidates = _keep_two_largest_inner(slice_hu < settings.threshold_hu)
    if not candidates.any():
        return candidates
    return _lung_mask_crop(candidates, r_erode, r_close)


def lung_mask_volume(
    volume_hu: np.ndarray, pixel_spacing_mm: PixelSpacing, settings: MaderSettings = MADER
) -> np.ndarray:
    """`lung_mask` of every slice of a (z, y, x) HU volume -> bool (z, y, x)."""
    volume_hu = np.asarray(volume_hu)
    if volume_hu.ndim != 3:
        raise ValueError(f"expected a (slices, rows, columns) volume, got shape {volume_hu.shape}")
    masks = np.zeros(volume_hu.shape, dtype=bool)
    for index, slice_hu in enumerate(volume_hu):
        masks[index] = lung_mask(slice_hu, pixel_spacing_mm, settings)
    return masks


# ----------------------------------------------------------------------------------------------
# Dense-pathology guard


def _in_plane_structure(ndim: int) -> np.ndarray:
    """8-connectivity within a slice and none across slices, so that a 3-D label call works per slice."""
    if ndim == 2:
        return _EIGHT_CONNECTED
    if ndim == 3:
        structure = np.zeros((3, 3, 3), dtype=bool)
        structure[1] = True
        return structure
    raise ValueError(f"expected a slice (2-D) or a volume (3-D), got {ndim}-D")


def dilated_in_plane(mask: np.ndarray) -> np.ndarray:
    """Binary dilation by the 3 x 3 square within each slice (8-adjacency), outside the image empty:
    `ndi.binary_dilation` with `_in_plane_structure`, as four shifted ORs (the square is separable),
    about 10x faster on a series."""
    rows = mask.copy()
    rows[..., 1:, :] |= mask[..., :-1, :]
    rows[..., :-1, :] |= mask[..., 1:, :]
    dilated = rows.copy()
    dilated[..., 1:] |= rows[..., :-1]
    dilated[..., :-1] |= rows[..., 1:]
    return dilated


def lung_region(lung: np.ndarray, abnormal: np.ndarray) -> np.ndarray:
    """The lung united with every abnormal component that overlaps or touches it, per slice.

    The threshold of the lung mask drops consolidation and dense GGO (they are tissue-dense), and the
    morphological closing only brings back what lies within 7 mm of aerated lung. Without this guard a
    dense lesion would be removed from both numerator and denominator of Eq. 1 and involvement would
    be biased low exactly in the sickest patients. Components are 2-D (8-connected within a slice),
    as the algorithm is; "touch" is 8-adjacency. Abnormal components that do not touch the lung
    (a mark on the table, in the mediastinum or the chest wall) stay out. `lung` and `abnormal` are
    bool (y, x) or (z, y, x); applying it twice changes nothing.
    """
    lung = np.asarray(lung, dtype=bool)
    abnormal = np.asarray(abnormal, dtype=bool)
    if lung.shape != abnormal.shape:
        raise ValueError(f"lung {lung.shape} and abnormal {abnormal.shape} must have the same shape")
    structure = _in_plane_structure(lung.ndim)
    components, count = ndi.label(abnormal & ~lung, structure=structure)
    if count == 0:
        return lung.copy()
    next_to_lung = dilated_in_plane(lung)
    touching = np.zeros(count + 1, dtype=bool)
    touching[components[next_to_lung]] = True
    touching[0] = False
    return lung | touching[components]


def qc_missed_fraction(lung: np.ndarray, abnormal: np.ndarray) -> float:
    """Fraction (0..1) of abnormal pixels outside the raw lung mask; 0.0 when nothing is abnormal.

    A quality figure for the lung mask, not a correction: a high value says the threshold dropped
    dense pathology (or the abnormal marks are outside the lungs) and the series deserves a look.
    """
    return missed_fraction(*abnormal_and_missed_pixels(lung, abnormal))


def abnormal_and_missed_pixels(lung: np.ndarray, abnormal: np.ndarray) -> tuple[int, int]:
    """The abnormal pixels, and those of them outside the raw lung mask (sums over slices add up)."""
    lung = np.asarray(lung, dtype=bool)
    abnormal = np.asarray(abnormal, dtype=bool)
    if lung.shape != abnormal.shape:
        raise ValueError(f"lung {lung.shape} and abnormal {abnormal.shape} must have the same shape")
    return int(abnormal.sum()), int((abnormal & ~lung).sum())


def missed_fraction(abnormal_pixels: int, missed_pixels: int) -> float:
    """`qc_missed_fraction` from its counts."""
    return missed_pixels / abnormal_pixels if abnormal_pixels else 0.0


DENSE_HU_RANGE = (-750.0, -100.0)  # partly aerated to consolidated lung: above air, below soft tissue
_MIN_HULL_PIXELS = 200  # a lung component smaller than this (a bronchus, gas) spans no hull worth trusting


def dense_pathology_candidates(slice_hu: np.ndarray, lung: np.ndarray) -> np.ndarray:
    """Dense lung the threshold dropped: -750 < HU < -100, outside the raw mask, enclosed by a lung.

    "Enclosed" is inside the convex hull of one 2-D lung component and touching the mask, which keeps
    chest-wall fat and the partial-volume rim of the body outline out; a 3x3 opening removes the thin
    partial-volume seam where lung meets mediastinum. Used for the source-free QC
    figure of a series (how much dense tissue the mask left out), not to change the mask itself.
    """
    lung = np.asarray(lung, dtype=bool)
    hu = np.asarray(slice_hu)
    candidates = np.zeros_like(lung)
    boxes = ndi.find_objects(lung.view(np.uint8))
    if not boxes:
        return candidates
    # Everything below happens inside the hulls, which lie in the lung's bounding box; outside it the
    # lung and the hulls are empty, which is what the opening and the touch test read beyond an image's
    # edge. So the box gives the whole slice's result, at a third of its area or less.
    box = boxes[0]
    lung_box, hu_box = lung[box], hu[box]
    components, count = ndi.label(lung_box, structure=_EIGHT_CONNECTED)
    hull = np.zeros_like(lung_box)
    sizes = np.bincount(components.ravel(), minlength=count + 1)
    # The hull of a component lies in its bounding box: computing it there is ~8x cheaper than on the slice.
    for index, component_box in enumerate(ndi.find_objects(components), start=1):
        if component_box is not None and sizes[index] >= _MIN_HULL_PIXELS:
            hull[component_box] |= convex_hull_filled(components[component_box] == index)
    if not hull.any():
        return candidates
    low, high = DENSE_HU_RANGE
    dense = (hu_box > low) & (hu_box < high) & hull & ~lung_box
    # An opening drops the 1-2 px partial-volume seam along the mediastinum and the pleura.
    dense = ndi.binary_opening(dense, structure=_EIGHT_CONNECTED)
    candidates[box] = lung_region(lung_box, dense) & ~lung_box
    return candidates


_DIAMOND = np.array([[-1, 0], [1, 0], [0, -1], [0, 1]])  # a pixel's edge midpoints, in doubled coordinates


def convex_hull_filled(component: np.ndarray) -> np.ndarray:
    """skimage's `convex_hull_image(component)` (the hull of the pixels' edge midpoints, its border
    included), 3x faster: the hull is found from each row's outermost pixels, and each row's run
    inside it from the hull's edges in exact integer arithmetic (coordinates doubled, so the half-pixel
    midpoints are whole numbers) instead of a point-in-polygon test of every pixel of the box."""
    from scipy.spatial import ConvexHull, QhullError
    from skimage.morphology import convex_hull_image

    rows = np.flatnonzero(component.any(axis=1))
    first = np.argmax(component[rows], axis=1)
    last = component.shape[1] - 1 - np.argmax(component[rows, ::-1], axis=1)
    centres = 2 * np.concatenate([np.stack([rows, first], axis=1), np.stack([rows, last], axis=1)])
    try:
        centres = centres[ConvexHull(centres).vertices]
        points = (centres[:, np.newaxis, :] + _DIAMOND).reshape(-1, 2)
        corners = points[ConvexHull(points).vertices].astype(np.int64)
    except QhullError:  # pixel centres on one line: skimage's own way
        return convex_hull_image(component)
    edges = np.roll(corners, -1, axis=0) - corners
    # Pixel (r, c) is at P = (2r, 2c); it is in the hull where edge x (P - corner) has the interior's
    # sign for every edge. For a row that is k c + m >= 0 per edge.
    doubled_rows = 2 * np.arange(component.shape[0], dtype=np.int64)[:, np.newaxis]
    centre = corners.mean(axis=0)  # strictly inside: its sign is the interior's
    inside = np.sign(edges[0, 0] * (centre[1] - corners[0, 1]) - edges[0, 1] * (centre[0] - corners[0, 0]))
    k = np.broadcast_to(inside * 2 * edges[:, 0], (component.shape[0], len(edges)))
    m = inside * (-edges[:, 0] * corners[:, 1] - edges[:, 1] * (doubled_rows - corners[:, 0]))
    divisor = np.where(k == 0, 1, k)
    unbounded = np.int64(1 << 40)
    lowest = np.where(k > 0, -(m // divisor), -unbounded).max(axis=1)  # c >= ceil(-m / k)
    highest = np.where(k < 0, m // -divisor, unbounded).min(axis=1)  # c <= floor(m / -k)
    highest[((k == 0) & (m < 0)).any(axis=1)] = -1  # a row the hull does not reach
    columns = np.arange(component.shape[1])
    return (columns >= lowest[:, np.newaxis]) & (columns <= highest[:, np.newaxis])


def dense_lung_pixels(slice_hu: np.ndarray, lung: np.ndarray) -> int:
    """Dense (-750..-100 HU) pixels inside the raw lung mask."""
    low, high = DENSE_HU_RANGE
    hu = np.asarray(slice_hu)
    return int((np.asarray(lung, dtype=bool) & (hu > low) & (hu < high)).sum())
