"""A 3-D, pathology-inclusive lung segmentation of a whole CT series (no Django here).

After Hu, Hoffman & Reinhardt (IEEE TMI 2001): air inside the body is thresholded in 3-D and split
into its regions (lungs, trachea and main bronchi, stomach and bowel gas, the table's cavity); the
lungs are the regions that reach above the carina; left and right are told apart; then the dense
pathology the air threshold drops (GGO, consolidation, the pleural rim) is brought back along the
lung. Sizes are millimetres; the work is done on a grid of about GRID_MM in-plane and the lung
border is then settled on the full-resolution pixels.

The steps and why:
1. Body: tissue (> AIR_HU) with its holes filled slice by slice, largest 3-D object. Air outside it
   (around the patient, under the table) is never lung.
2. Air regions: air inside the body, eroded by CORE_DEPTH_MM (distance transform) so that thin
   connections (partial volume through the diaphragm dome, narrow bronchi) break; each remaining core
   is a marker, and every air voxel goes to its marker by a watershed on the distance (regions meet
   at the narrowest places).
3. Trachea: the region that holds the air in the most cranial slice nearest the body's middle, when
   that air is small in-plane (a tube). Where it is still joined to the lungs, deeper erosions are
   tried. Its lowest slice is the carina's level. Small regions that continue it there are the main
   bronchi.
4. Lungs: large regions that reach above the carina (stomach and bowel gas never do); every other
   region joined to them through air joins them (lung cut into pieces by disease, however small),
   except the trachea, the main bronchi and pure gas below the carina. The regions are told apart on
   a grid REGION_FACTOR times coarser; each air voxel of the working grid takes its region's verdict,
   and a piece cut off on the coarser grid joins where the working grid's air still joins it.
5. Left and right: each lung region lies on the side of the midline (the trachea's column at the
   carina) its centre is on, and each piece takes the side of the lung region it is joined to. Where
   the lungs are one region, it is split at its narrowest place by deeper erosion.
6. Pathology: holes up to MAX_LUNG_HOLE_CM2 are filled slice by slice (vessels, nodules; not the
   heart or the liver dome, which the lung surrounds on some slices), then the lung grows up to
   PATHOLOGY_REACH_MM into voxels below DENSE_LUNG_MAX_HU (GGO, dense lung, partial volume at the
   pleura) that belong to no other air region, and pleural bites (consolidation against the chest wall) narrower than
   2 * PLEURAL_CLOSING_MM are closed slice by slice. Bone (> BONE_HU) never joins.

A series thinner than MIN_3D_EXTENT_MM (a few slices, a single slice) shows neither the airway tree
nor a lung's volume: there, no trachea is looked for and the lungs are the air regions of at least
MIN_SLICE_LUNG_CM2 per slice (stomach gas on such a slice is not told apart).
"""

from __future__ import annotations

from dataclasses import dataclass

import edt
import numpy as np
from scipy import ndimage as ndi
from skimage.segmentation import watershed

from ildplatform.labels import LEFT_LUNG, RIGHT_LUNG

AIR_HU = -500.0  # below: air (aerated lung about -850, airway and bowel gas about -1000)
DENSE_LUNG_MAX_HU = -100.0  # lung growth takes GGO, dense lung and pleural partial volume up to fat
BONE_HU = 300.0
GRID_MM = 1.4  # in-plane size of the working grid
REGION_FACTOR = 2  # the air regions are told apart on a grid this many times coarser in-plane
CORE_DEPTH_MM = (4.0, 6.0, 8.0, 10.0)  # erosion depths tried until the trachea stands apart
TRACHEA_MAX_AREA_CM2 = 8.0  # a tube of at most about 3 cm across where it enters the volume
MIN_LUNG_ML = 100.0  # a lung region; smaller regions join a lung only through air
MIN_3D_EXTENT_MM = 60.0  # a thinner series (a few slices) shows no airway tree: its lungs are told by area
MIN_SLICE_LUNG_CM2 = 5.0  # a lung on a slice of a thin series
GAS_HU = -900.0  # mean of a region of pure gas (bowel, stomach); lung parenchyma is denser
PATHOLOGY_REACH_MM = 10.0
MAIN_BRONCHI_ML = 10.0  # a main bronchus holds about 3 (right) to 6 mL (left)
MAIN_BRONCHUS_MM = 50.0  # and ends within this distance of the carina
MAX_LUNG_HOLE_CM2 = 12.0  # vessels, nodules and lesions inside the lung; the heart and the liver dome are larger
PLEURAL_CLOSING_MM = 8.0


@dataclass(frozen=True)
class Grid:
    """The working grid: the factor it shrinks rows and columns by, and its voxel size (z, y, x) in mm."""

    factor: int
    spacing_mm: tuple[float, float, float]

    @property
    def voxel_ml(self) -> float:
        return float(np.prod(self.spacing_mm)) / 1000.0


def working_grid(pixel_spacing_mm: tuple[float, float], slice_spacing_mm: float) -> Grid:
    factor = max(1, int(round(GRID_MM / float(np.mean(pixel_spacing_mm)))))
    row_mm, column_mm = (float(s) * factor for s in pixel_spacing_mm)
    return Grid(factor=factor, spacing_mm=(float(slice_spacing_mm), row_mm, column_mm))


def block_mean(volume_hu: np.ndarray, factor: int) -> np.ndarray:
    """Mean HU of factor x factor blocks in each slice (edges that do not fill a block are cropped)."""
    if factor == 1:
        return volume_hu.astype(np.float32)
    rows, columns = volume_hu.shape[1] // factor, volume_hu.shape[2] // factor
    total = np.zeros((volume_hu.shape[0], rows, columns), dtype=np.float32)
    for row in range(factor):
        for column in range(factor):
            total += volume_hu[:, row : rows * factor : factor, column : columns * factor : factor]
    return total / (factor * factor)


_IN_PLANE = np.zeros((3, 3, 3), dtype=bool)
_IN_PLANE[1] = [[False, True, False], [True, True, True], [False, True, False]]


def _holes_per_slice(mask: np.ndarray) -> np.ndarray:
    """Background enclosed by the mask within its slice (in 3-D a lung's holes open into the airways,
    and the body's into the neck). One labelling of the whole volume, slices kept apart."""
    background, _ = ndi.label(~mask, structure=_IN_PLANE)
    outside = np.zeros(background.max() + 1, dtype=bool)
    for edge in (background[:, 0, :], background[:, -1, :], background[:, :, 0], background[:, :, -1]):
        outside[edge] = True
    outside[0] = True
    return ~outside[background]


def _fill_holes_per_slice(mask: np.ndarray) -> np.ndarray:
    return mask | _holes_per_slice(mask)


def _fill_small_holes_per_slice(mask: np.ndarray, max_area_cm2: float, grid: Grid) -> np.ndarray:
    """Holes of at most max_area_cm2 filled in each slice: vessels inside the lung, not the heart."""
    labels, _ = ndi.label(_holes_per_slice(mask), structure=_IN_PLANE)
    areas_cm2 = np.bincount(labels.ravel()) * grid.spacing_mm[1] * grid.spacing_mm[2] / 100.0
    small = areas_cm2 <= max_area_cm2
    small[0] = False
    return mask | small[labels]


def _largest_component(mask: np.ndarray) -> np.ndarray:
    labels, count = ndi.label(mask)
    if count <= 1:
        return labels > 0
    # Sizes counted on every 4th voxel along each axis: the body outweighs the rest by far.
    sizes = np.bincount(labels[::4, ::4, ::4].ravel(), minlength=count + 1)
    sizes[0] = 0
    return labels == sizes.argmax()


def distance_mm(mask: np.ndarray, spacing_mm: tuple[float, float, float]) -> np.ndarray:
    """Distance of every mask voxel to the nearest voxel outside it, in mm (0 outside the mask)."""
    # The `edt` package: the same values as scipy's distance_transform_edt, several times faster.
    return edt.edt(np.ascontiguousarray(mask), anisotropy=spacing_mm, parallel=0)


def body_mask(volume_hu: np.ndarray) -> np.ndarray:
    return _largest_component(_fill_holes_per_slice(volume_hu > AIR_HU))


def air_regions(air: np.ndarray, grid: Grid, core_depth_mm: float) -> np.ndarray:
    """Label every air voxel with its region: watershed of the depth from cores deeper than core_depth_mm."""
    depth = distance_mm(air, grid.spacing_mm)
    markers, _ = ndi.label(depth > core_depth_mm)
    return watershed(-depth, markers, mask=air)


def trachea_label(regions: np.ndarray, body: np.ndarray, grid: Grid) -> int:
    """The region of the trachea, 0 when the most cranial air is no tube near the body's middle."""
    top = int(np.nonzero(regions.any(axis=(1, 2)))[0].max())
    middle = np.nonzero(body[top])[1].mean()
    pixel_cm2 = grid.spacing_mm[1] * grid.spacing_mm[2] / 100.0
    best, best_offset = 0, np.inf
    for label in np.unique(regions[top]):
        if label == 0:
            continue
        rows, columns = np.nonzero(regions[top] == label)
        offset = abs(columns.mean() - middle) * grid.spacing_mm[2]
        if rows.size * pixel_cm2 <= TRACHEA_MAX_AREA_CM2 and offset < best_offset:
            best, best_offset = int(label), offset
    return best


def _z_ranges(regions: np.ndarray) -> dict[int, tuple[int, int]]:
    found = ndi.find_objects(regions)
    return {label: (box[0].start, box[0].stop - 1) for label, box in enumerate(found, start=1) if box is not None}


def lung_labels_of_regions(regions: np.ndarray, trachea: int, grid: Grid) -> list[int]:
    """Large regions that reach above the carina (the trachea's lowest slice)."""
    sizes_ml = np.bincount(regions.ravel()) * grid.voxel_ml
    z_ranges = _z_ranges(regions)
    carina_z = z_ranges[trachea][0] if trachea else -1
    return [
        label
        for label, (low, high) in z_ranges.items()
        if label != trachea and sizes_ml[label] >= MIN_LUNG_ML and high > carina_z
    ]


def lung_labels_of_thin_regions(regions: np.ndarray, grid: Grid) -> list[int]:
    """Regions as large as a lung on a slice (a series too thin to show the airway tree or a lung's
    volume): MIN_SLICE_LUNG_CM2 per slice on average."""
    sizes_cm2 = np.bincount(regions.ravel()) * grid.spacing_mm[1] * grid.spacing_mm[2] / 100.0
    return [
        label
        for label, (low, high) in _z_ranges(regions).items()
        if sizes_cm2[label] / (high - low + 1) >= MIN_SLICE_LUNG_CM2
    ]


def _lung_pieces(
    regions: np.ndarray, lung_labels: list[int], coarse_hu: np.ndarray, trachea: int, body: np.ndarray, grid: Grid
) -> tuple[np.ndarray, np.ndarray]:
    """The lung regions and every air region joined to them through air, however small: lung cut into
    pieces by disease. Not the trachea and main bronchi, and not gas below the carina (stomach, bowel:
    mean below GAS_HU; a lung piece holds parenchyma, diseased lung even more so).

    Returns the side of each voxel (RIGHT_LUNG, LEFT_LUNG) where the regions tell the lungs apart:
    a lung region lies on the side of the midline (the carina's column) its centre is on, and a piece
    takes the side of the lung it is joined to. Where every lung region lies on one side (the lungs
    are one region), the pieces are all RIGHT_LUNG and the caller splits them. Returns also the air
    that is never lung (the trachea, main bronchi, gas below the carina).
    """
    z_ranges = _z_ranges(regions)
    carina_z = z_ranges[trachea][0] if trachea else -1
    air = regions > 0
    labelled, count = regions[air], int(regions.max()) + 1
    sizes = np.maximum(np.bincount(labelled, minlength=count), 1)
    mean_hu = np.bincount(labelled, weights=coarse_hu[air], minlength=count) / sizes
    centre_columns = np.bincount(labelled, weights=np.nonzero(air)[2], minlength=count) / sizes
    neighbours = _touching_regions(regions)
    gas = [label for label, (low, high) in z_ranges.items() if high < carina_z and mean_hu[label] < GAS_HU]
    excluded = {0, trachea, *gas, *_main_bronchi(neighbours.get(trachea, ()), z_ranges, carina_z, sizes, grid)}
    midline = _midline_column(regions, trachea, carina_z, body)
    side_of = np.zeros(count, dtype=np.uint8)
    for label in lung_labels:
        side_of[label] = RIGHT_LUNG if centre_columns[label] < midline else LEFT_LUNG
    if len(set(side_of[lung_labels].tolist())) < 2:
        side_of[lung_labels] = RIGHT_LUNG
    # Breadth first from the lungs: a piece takes the side of the lung region that reaches it first.
    frontier = list(lung_labels)
    while frontier:
        reached = []
        for label in frontier:
            for neighbour in neighbours.get(label, ()):
                if side_of[neighbour] == 0 and neighbour not in excluded:
                    side_of[neighbour] = side_of[label]
                    reached.append(neighbour)
        frontier = reached
    never_lung = np.zeros(count, dtype=bool)
    never_lung[sorted(excluded - {0})] = True
    return side_of[regions], never_lung[regions]


def _main_bronchi(
    beside_trachea: set[int], z_ranges: dict[int, tuple[int, int]], carina_z: int, sizes: np.ndarray, grid: Grid
) -> list[int]:
    """Regions that continue the trachea at the carina, as small as a main bronchus: the large airways
    Hu et al. remove by region growing from the trachea."""
    reach = MAIN_BRONCHUS_MM / grid.spacing_mm[0]
    return [
        label
        for label in beside_trachea
        if sizes[label] * grid.voxel_ml <= MAIN_BRONCHI_ML
        and abs(z_ranges[label][0] - carina_z) <= reach
        and abs(z_ranges[label][1] - carina_z) <= reach
    ]


def _midline_column(regions: np.ndarray, trachea: int, carina_z: int, body: np.ndarray) -> float:
    """The column between the lungs: the trachea's at the carina, else the middle of the body."""
    if trachea:
        return float(np.nonzero(regions[carina_z] == trachea)[1].mean())
    return float(np.nonzero(body.any(axis=0))[1].mean())


def _touching_regions(regions: np.ndarray) -> dict[int, set[int]]:
    """Which labelled regions touch which (face neighbours), from the volume shifted along each axis."""
    pairs = []
    for axis in range(regions.ndim):
        lower = regions[tuple(slice(None, -1) if a == axis else slice(None) for a in range(regions.ndim))]
        upper = regions[tuple(slice(1, None) if a == axis else slice(None) for a in range(regions.ndim))]
        differ = (lower != upper) & (lower > 0) & (upper > 0)
        pairs.append(np.stack([lower[differ], upper[differ]], axis=1))
    neighbours: dict[int, set[int]] = {}
    for first, second in np.unique(np.concatenate(pairs), axis=0).tolist():
        neighbours.setdefault(first, set()).add(second)
        neighbours.setdefault(second, set()).add(first)
    return neighbours


def split_left_right(lung: np.ndarray, grid: Grid) -> np.ndarray:
    """RIGHT_LUNG / LEFT_LUNG labels; a lung joined to the other is split where it is narrowest."""
    components, count = ndi.label(lung)
    pair = _two_lung_components(components, count)
    if pair:
        # Apart already (the usual case): each component takes the side of the lung nearer its centre.
        return _sides_of_components(components, count, *pair)
    depth = distance_mm(lung, grid.spacing_mm)
    for core_depth in CORE_DEPTH_MM:
        cores, count = ndi.label(depth > core_depth)
        pair = _two_lung_components(cores, count)
        if pair:
            break
    else:
        return lung.astype(np.uint8) * RIGHT_LUNG  # one lung only (e.g. after pneumonectomy)
    sides = _sides_of_components(cores, count, *pair)
    return watershed(-depth, sides, mask=lung).astype(np.uint8)


def _two_lung_components(components: np.ndarray, count: int) -> tuple[int, int] | None:
    """The labels of the two largest components when the smaller is a lung too (see `_two_lungs`)."""
    if count < 2:
        return None
    sizes = np.bincount(components.ravel())
    sizes[0] = 0
    first, second = np.argsort(sizes)[::-1][:2]
    return (int(first), int(second)) if _both_lungs(sizes[first], sizes[second]) else None


def _sides_of_components(components: np.ndarray, count: int, first: int, second: int) -> np.ndarray:
    """The two lungs (`first`, `second`) by their centre's column: the patient's right at lower columns;
    every other component goes to the lung whose centre column is nearer its own."""
    centres = ndi.center_of_mass(components > 0, components, index=np.arange(1, count + 1))
    columns = np.concatenate([[0.0], np.asarray(centres, dtype=float).reshape(-1, 3)[:, 2]])
    right, left = sorted((first, second), key=lambda label: columns[label])
    middle = (columns[right] + columns[left]) / 2
    side_of = np.where(columns < middle, RIGHT_LUNG, LEFT_LUNG).astype(np.uint8)
    side_of[0] = 0
    return side_of[components]


def _closing_per_slice(mask: np.ndarray, radius_mm: float, grid: Grid) -> np.ndarray:
    in_plane = grid.spacing_mm[1:]
    closed = np.zeros_like(mask)
    for z in np.flatnonzero(mask.any(axis=(1, 2))):
        dilated = edt.edt(~mask[z], anisotropy=in_plane, parallel=1) <= radius_mm
        closed[z] = edt.edt(dilated, anisotropy=in_plane, parallel=1) > radius_mm
    return closed


def with_pathology(lung: np.ndarray, volume_hu: np.ndarray, other_air: np.ndarray, grid: Grid) -> np.ndarray:
    """The lung with the dense tissue along it that the air threshold dropped."""
    filled = _fill_small_holes_per_slice(lung, MAX_LUNG_HOLE_CM2, grid)
    reach = distance_mm(~filled, grid.spacing_mm) <= PATHOLOGY_REACH_MM
    candidates = (filled | (reach & (volume_hu < DENSE_LUNG_MAX_HU))) & ~other_air
    components, _ = ndi.label(candidates)
    touching = np.unique(components[filled])
    grown = np.isin(components, touching[touching > 0])
    closed = _closing_per_slice(grown, PLEURAL_CLOSING_MM, grid) & ~other_air & (volume_hu < BONE_HU)
    return _fill_small_holes_per_slice(grown | closed, MAX_LUNG_HOLE_CM2, grid)


def lung_labels_coarse(coarse_hu: np.ndarray, grid: Grid, thin: bool = False) -> np.ndarray:
    """RIGHT_LUNG / LEFT_LUNG / 0 on the working grid.

    The air regions are told apart on a grid REGION_FACTOR times coarser (what is lung, trachea or gas,
    and which side, is a matter of centimetres); each air voxel of the working grid takes the verdict
    of the region voxel it lies in, and the pathology is grown on the working grid.
    """
    labels = np.zeros(coarse_hu.shape, dtype=np.uint8)
    region_grid = Grid(
        factor=grid.factor * REGION_FACTOR,
        spacing_mm=(grid.spacing_mm[0], grid.spacing_mm[1] * REGION_FACTOR, grid.spacing_mm[2] * REGION_FACTOR),
    )
    found = lung_regions(block_mean(coarse_hu, REGION_FACTOR), region_grid, thin)
    air = coarse_hu < AIR_HU
    sides = upsampled(found.sides, REGION_FACTOR, coarse_hu.shape) * air
    lung = sides > 0
    if not lung.any():
        return labels
    # The rest works on the box around the lungs, with room for the pathology to grow.
    box = _padded_box(lung, grid)
    sides, lung, air = sides[box], lung[box], air[box]
    # Air at the edge of the trachea or the stomach, where the coarser grid saw tissue, is theirs too.
    never_lung = upsampled(ndi.binary_dilation(found.never_lung), REGION_FACTOR, coarse_hu.shape)[box] & air & ~lung
    loose = upsampled(found.loose, REGION_FACTOR, coarse_hu.shape)[box] & air & ~lung
    # A piece the coarser grid cut off from the lung (a thin channel of air) joins it where the working
    # grid's air still joins them.
    components, _ = ndi.label(air & ~never_lung)
    joined = loose & np.isin(components, np.unique(components[lung]))
    lung |= joined
    if not _two_lungs(sides):
        sides = split_left_right(lung, grid)
    region = with_pathology(lung, coarse_hu[box], never_lung | (loose & ~joined), grid)
    labels[box] = _grown_sides(region, sides, grid)
    return labels


@dataclass(frozen=True)
class AirRegions:
    """The air inside the body, told apart: the side of each lung voxel (RIGHT_LUNG, LEFT_LUNG, 0); the
    air that is never lung (trachea, stomach and bowel gas below the carina); the air regions joined
    to none of these (pieces that may join the lung through air too thin for this grid)."""

    sides: np.ndarray
    never_lung: np.ndarray
    loose: np.ndarray


def lung_regions(region_hu: np.ndarray, grid: Grid, thin: bool = False) -> AirRegions:
    found = AirRegions(
        sides=np.zeros(region_hu.shape, dtype=np.uint8),
        never_lung=np.zeros(region_hu.shape, dtype=bool),
        loose=np.zeros(region_hu.shape, dtype=bool),
    )
    body = body_mask(region_hu)
    air = (region_hu < AIR_HU) & body
    # One voxel of tissue around the air: at the box's faces the depth would run on past them.
    box = box_around(air, (1, 1, 1))
    if box is None:
        return found
    regions = None
    for core_depth in CORE_DEPTH_MM:
        deeper = air_regions(air[box], grid, core_depth)
        if not deeper.any():
            break  # no air this deep: the shallower split stands
        regions = deeper
        if thin:
            trachea, lung_labels = 0, lung_labels_of_thin_regions(regions, grid)
            break
        trachea = trachea_label(regions, body[box], grid)
        lung_labels = lung_labels_of_regions(regions, trachea, grid)
        if trachea and lung_labels:
            break  # the trachea stands apart from the lungs
    if regions is None:
        return found  # no air region as deep as the shallowest core: no lung
    sides, never_lung = _lung_pieces(regions, lung_labels, region_hu[box], trachea, body[box], grid)
    found.sides[box] = sides
    found.never_lung[box] = never_lung
    found.loose[box] = (regions > 0) & (sides == 0) & ~never_lung
    return found


def _two_lungs(sides: np.ndarray) -> bool:
    """Both lungs present in a side map."""
    return _both_lungs(np.count_nonzero(sides == RIGHT_LUNG), np.count_nonzero(sides == LEFT_LUNG))


def _both_lungs(first_size: int, second_size: int) -> bool:
    """Two pieces are both lungs when the smaller is at least a tenth of the larger."""
    return min(first_size, second_size) >= 0.1 * max(first_size, second_size)


def box_around(mask: np.ndarray, margins: tuple[int, ...]) -> tuple[slice, ...] | None:
    """The mask's bounding box widened by `margins` voxels along each axis (within the array); None
    when the mask is empty."""
    found = ndi.find_objects(mask.astype(np.uint8))
    if not found:
        return None
    return tuple(
        slice(max(s.start - m, 0), min(s.stop + m, n)) for s, m, n in zip(found[0], margins, mask.shape, strict=True)
    )


def _padded_box(mask: np.ndarray, grid: Grid) -> tuple[slice, ...]:
    """The mask's bounding box widened by the pathology's reach and the pleural closing."""
    return box_around(
        mask, tuple(int(np.ceil((PATHOLOGY_REACH_MM + PLEURAL_CLOSING_MM) / size)) for size in grid.spacing_mm)
    )


def _grown_sides(region: np.ndarray, sides: np.ndarray, grid: Grid) -> np.ndarray:
    """Grown voxels go to the lung they grew from: by their connected piece of the region where it
    holds one lung only, to the nearer lung where the growth joined them."""
    pieces, count = ndi.label(region)
    right = np.bincount(pieces[sides == RIGHT_LUNG], minlength=count + 1) > 0
    left = np.bincount(pieces[sides == LEFT_LUNG], minlength=count + 1) > 0
    side_of = np.where(left & ~right, LEFT_LUNG, RIGHT_LUNG * (right & ~left)).astype(np.uint8)
    labels = side_of[pieces]
    joined = right & left
    if joined.any():
        # Where the growth joined the lungs, a grown voxel goes to the lung nearest to it (measured
        # on every other row and column: the side of a voxel is not a matter of a millimetre).
        both = np.isin(pieces, np.nonzero(joined)[0])
        box = ndi.find_objects(both.astype(np.uint8))[0]
        sparse = sides[box][:, ::2, ::2]
        spacing = (grid.spacing_mm[0], 2 * grid.spacing_mm[1], 2 * grid.spacing_mm[2])
        nearer_right = distance_mm(sparse != RIGHT_LUNG, spacing) <= distance_mm(sparse != LEFT_LUNG, spacing)
        nearest = upsampled(np.where(nearer_right, RIGHT_LUNG, LEFT_LUNG).astype(np.uint8), 2, both[box].shape)
        labels[box][both[box]] = nearest[both[box]]
    return labels


def lung_labels_3d(volume_hu: np.ndarray, pixel_spacing_mm: tuple[float, float], slice_spacing_mm: float) -> np.ndarray:
    """The lungs of a (z, y, x) HU volume: uint8, RIGHT_LUNG, LEFT_LUNG or 0, at full resolution.

    The working grid's decision holds inside the lung and in dense tissue; at the border the
    full-resolution pixels settle it: aerated pixels next to the lung join it, and a border block
    that was mostly air keeps only its pixels below DENSE_LUNG_MAX_HU (the rest is chest wall).
    """
    volume_hu = np.asarray(volume_hu)
    if volume_hu.ndim != 3:
        raise ValueError(f"expected a (slices, rows, columns) volume, got shape {volume_hu.shape}")
    grid = working_grid(pixel_spacing_mm, slice_spacing_mm)
    coarse_hu = block_mean(volume_hu, grid.factor)
    coarse = lung_labels_coarse(coarse_hu, grid, thin=volume_hu.shape[0] * slice_spacing_mm < MIN_3D_EXTENT_MM)
    if grid.factor == 1:
        return coarse
    labels = np.zeros(volume_hu.shape, dtype=np.uint8)
    # Only the box around the lungs (one block wider) is refined at full resolution.
    coarse_box = box_around(coarse > 0, (0, 1, 1))
    if coarse_box is None:
        return labels
    factor = grid.factor
    full_box = (coarse_box[0], *(slice(s.start * factor, min(s.stop * factor, n))
                                 for s, n in zip(coarse_box[1:], volume_hu.shape[1:], strict=True)))  # fmt: skip
    labels[full_box] = _border_settled(volume_hu[full_box], coarse[coarse_box], coarse_hu[coarse_box] < AIR_HU, factor)
    return labels


def _border_settled(volume_hu: np.ndarray, coarse: np.ndarray, mostly_air: np.ndarray, factor: int) -> np.ndarray:
    # Border, ring and neighbour label are found on the grid: a pixel's square of radius `factor`
    # covers exactly its own block and the eight around it, so the grid's 3 x 3 answers are the same.
    shape = volume_hu.shape
    lung = coarse > 0
    around = np.ones((1, 3, 3), dtype=bool)
    border = upsampled(lung & ~ndi.binary_erosion(lung, structure=around) & mostly_air, factor, shape)
    ring = upsampled(ndi.binary_dilation(lung, structure=around) & ~lung, factor, shape)
    chest_wall = border & (volume_hu >= DENSE_LUNG_MAX_HU)
    # Pixels that join take the label of the lung next to them.
    neighbour = np.where(lung, coarse, ndi.maximum_filter(coarse, footprint=around))
    labels = upsampled(neighbour, factor, shape)
    labels[(ring & (volume_hu >= AIR_HU)) | chest_wall] = 0
    return labels


def upsampled(coarse: np.ndarray, factor: int, shape: tuple[int, ...]) -> np.ndarray:
    """Each grid voxel as a factor x factor block, cut or padded (with 0) to `shape`."""
    full = np.zeros(shape, dtype=coarse.dtype)
    repeated = coarse.repeat(factor, axis=1).repeat(factor, axis=2)[:, : shape[1], : shape[2]]
    full[:, : repeated.shape[1], : repeated.shape[2]] = repeated
    return full
