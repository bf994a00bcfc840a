"""lung3d: the 3-D, pathology-inclusive lung segmentation, on a drawn chest and on the phantoms."""

from __future__ import annotations

import numpy as np
import pytest

from inference import lung3d, lungs
from inference.lung3d import LEFT_LUNG, RIGHT_LUNG, lung_labels_3d

PIXEL_MM, SLICE_MM = 1.4, 2.5
SLICES, SIZE = 48, 160


def _ellipsoid(centre_mm, radii_mm) -> np.ndarray:
    z, y, x = np.ogrid[:SLICES, :SIZE, :SIZE]
    coordinates = (z * SLICE_MM, y * PIXEL_MM, x * PIXEL_MM)
    return sum(((c - m) / r) ** 2 for c, m, r in zip(coordinates, centre_mm, radii_mm, strict=True)) <= 1


def _consolidation() -> np.ndarray:
    middle = SIZE * PIXEL_MM / 2
    return _ellipsoid((70, middle + 20, middle - 68), (12, 12, 12))


def drawn_chest() -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A chest drawn by hand: body, two lungs, a trachea, stomach gas under the left lung that leaks
    into it through one voxel (the diaphragm's partial volume), and a lung piece cut off by disease
    but for a thin channel of air. Index 0 is the most caudal slice; the patient's left is at high columns."""
    middle = SIZE * PIXEL_MM / 2
    hu = np.full((SLICES, SIZE, SIZE), -1000.0)
    parts = {
        "body": _ellipsoid((60, middle, middle), (200, 95, 105)),
        "right": _ellipsoid((75, middle, middle - 50), (50, 45, 35))
        & _ellipsoid((120, middle, middle), (200, 95, 100)),
        "left": _ellipsoid((75, middle, middle + 50), (50, 45, 35)),
        "trachea": _ellipsoid((110, middle - 25, middle), (26, 8, 8)),
        "stomach": _ellipsoid((10, middle - 10, middle + 45), (9, 25, 22)),
        "piece": _ellipsoid((70, middle + 20, middle - 68), (7, 6, 6)),
    }
    hu[parts["body"]] = 40.0
    hu[parts["right"] | parts["left"]] = -850.0
    disease = _consolidation() & ~parts["piece"]
    hu[disease & parts["body"]] = -30.0  # consolidation around the piece
    hu[parts["piece"]] = -800.0
    channel_rows = int((middle + 20) / PIXEL_MM)
    channel_columns = slice(int((middle - 68) / PIXEL_MM), int((middle - 45) / PIXEL_MM))
    hu[28, channel_rows, channel_columns] = -850.0  # the piece's thin air channel to the lung
    hu[parts["trachea"]] = -1000.0
    hu[parts["stomach"]] = -1000.0
    stomach_top = np.nonzero(parts["stomach"].any(axis=(1, 2)))[0].max()
    leak = (stomach_top + 1, int((middle - 10) / PIXEL_MM), int((middle + 45) / PIXEL_MM))
    hu[leak[0] : leak[0] + 3, leak[1], leak[2]] = -900.0  # through the diaphragm into the left lung
    return hu, parts


def test_drawn_chest_lungs_are_kept_and_stomach_and_trachea_left_out():
    hu, parts = drawn_chest()
    assert (hu[..., : SIZE // 2][parts["left"][..., : SIZE // 2]] == -850).sum() == 0  # left lung on the left side
    labels = lung_labels_3d(hu, (PIXEL_MM, PIXEL_MM), SLICE_MM)
    assert not labels[parts["stomach"]].any(), "stomach gas is not lung, though it leaks into the lung"
    assert not labels[parts["trachea"] & ~(parts["left"] | parts["right"])].any(), "the trachea is not lung"
    assert (labels[parts["right"]] == RIGHT_LUNG).mean() > 0.99
    assert (labels[parts["left"]] == LEFT_LUNG).mean() > 0.99
    assert (labels[parts["piece"]] == RIGHT_LUNG).all(), "a lung piece cut off by disease stays lung"
    assert (labels[_consolidation() & ~parts["piece"]] > 0).mean() > 0.9, "the dense disease around it is lung"
    assert not labels[~parts["body"]].any()


@pytest.mark.parametrize("seed, patient, visit", [(0, 0, 0), (1, 1, 2), (2, 2, 1)])
def test_phantom_lungs_match_their_truth(seed, patient, visit):
    phantoms = pytest.importorskip("ildplatform.demo.phantoms")
    series = phantoms.phantom_series(seed, patient, visit, n_slices=48)
    labels = lung_labels_3d(series.hu, (series.pixel_spacing, series.pixel_spacing), series.slice_spacing)
    region, truth = labels > 0, series.lung.astype(bool)
    dice = 2 * np.count_nonzero(region & truth) / (np.count_nonzero(region) + np.count_nonzero(truth))
    assert dice >= 0.98, dice
    patterns = truth & (series.labels > 0)
    assert np.count_nonzero(patterns & region) >= 0.999 * np.count_nonzero(patterns), "the patterns are inside"
    columns = np.arange(labels.shape[2])
    assert columns[np.nonzero(labels == RIGHT_LUNG)[2]].mean() < columns[np.nonzero(labels == LEFT_LUNG)[2]].mean()


def test_working_grid_is_about_grid_mm():
    assert lung3d.working_grid((0.703125, 0.703125), 1.25).factor == 2
    assert lung3d.working_grid((1.4, 1.4), 2.5).factor == 1
    assert lung3d.working_grid((0.35, 0.35), 1.0).spacing_mm == (1.0, 1.4, 1.4)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="volume"):
        lung_labels_3d(np.zeros((8, 8)), (1.0, 1.0), 1.0)


def test_gas_pockets_find_stomach_and_trachea_in_a_region_that_took_them_and_nothing_in_the_lungs():
    hu, parts = drawn_chest()
    spacing = (PIXEL_MM, PIXEL_MM)
    lungs_only = lung_labels_3d(hu, spacing, SLICE_MM) > 0
    assert not lungs.gas_pockets(hu, lungs_only, spacing, SLICE_MM).any()
    # A region that took the stomach and the trachea, as the paper's 2-D mask does.
    careless = lungs_only | parts["stomach"] | parts["trachea"]
    found = lungs.gas_pockets(hu, careless, spacing, SLICE_MM)
    assert not found[lungs_only & ~parts["trachea"]].any(), "aerated lung is no gas pocket"
    # Pockets 18 and 16 mm across: the 14 mm ball fits, but not into their rounded ends.
    assert found[parts["stomach"] & ~lungs_only].mean() > 0.8
    assert found[parts["trachea"] & ~lungs_only].mean() > 0.6


def test_air_too_small_for_a_lung_at_every_depth_gives_no_lung_rather_than_an_error():
    hu = np.full((12, 64, 64), 40.0)
    rows, columns = np.ogrid[:64, :64]
    hu[:, (rows - 32) ** 2 + (columns - 32) ** 2 <= 5**2] = -1000.0  # a tube 14 mm across: the deeper cores vanish
    labels = lung_labels_3d(hu, (1.4, 1.4), 2.5)
    assert labels.shape == hu.shape and not labels.any()


def test_a_single_slice_is_segmented_by_area_without_looking_for_the_airway_tree():
    hu, parts = drawn_chest()
    z = 30  # through both lungs, the trachea above
    labels = lung_labels_3d(hu[z : z + 1], (PIXEL_MM, PIXEL_MM), SLICE_MM)[0]
    truth = (parts["left"] | parts["right"])[z]
    dice = 2 * np.count_nonzero((labels > 0) & truth) / (np.count_nonzero(labels) + np.count_nonzero(truth))
    assert dice > 0.97, dice
    assert (labels[parts["left"][z]] == LEFT_LUNG).mean() > 0.99
    assert (labels[parts["right"][z]] == RIGHT_LUNG).mean() > 0.99


def test_gas_pockets_on_the_cores_box_equal_the_opening_on_the_whole_region():
    # The definition with scipy's distance transform over the whole region: the gas opened by the ball.
    from scipy import ndimage as ndi

    hu, parts = drawn_chest()
    spacing = (PIXEL_MM, PIXEL_MM)
    careless = (lung_labels_3d(hu, spacing, SLICE_MM) > 0) | parts["stomach"] | parts["trachea"]
    grid = lung3d.working_grid(spacing, SLICE_MM)
    (box,) = ndi.find_objects(careless.view(np.uint8))
    coarse_lung = lung3d.block_mean(careless[box].view(np.uint8), grid.factor) >= 0.5
    gas = (lung3d.block_mean(hu[box], grid.factor) < lungs.GAS_POCKET_HU) & coarse_lung
    cores = ndi.distance_transform_edt(gas, sampling=grid.spacing_mm) > lungs.GAS_POCKET_RADIUS_MM
    pocket = (ndi.distance_transform_edt(~cores, sampling=grid.spacing_mm) <= lungs.GAS_POCKET_RADIUS_MM) & gas
    expected = np.zeros_like(careless)
    expected[box] = lung3d.upsampled(pocket, grid.factor, careless[box].shape) & careless[box]
    assert expected.any()
    np.testing.assert_array_equal(lungs.gas_pockets(hu, careless, spacing, SLICE_MM), expected)
