"""Lung masking: the fast production version against the scikit-image reference, and the guard."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage.morphology import disk

from inference.lungmask import (
    lung_mask,
    lung_mask_reference,
    lung_mask_volume,
    lung_region,
    morphology_radii_px,
    qc_missed_fraction,
    radius_px,
)
from inference.statistics import dice, precision

from .ci_strict import DATA_ABSENT

SHARED_DATA = Path(os.environ.get("ILD_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
RICORD = SHARED_DATA / "ricord-1a-chest-series"


def _ellipse(shape: tuple[int, int], cy: float, cx: float, ay: float, ax: float) -> np.ndarray:
    yy, xx = np.ogrid[: shape[0], : shape[1]]
    return ((yy - cy) / ay) ** 2 + ((xx - cx) / ax) ** 2 <= 1.0


def synthetic_chest(rng: np.random.Generator, size: int = 512) -> np.ndarray:
    """A crude chest slice in HU: body, two lungs with vessels, trachea, dense lesion, CT table."""
    shape = (size, size)
    s = size / 512
    hu = np.full(shape, -1000.0)
    hu[~_ellipse(shape, size / 2, size / 2, size / 2, size / 2)] = -3024  # outside the reconstruction circle
    body_cy = size * rng.uniform(0.44, 0.5)
    hu[_ellipse(shape, body_cy, size / 2, 150 * s, 215 * s)] = 40
    for side in (-1, 1):
        cy, cx = body_cy + rng.uniform(-10, 10) * s, size / 2 + side * rng.uniform(85, 105) * s
        hu[_ellipse(shape, cy, cx, rng.uniform(95, 120) * s, rng.uniform(55, 75) * s)] = -850
    # Vessels inside the lungs and nodules on the pleura: what erosion and closing are for.
    for _ in range(int(rng.integers(10, 40))):
        cy, cx = rng.uniform(0.2, 0.8) * size, rng.uniform(0.2, 0.8) * size
        r = rng.uniform(1, 6) * s
        hu[_ellipse(shape, cy, cx, r, r)] = 30
    # Dense lesion (consolidation) at the back of one lung, and the trachea.
    if rng.random() < 0.7:
        hu[_ellipse(shape, body_cy + 70 * s, size / 2 - 95 * s, 25 * s, 35 * s)] = -100
    if rng.random() < 0.7:
        r = rng.uniform(7, 12) * s
        hu[_ellipse(shape, body_cy - 60 * s, size / 2, r, r)] = -1000
    # The CT table: dense shell with a closed air cavity that never touches the image border.
    if rng.random() < 0.7:
        top = int(body_cy + 160 * s)
        hu[top : top + int(20 * s), int(120 * s) : int(392 * s)] = 300
        hu[top + int(6 * s) : top + int(14 * s), int(130 * s) : int(382 * s)] = -1000
    hu += rng.normal(0, 25, shape)
    return hu.astype(np.int16)


def random_blobs(rng: np.random.Generator, size: int) -> np.ndarray:
    """Smooth random field: many air components of all sizes, some touching the border."""
    field = ndi.gaussian_filter(rng.normal(size=(size, size)), sigma=rng.uniform(2, 8))
    return np.where(field < np.quantile(field, rng.uniform(0.2, 0.6)), -900, 50).astype(np.int16)


def assert_same_masks(slices: list[np.ndarray], spacing: float | tuple[float, float]) -> None:
    for index, slice_hu in enumerate(slices):
        expected = lung_mask_reference(slice_hu, spacing)
        actual = lung_mask(slice_hu, spacing)
        assert actual.dtype == bool and actual.shape == slice_hu.shape
        assert np.array_equal(actual, expected), f"slice {index}: {int((actual ^ expected).sum())} pixels differ"


def test_production_mask_equals_reference_on_synthetic_chests() -> None:
    rng = np.random.default_rng(20260110)
    assert_same_masks([synthetic_chest(rng, 512) for _ in range(6)], 0.703125)
    assert_same_masks([synthetic_chest(rng, 256) for _ in range(10)], 1.40625)


@pytest.mark.parametrize("spacing", [0.35, 0.7, 1.0, 2.5])
def test_production_mask_equals_reference_on_random_blobs(spacing: float) -> None:
    # Radii from 1 to 20 px on small images: the crop is clipped by the border on every side.
    rng = np.random.default_rng(int(spacing * 1000))
    assert_same_masks([random_blobs(rng, int(rng.integers(48, 160))) for _ in range(12)], spacing)


def test_production_mask_equals_reference_on_edge_cases() -> None:
    shape = (96, 96)
    all_tissue = np.full(shape, 40, dtype=np.int16)
    all_air = np.full(shape, -1000, dtype=np.int16)
    one_lung = all_tissue.copy()
    one_lung[20:70, 30:60] = -850
    # Three equal squares: Mader's rule keeps every region as large as the second largest.
    tie = all_tissue.copy()
    for x in (5, 35, 65):
        tie[30:50, x : x + 20] = -850
    # A lung one pixel from the border: the closing reaches the border, where erosion sees "True".
    near_border = all_tissue.copy()
    near_border[1:60, 1:40] = -850
    near_border[40:50, 10:15] = 40  # a notch for the closing to fill
    only_border_air = all_tissue.copy()
    only_border_air[:, :10] = -1000
    assert_same_masks([all_tissue, all_air, one_lung, tie, near_border, only_border_air], 0.7)
    assert not lung_mask(all_air, 0.7).any()
    tie_mask = lung_mask(tie, 0.7)
    assert tie_mask[40, 15] and tie_mask[40, 45] and tie_mask[40, 75]


@pytest.mark.realdata
def test_production_mask_equals_reference_on_ricord_slices() -> None:
    if not RICORD.is_dir():
        pytest.skip(f"{DATA_ABSENT} at {RICORD} (CI has it at ../shared/data; set ILD_SHARED_DATA elsewhere)")
    pydicom = pytest.importorskip("pydicom")
    files = sorted(RICORD.glob("*.dcm"))
    assert files, f"no DICOM files in {RICORD}"
    chosen = [files[i] for i in np.linspace(0, len(files) - 1, 20).round().astype(int)]
    slices, spacings = [], set()
    for path in chosen:
        dataset = pydicom.dcmread(path)
        slope, intercept = float(dataset.RescaleSlope), float(dataset.RescaleIntercept)
        slices.append((dataset.pixel_array * slope + intercept).astype(np.int16))
        spacings.add(tuple(float(v) for v in dataset.PixelSpacing))
    assert len(spacings) == 1
    spacing = spacings.pop()
    assert morphology_radii_px(spacing) == (2, 10)  # the paper's radii at its ~0.7 mm pixels
    assert_same_masks(slices, spacing)
    # Lungs are found on the chest slices, not just empty masks compared with empty masks.
    assert sum(int(lung_mask(s, spacing).sum() > 10_000) for s in slices) >= 10


def test_radii_follow_pixel_spacing_in_millimetres() -> None:
    assert morphology_radii_px(0.703125) == (2, 10)
    assert morphology_radii_px((0.703125, 0.703125)) == (2, 10)
    assert morphology_radii_px(0.35) == (4, 20)
    assert morphology_radii_px(1.4) == (1, 5)
    assert morphology_radii_px(5.0) == (1, 1)  # never below one pixel
    assert radius_px(1.5, 1.0) == 2  # half up, not banker's rounding
    with pytest.raises(ValueError):
        radius_px(7.0, 0.0)


def test_finer_pixels_close_a_wider_gap_in_pixels() -> None:
    # A 20-px-wide notch of tissue (10 mm at 0.5 mm pixels, 20 mm at 1 mm) reaching into the lung: the
    # 7 mm closing disk is 29 px wide at 0.5 mm and fills it, 15 px wide at 1 mm and does not.
    hu = np.full((160, 160), 40, dtype=np.int16)
    hu[30:130, 30:130] = -850
    hu[70:90, 30:110] = 40
    coarse, fine = lung_mask(hu, 1.0), lung_mask(hu, 0.5)
    assert not coarse[80, 60]
    assert fine[80, 60]
    assert np.array_equal(fine, lung_mask_reference(hu, 0.5))


def test_lung_mask_volume_is_the_mask_of_every_slice() -> None:
    rng = np.random.default_rng(3)
    volume = np.stack([synthetic_chest(rng, 128) for _ in range(3)])
    masks = lung_mask_volume(volume, 2.8)
    assert masks.shape == volume.shape and masks.dtype == bool
    for slice_hu, mask in zip(volume, masks, strict=True):
        assert np.array_equal(mask, lung_mask_reference(slice_hu, 2.8))


def test_table_cavity_is_kept_when_the_lungs_form_one_region() -> None:
    # Documented behaviour of Mader's algorithm: with both lungs joined (e.g. through the trachea at
    # the carina) the CT table's closed air cavity is the "second largest region".
    hu = np.full((200, 200), -1000, dtype=np.int16)
    hu[_ellipse(hu.shape, 90, 100, 70, 90)] = 40
    hu[_ellipse(hu.shape, 90, 100, 45, 70)] = -850  # one joined lung region
    hu[175:190, 40:160] = 300
    hu[180:185, 45:155] = -1000  # table cavity
    mask = lung_mask(hu, 0.7)
    assert mask[182, 100]
    assert np.array_equal(mask, lung_mask_reference(hu, 0.7))


def test_lung_region_keeps_dense_abnormality_touching_the_lung() -> None:
    lung = np.zeros((2, 60, 60), dtype=bool)
    lung[:, 10:40, 10:30] = True
    abnormal = np.zeros_like(lung)
    abnormal[0, 20:30, 30:38] = True  # consolidation outside the threshold mask, touching the lung
    abnormal[0, 50:55, 50:55] = True  # a mark far from the lung (table, chest wall)
    abnormal[1, 40:45, 15:20] = True  # directly below the lung
    abnormal[1, 20:30, 31:35] = True  # one pixel gap: does not touch
    region = lung_region(lung, abnormal)
    assert region[0, 20:30, 30:38].all()
    assert not region[0, 50:55, 50:55].any()
    assert region[1, 40:45, 15:20].all()
    assert not region[1, 20:30, 31:35].any()
    assert np.array_equal(region & ~abnormal, lung)  # nothing but abnormal pixels is added
    assert np.array_equal(lung_region(region, abnormal), region)  # idempotent


def test_lung_region_is_per_slice() -> None:
    # An abnormal column crossing slices only joins where it touches the lung in that slice.
    lung = np.zeros((2, 20, 20), dtype=bool)
    lung[0, 5:10, 5:10] = True
    abnormal = np.zeros_like(lung)
    abnormal[:, 10:14, 5:10] = True
    region = lung_region(lung, abnormal)
    assert region[0, 10:14, 5:10].all()
    assert not region[1].any()


def test_qc_missed_fraction_is_the_share_of_abnormal_outside_the_lung() -> None:
    lung = np.zeros((10, 10), dtype=bool)
    lung[:, :5] = True
    abnormal = np.zeros_like(lung)
    abnormal[0, 3:7] = True  # 2 inside, 2 outside
    assert qc_missed_fraction(lung, abnormal) == pytest.approx(0.5)
    assert qc_missed_fraction(lung, np.zeros_like(lung)) == 0.0
    assert qc_missed_fraction(lung_region(lung, abnormal), abnormal) == 0.0


def test_lung_region_recovers_a_dense_lesion_the_threshold_drops() -> None:
    rng = np.random.default_rng(11)
    hu = synthetic_chest(rng, 256)
    lesion = _ellipse(hu.shape, 150, 80, 12, 20)
    hu[lesion] = -50  # consolidation at the back of a lung: tissue-dense
    lung = lung_mask(hu, 1.40625)
    assert qc_missed_fraction(lung, lesion) > 0.5
    assert qc_missed_fraction(lung_region(lung, lesion), lesion) < 0.05


# ----------------------------------------------------------------------------------------------
# Phantoms with exact truth (ildplatform/demo/)

PHANTOM_SEEDS = (0, 1, 2, 3)


@pytest.fixture(scope="module")
def phantom_masks() -> list[tuple[np.ndarray, np.ndarray, np.ndarray, float]]:
    phantoms = pytest.importorskip("ildplatform.demo.phantoms")
    out = []
    for seed in PHANTOM_SEEDS:
        series = phantoms.phantom_series(seed, 0, 1, n_slices=6)
        mask = lung_mask_volume(series.hu, series.pixel_spacing)
        out.append((series.lung, series.labels, mask, series.pixel_spacing))
    return out


@pytest.fixture(scope="module")
def whole_phantom_masks() -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Whole 24-slice phantom series (apex to base), as the demo and the import tests use them."""
    phantoms = pytest.importorskip("ildplatform.demo.phantoms")
    out = []
    for seed, patient in ((1, 0), (2, 1), (3, 2)):
        series = phantoms.phantom_series(seed, patient, 1, n_slices=24)
        out.append((series.lung, series.labels, lung_mask_volume(series.hu, series.pixel_spacing)))
    return out


def test_lung_mask_reaches_dice_097_on_whole_phantom_series(whole_phantom_masks) -> None:
    # Volumetric Dice over the series. The raw mask lies ~2 px inside the pleura (Mader's erosion is
    # never undone), which costs ~0.03 Dice: 0.971-0.975 here, lower on apex- or base-only stacks.
    for truth, labels, mask in whole_phantom_masks:
        assert dice(truth, mask) >= 0.97
        assert dice(truth, lung_region(mask, labels > 0)) >= 0.975


def test_lung_mask_misses_only_the_erosion_rim_on_phantoms(phantom_masks) -> None:
    for truth, labels, mask, spacing in phantom_masks:
        assert precision(truth, mask) >= 0.999  # the mask never leaks out of the lung
        r_erode, _ = morphology_radii_px(spacing)
        missed = truth & ~mask & (labels == 0)  # dense pattern pixels are the guard's business
        rim = np.stack([s & ~ndi.binary_erosion(s, disk(r_erode + 1), border_value=1) for s in truth])
        assert (missed & rim).sum() >= 0.95 * missed.sum()
        given_back = np.stack([ndi.binary_dilation(s, disk(r_erode)) for s in mask])
        assert dice(truth, given_back) >= 0.99


def test_lung_region_recovers_phantom_pathology(phantom_masks) -> None:
    for truth, labels, mask, _ in phantom_masks:
        abnormal = labels > 0
        region = lung_region(mask, abnormal)
        assert qc_missed_fraction(mask, abnormal) > 0.05  # the threshold drops dense pattern pixels
        assert qc_missed_fraction(region, abnormal) < 0.001
        assert not (region & ~truth).any()


@pytest.mark.parametrize("shape", [(6, 96, 80), (64, 64), (3, 5, 1)])
def test_dilated_in_plane_equals_scipy_binary_dilation_per_slice(shape) -> None:
    from inference.lungmask import dilated_in_plane

    mask = np.random.default_rng(5).random(shape) < 0.02
    mask[..., 0, :] = mask[..., -1, -1] = True  # the image border: nothing comes in from outside
    structure = np.zeros((3, 3, 3), dtype=bool) if mask.ndim == 3 else np.ones((3, 3), dtype=bool)
    if mask.ndim == 3:
        structure[1] = True  # within a slice only
    np.testing.assert_array_equal(dilated_in_plane(mask), ndi.binary_dilation(mask, structure=structure))


def test_dense_pathology_candidates_on_the_lung_box_equal_the_whole_slice(shared_data) -> None:
    # The box-restricted computation against the definition on the whole slice, on real CT.
    from skimage.morphology import convex_hull_image

    from inference.lungmask import dense_pathology_candidates

    def on_whole_slice(hu: np.ndarray, lung: np.ndarray) -> np.ndarray:
        components, count = ndi.label(lung, structure=np.ones((3, 3)))
        hull = np.zeros_like(lung)
        for index in range(1, count + 1):
            component = components == index
            if component.sum() >= 200:
                hull |= convex_hull_image(component)
        dense = ndi.binary_opening((hu > -750) & (hu < -100) & hull & ~lung, structure=np.ones((3, 3)))
        return lung_region(lung, dense) & ~lung

    import pydicom

    paths = sorted((shared_data / "ricord-1a-chest-series").glob("*.dcm"))[40:200:8]
    found = 0
    for path in paths:
        dataset = pydicom.dcmread(path)
        hu = dataset.pixel_array * float(dataset.RescaleSlope) + float(dataset.RescaleIntercept)
        lung = lung_mask(hu, (float(dataset.PixelSpacing[0]), float(dataset.PixelSpacing[1])))
        expected = on_whole_slice(hu, lung)
        np.testing.assert_array_equal(dense_pathology_candidates(hu, lung), expected)
        found += int(expected.sum())
    assert found > 0, "the slices chosen hold dense lung left out of the mask"


def test_convex_hull_filled_equals_skimage_convex_hull_image() -> None:
    from skimage.morphology import convex_hull_image

    from inference.lungmask import convex_hull_filled

    rng = np.random.default_rng(8)
    shapes = [ndi.binary_opening(rng.random((60, 80)) < 0.55, iterations=2) for _ in range(30)]
    line = np.zeros((9, 40), dtype=bool)
    line[4, 3:37] = True  # pixel centres on one line: the fallback
    for shape in [*shapes, line, disk(12).astype(bool)]:
        if shape.any():
            np.testing.assert_array_equal(convex_hull_filled(shape), convex_hull_image(shape))
