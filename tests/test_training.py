"""The training protocol's plain functions: patient folds, GGO augmentation, threshold search, metrics.
Each figure is held against a recomputation from the definitions in numpy."""

from __future__ import annotations

import numpy as np
import pytest

from inference import preprocessing, training

PATIENTS = [f"P{index:02d}" for index in range(11)]


def test_folds_are_made_of_patients_and_none_is_in_two_or_in_the_test_set():
    split = training.patient_split(PATIENTS, 5, seed=4)
    validation = [patient for fold in split.folds for patient in fold]
    assert len(validation) == len(set(validation)), "no patient in two folds"
    assert not set(validation) & set(split.test), "no patient in the folds and the test set"
    assert sorted(validation + list(split.test)) == PATIENTS
    assert max(map(len, split.folds)) - min(map(len, split.folds)) <= 1
    for fold in range(5):
        training_patients = split.training(fold)
        assert not set(training_patients) & (set(split.folds[fold]) | set(split.test))
        assert sorted(set(training_patients) | set(split.folds[fold]) | set(split.test)) == PATIENTS
    assert training.patient_split(PATIENTS, 5, seed=4) == split, "the seed fixes the split"
    assert training.patient_split(PATIENTS, 5, seed=5) != split


def test_named_test_patients_are_held_out_and_impossible_splits_refused():
    split = training.patient_split(PATIENTS, 2, seed=0, test_patients=["P03", "P07"])
    assert split.test == ("P03", "P07")
    assert split.as_dict()["folds"][0]["validation"] == list(split.folds[0])
    with pytest.raises(ValueError, match="P99"):
        training.patient_split(PATIENTS, 2, seed=0, test_patients=["P99"])
    with pytest.raises(ValueError, match="folds"):
        training.patient_split(PATIENTS[:3], 5, seed=0)
    with pytest.raises(ValueError, match="once"):
        training.patient_split(["A", "A", "B"], 2, seed=0)


def test_only_positive_slices_are_augmented_and_image_and_mask_move_together():
    rng = np.random.default_rng(1)
    masks = np.zeros((4, 64, 64), dtype=np.uint8)
    masks[1, 20:40, 10:30] = 1
    masks[3, 30:50, 25:60] = 1
    images = masks.astype(np.float32)  # an image that is its mask: both must land in the same place
    augmentation = training.Augmentation()
    ggo = masks.reshape(4, -1).any(axis=1)
    new_images, new_masks, sources = training.augment_positive_slices(images, masks, ggo, augmentation, rng)
    assert sources.tolist() == [0, 1, 2, 3, 1, 1, 1, 3, 3, 3]
    assert np.array_equal(new_images[:4], images) and np.array_equal(new_masks[:4], masks)
    assert set(np.unique(new_masks).tolist()) <= {0, 1}, "masks move by nearest neighbour"
    for image, mask, source in zip(new_images[4:], new_masks[4:], sources[4:], strict=True):
        assert not np.array_equal(mask, masks[source]), "each copy is moved"
        assert np.mean((image >= 0.5) == (mask == 1)) > 0.99
        assert 0.7 < mask.sum() / masks[source].sum() < 1.3


def _dice(truth: np.ndarray, prediction: np.ndarray) -> float:
    sizes = truth.sum() + prediction.sum()
    return 1.0 if sizes == 0 else 2 * (truth & prediction).sum() / sizes


def test_threshold_search_picks_the_best_mean_slice_dice_on_the_grid():
    rng = np.random.default_rng(2)
    truths = rng.random((6, 16, 16)) < 0.3
    probabilities = np.clip(truths * 0.55 + rng.random((6, 16, 16)) * 0.5, 0, 1).astype(np.float32)
    threshold, best, scores = training.threshold_search(probabilities, truths)

    grid = [round(0.10 + 0.02 * step, 2) for step in range(46)]
    expected = [np.mean([_dice(t, p >= g) for t, p in zip(truths, probabilities, strict=True)]) for g in grid]
    assert grid[0] == 0.10 and grid[-1] == 1.00
    assert scores == pytest.approx(expected)
    assert threshold == grid[int(np.argmax(expected))] and best == pytest.approx(max(expected))
    assert threshold in grid


def test_metrics_are_slice_means_and_fold_spread_is_the_sample_sd():
    truths = np.zeros((2, 4, 4), dtype=bool)
    predictions = np.zeros((2, 4, 4), dtype=bool)
    truths[0, :2], predictions[0, :1] = True, True  # TP 4, FN 4
    truths[1, 0, 0], predictions[1, 0, :2] = True, True  # TP 1, FP 1
    metrics = training.slice_metrics(truths, predictions)
    assert metrics["dice"] == pytest.approx((8 / 12 + 2 / 3) / 2)
    assert metrics["jaccard"] == pytest.approx((4 / 8 + 1 / 2) / 2)
    assert metrics["recall"] == pytest.approx((4 / 8 + 1 / 1) / 2)
    assert metrics["f1"] == pytest.approx(metrics["dice"])
    summary = training.over_folds([{"dice": 0.5}, {"dice": 0.7}, {"dice": 0.9}])
    assert summary["dice"]["mean"] == pytest.approx(0.7)
    assert summary["dice"]["sd"] == pytest.approx(np.std([0.5, 0.7, 0.9], ddof=1))


def test_equal_dice_at_several_thresholds_goes_to_the_lowest():
    truths = np.zeros((2, 8, 8), dtype=bool)
    truths[:, 2:5, 2:5] = True
    probabilities = truths.astype(np.float32)  # 0 or 1: every threshold on the grid gives Dice 1
    threshold, best, scores = training.threshold_search(probabilities, truths)
    assert (threshold, best) == (0.10, 1.0) and set(scores) == {1.0}


def test_lung_masked_inputs_read_zero_outside_the_lung_and_the_window_inside():
    rng = np.random.default_rng(4)
    hu = rng.integers(-1100, 200, size=(2, 512, 512)).astype(np.int16)
    lung = np.zeros(hu.shape, bool)
    lung[:, 100:400, 60:250] = True
    masked = preprocessing.preprocess(hu, lung=lung)[..., 0]
    # Independently: window by hand, zero outside the lung, mean of each 4 x 4 block.
    windowed = np.clip((hu.astype(np.float64) + 1350.0) / 1500.0, 0.0, 1.0) * lung
    expected = windowed.reshape(2, 128, 4, 128, 4).mean(axis=(2, 4))
    np.testing.assert_allclose(masked, expected, atol=1e-6)
    assert masked[:, :20, :].max() == 0.0, "nothing outside the lung reaches the model"
    with pytest.raises(ValueError, match="lung mask shape"):
        preprocessing.preprocess(hu, lung=lung[:, :256])


def test_patient_involvement_agreement_is_model_minus_reference_per_patient():
    lungs = np.zeros((3, 4, 4), bool)
    lungs[:, :2, :] = True  # 8 lung pixels per slice
    truths, predictions = np.zeros_like(lungs), np.zeros_like(lungs)
    truths[0, 0, :2] = True  # patient a: 2 of 16 lung pixels (two slices) = 12.5 %
    predictions[0, 0, :3] = True  # model: 3 of 16 = 18.75 %
    predictions[0, 3, :] = True  # outside the lung: not counted
    truths[2, 0, :4] = True  # patient b: 4 of 8 = 50 %; model 0 %
    figures = training.patient_involvement_agreement(predictions, truths, lungs, np.array(["a", "a", "b"]))
    assert [(row["patient"], row["reference_pct"], row["model_pct"]) for row in figures["patients"]] == [
        ("a", 12.5, 18.75), ("b", 50.0, 0.0)]  # fmt: skip
    differences = np.array([6.25, -50.0])
    assert figures["bias_pct"] == pytest.approx(differences.mean())
    assert figures["mae_pct"] == pytest.approx(np.abs(differences).mean())
    assert figures["upper_limit_pct"] == pytest.approx(differences.mean() + 1.96 * differences.std(ddof=1))
    one = training.patient_involvement_agreement(predictions[:2], truths[:2], lungs[:2], np.array(["a", "a"]))
    assert one["n"] == 1 and one["bias_pct"] == pytest.approx(6.25) and one["upper_limit_pct"] is None
