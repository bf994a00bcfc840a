"""Eq. 1: involvement of a visit from a label map and a lung mask."""

from __future__ import annotations

import numpy as np
import pytest

from ildplatform.involvement import (
    Involvement,
    RegionCounts,
    involvement_from_counts,
    involvement_in_region,
    region_counts,
)
from inference.involvement import involvement


def test_involvement_is_abnormal_area_over_lung_area_summed_over_slices() -> None:
    lung = np.zeros((2, 10, 10), dtype=bool)
    lung[0] = True  # 100 px
    lung[1, :5] = True  # 50 px
    labels = np.zeros(lung.shape, dtype=np.uint8)
    labels[0, 0, :6] = 1  # 6 px reticulation
    labels[1, 0, :9] = 2  # 9 px GGO
    result = involvement(labels, lung, (0.5, 0.5), 2.0)
    # Summed areas: 15 / 150 = 10 %; the mean of per-slice percentages would be (6 % + 18 %) / 2 = 12 %.
    assert result.total_pct == pytest.approx(10.0)
    assert result.reticulation_pct == pytest.approx(4.0)
    assert result.ggo_pct == pytest.approx(6.0)
    voxel_ml = 0.5 * 0.5 * 2.0 / 1000
    assert result.lung_volume_ml == pytest.approx(150 * voxel_ml)
    assert result.reticulation_ml == pytest.approx(6 * voxel_ml)
    assert result.ggo_ml == pytest.approx(9 * voxel_ml)
    assert result.abnormal_ml == pytest.approx(15 * voxel_ml)
    assert isinstance(result, Involvement)
    assert set(result.as_dict()) == {
        "reticulation_pct",
        "ggo_pct",
        "total_pct",
        "lung_volume_ml",
        "reticulation_ml",
        "ggo_ml",
        "abnormal_ml",
    }


def test_dense_abnormality_the_lung_mask_missed_counts_in_the_lung_area() -> None:
    lung = np.zeros((1, 20, 20), dtype=bool)
    lung[0, :, :10] = True  # 200 px of aerated lung
    labels = np.zeros(lung.shape, dtype=np.uint8)
    labels[0, :, 10:20] = 2  # 200 px of dense GGO the threshold dropped, touching the lung
    result = involvement(labels, lung, 1.0, 1.0)
    assert result.total_pct == pytest.approx(50.0)
    assert result.lung_volume_ml == pytest.approx(0.4)


def test_abnormal_marks_away_from_the_lung_are_not_lung_involvement() -> None:
    lung = np.zeros((1, 20, 20), dtype=bool)
    lung[0, :10, :10] = True
    labels = np.zeros(lung.shape, dtype=np.uint8)
    labels[0, 2:4, 2:4] = 1  # 4 px inside
    labels[0, 15:20, 15:20] = 1  # a mark on the table
    result = involvement(labels, lung, 1.0, 1.0)
    assert result.reticulation_pct == pytest.approx(4.0)


def test_involvement_never_exceeds_100_percent() -> None:
    rng = np.random.default_rng(5)
    for _ in range(20):
        lung = rng.random((3, 32, 32)) < rng.uniform(0, 0.6)
        labels = rng.integers(0, 3, size=lung.shape).astype(np.uint8) * (rng.random(lung.shape) < 0.5)
        result = involvement(labels.astype(np.uint8), lung, 0.7, 1.25)
        assert 0.0 <= result.total_pct <= 100.0
        assert result.total_pct == pytest.approx(result.reticulation_pct + result.ggo_pct)


def test_empty_lung_gives_zero() -> None:
    result = involvement(np.zeros((2, 8, 8), np.uint8), np.zeros((2, 8, 8), bool), 0.7, 1.0)
    assert result.total_pct == 0.0 and result.lung_volume_ml == 0.0


def test_bad_input_is_refused() -> None:
    lung = np.ones((1, 4, 4), dtype=bool)
    with pytest.raises(ValueError, match="0, 1 or 2"):
        involvement(np.full((1, 4, 4), 3, np.uint8), lung, 1.0, 1.0)
    with pytest.raises(ValueError, match="shape"):
        involvement(np.zeros((1, 4, 5), np.uint8), lung, 1.0, 1.0)
    with pytest.raises(ValueError, match="slice spacing"):
        involvement(np.zeros((1, 4, 4), np.uint8), lung, 1.0, 0.0)
    with pytest.raises(ValueError, match="pixel spacing"):
        involvement(np.zeros((1, 4, 4), np.uint8), lung, -1.0, 1.0)


def test_involvement_of_a_phantom_is_its_marked_share_of_the_true_lung() -> None:
    phantoms = pytest.importorskip("ildplatform.demo.phantoms")
    series = phantoms.phantom_series(4, 1, 2, n_slices=4)
    result = involvement(series.labels, series.lung, series.pixel_spacing, series.slice_spacing)
    # From the definition, in plain numpy: the phantom marks only inside its lung.
    lung_pixels = np.count_nonzero(series.lung)
    reticulation_pixels = np.count_nonzero((series.labels == 1) & series.lung)
    ggo_pixels = np.count_nonzero((series.labels == 2) & series.lung)
    assert np.count_nonzero(series.labels) == reticulation_pixels + ggo_pixels > 0
    assert result.reticulation_pct == pytest.approx(100 * reticulation_pixels / lung_pixels)
    assert result.ggo_pct == pytest.approx(100 * ggo_pixels / lung_pixels)
    voxel_ml = series.pixel_spacing**2 * series.slice_spacing / 1000
    assert result.lung_volume_ml == pytest.approx(lung_pixels * voxel_ml)
    assert result.abnormal_ml == pytest.approx((reticulation_pixels + ggo_pixels) * voxel_ml)


def test_counts_added_slice_by_slice_give_the_volume_figures() -> None:
    # The inference job sums each slice's counts from its workers: the same Eq. 1 as on the volume.
    rng = np.random.default_rng(3)
    labels = rng.choice(np.array([0, 1, 2], dtype=np.uint8), size=(7, 32, 40), p=[0.6, 0.25, 0.15])
    region = rng.random(labels.shape) < 0.7
    per_slice = [region_counts(labels[z], region[z]) for z in range(len(labels))]
    added = sum(per_slice, RegionCounts())
    # Independently, from the definition: pixels of the region, and of each pattern inside it.
    assert added == RegionCounts(
        int(region.sum()), int(((labels == 1) & region).sum()), int(((labels == 2) & region).sum())
    )
    assert involvement_from_counts(added, (0.7, 0.7), 1.25) == involvement_in_region(labels, region, (0.7, 0.7), 1.25)
    with pytest.raises(ValueError, match="0, 1 or 2"):
        region_counts(np.full((4, 4), 3, dtype=np.uint8), np.ones((4, 4), dtype=bool))
