"""Agreement statistics over patients and segmentation metrics per slice."""

from __future__ import annotations

import statistics as stdlib_statistics

import numpy as np
import pytest

from inference.statistics import (
    bland_altman,
    cohen_kappa,
    dice,
    f1,
    jaccard,
    mean_absolute_error,
    precision,
    recall,
)

# Paper, Table 7: total involvement (%) per test patient.
TABLE7_GROUND_TRUTH = [2.09, 1.1, 6.48, 1.37, 5.72]
TABLE7_UNET = [2.52, 1.19, 6.92, 1.41, 5.98]


def test_mean_absolute_error_reproduces_table_7() -> None:
    assert round(mean_absolute_error(TABLE7_UNET, TABLE7_GROUND_TRUTH), 3) == 0.252


def test_bland_altman_on_table_7_matches_an_independent_computation() -> None:
    differences = [u - g for u, g in zip(TABLE7_UNET, TABLE7_GROUND_TRUTH, strict=True)]
    bias = stdlib_statistics.fmean(differences)
    sd = stdlib_statistics.stdev(differences)  # sample SD, n - 1
    expected = (bias, bias - 1.96 * sd, bias + 1.96 * sd)
    assert bland_altman(TABLE7_UNET, TABLE7_GROUND_TRUTH) == pytest.approx(expected)
    bias, lower, upper = bland_altman(TABLE7_UNET, TABLE7_GROUND_TRUTH)
    assert bias == pytest.approx(0.252)  # every U-Net value is above the truth here
    assert (round(lower, 3), round(upper, 3)) == (-0.112, 0.616)  # by hand: SD 0.1859


def test_bland_altman_and_mae_refuse_unpaired_or_too_few_values() -> None:
    with pytest.raises(ValueError):
        bland_altman([1.0, 2.0], [1.0])
    with pytest.raises(ValueError):
        bland_altman([1.0], [2.0])
    with pytest.raises(ValueError):
        mean_absolute_error([], [])


def test_overlap_metrics_on_a_known_example() -> None:
    truth = np.zeros((10, 10), dtype=bool)
    truth[:4, :5] = True  # 20 px
    prediction = np.zeros_like(truth)
    prediction[2:6, :5] = True  # 20 px, 10 overlapping
    assert dice(truth, prediction) == pytest.approx(0.5)
    assert jaccard(truth, prediction) == pytest.approx(10 / 30)
    assert recall(truth, prediction) == pytest.approx(0.5)
    assert precision(truth, prediction) == pytest.approx(0.5)
    assert f1(truth, prediction) == pytest.approx(0.5)


def test_empty_versus_empty_is_perfect_agreement() -> None:
    empty = np.zeros((8, 8), dtype=bool)
    for metric in (dice, jaccard, recall, precision, f1):
        assert metric(empty, empty) == 1.0


def test_one_empty_mask_is_no_agreement() -> None:
    empty = np.zeros((8, 8), dtype=bool)
    marked = empty.copy()
    marked[2, 2] = True
    for metric in (dice, jaccard, recall, precision, f1):
        assert metric(empty, marked) == 0.0, metric.__name__
        assert metric(marked, empty) == 0.0, metric.__name__


def test_f1_equals_dice_for_binary_masks() -> None:
    rng = np.random.default_rng(9)
    for _ in range(20):
        truth = rng.random((16, 16)) < rng.uniform(0, 1)
        prediction = rng.random((16, 16)) < rng.uniform(0, 1)
        assert f1(truth, prediction) == pytest.approx(dice(truth, prediction))


def test_cohen_kappa_on_the_textbook_example() -> None:
    # 50 items: both yes 20, a yes / b no 5, a no / b yes 10, both no 15 -> p_o 0.7, p_e 0.5, kappa 0.4.
    a = np.array([1] * 20 + [1] * 5 + [0] * 10 + [0] * 15)
    b = np.array([1] * 20 + [0] * 5 + [1] * 10 + [0] * 15)
    assert cohen_kappa(a, b) == pytest.approx(0.4)


def test_cohen_kappa_counts_only_pixels_within_the_region() -> None:
    labels_a = np.array([[0, 1, 2], [2, 2, 0]], dtype=np.uint8)
    labels_b = np.array([[0, 1, 2], [1, 0, 2]], dtype=np.uint8)
    within = np.array([[True, True, True], [False, False, False]])
    assert cohen_kappa(labels_a, labels_b, within) == pytest.approx(1.0)
    assert cohen_kappa(labels_a, labels_b) < 0.5
    # Multi-class, computed by hand from the confusion matrix.
    a = np.array([0, 0, 1, 1, 2, 2, 2, 0])
    b = np.array([0, 1, 1, 1, 2, 0, 2, 0])
    observed = 6 / 8
    expected = (3 * 3 + 2 * 3 + 3 * 2) / 64
    assert cohen_kappa(a, b) == pytest.approx((observed - expected) / (1 - expected))


def test_cohen_kappa_with_a_single_shared_class_or_no_pixels_is_one() -> None:
    zeros = np.zeros((4, 4), dtype=np.uint8)
    assert cohen_kappa(zeros, zeros) == 1.0
    assert cohen_kappa(zeros, zeros, np.zeros((4, 4), dtype=bool)) == 1.0
