"""A cross-validated run on phantoms (fixed seed, few epochs, CPU): the `merged` task with 2 folds."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("keras")

from inference import services as inference_services  # noqa: E402
from inference import trainer, training, training_data, unet  # noqa: E402

PATIENTS = 5
GRID = [round(0.10 + 0.02 * step, 2) for step in range(46)]


def phantom_slices() -> trainer.TrainingSlices:
    """Every phantom slice with abnormality (the paper leaves the others out) of PATIENTS patients."""
    return training_data.training_slices(training_data.phantom_source(patients=PATIENTS, slices=8, seed=11), "merged")


def _dice(truth: np.ndarray, prediction: np.ndarray) -> float:
    sizes = truth.sum() + prediction.sum()
    return 1.0 if sizes == 0 else 2 * (truth & prediction).sum() / sizes


def _mean_dice(truths: np.ndarray, predictions: np.ndarray) -> float:
    return float(np.mean([_dice(t, p) for t, p in zip(truths, predictions, strict=True)]))


def test_merged_two_folds_on_phantoms_and_the_run_registered(tmp_path, media_root, db):
    slices = phantom_slices()
    split = training.patient_split([f"phantom-{p}" for p in range(PATIENTS)], 2, seed=1, test_patients=["phantom-4"])
    settings = trainer.TrainingSettings(max_epochs=2, seed=2)
    seen = []
    run = trainer.cross_validate(
        slices, split, settings, tmp_path, lambda: unet.build_unet("table2"),
        on_epoch=lambda fold, epoch, logs: seen.append((fold, epoch)),
    )  # fmt: skip
    assert seen == [(0, 1), (0, 2), (1, 1), (1, 2)]
    patient_of = dict(zip(slices.references, slices.patients, strict=True))
    ggo_of = dict(zip(slices.references, slices.ggo_positive, strict=True))
    for fold in run.folds:
        training_patients = {patient_of[ref] for ref in fold["training_slices"]}
        validation_patients = {patient_of[ref] for ref in fold["validation_slices"]}
        assert training_patients and validation_patients
        assert not training_patients & validation_patients, "no patient in training and validation"
        assert "phantom-4" not in training_patients | validation_patients, "the test patient is in no fold"
        # Augmentation: each GGO slice of the training patients three times, nothing else.
        assert sorted(fold["augmented_slices"]) == sorted([ref for ref in fold["training_slices"] if ggo_of[ref]] * 3)
        assert fold["augmented_slices"], "the phantoms have GGO slices"

        saved = np.load(tmp_path / f"fold-{fold['fold']}-validation.npz")
        truths, probabilities = saved["truths"], saved["probabilities"]
        dice_by_threshold = [_mean_dice(truths, probabilities >= threshold) for threshold in GRID]
        assert fold["threshold"] == GRID[int(np.argmax(dice_by_threshold))]
        chosen = probabilities >= fold["threshold"]
        assert fold["validation_metrics"]["dice"] == pytest.approx(_mean_dice(truths, chosen))
    assert run.over_folds["dice"]["mean"] == pytest.approx(
        np.mean([f["validation_metrics"]["dice"] for f in run.folds])
    )
    assert run.threshold == run.folds[run.chosen_fold]["threshold"] and run.weights.exists()

    # Per-patient involvement out of fold (each patient by the fold that held it out), recomputed here from
    # the saved validation predictions and the lung on the model's grid: MAE and Bland-Altman, model minus truth.
    row_of = {reference: row for row, reference in enumerate(slices.references)}
    areas: dict[str, np.ndarray] = {}
    for fold in run.folds:
        saved = np.load(tmp_path / f"fold-{fold['fold']}-validation.npz")
        predicted = saved["probabilities"] >= fold["threshold"]
        for reference, mine, truth in zip(fold["validation_slices"], predicted, saved["truths"], strict=True):
            lung = slices.lungs[row_of[reference]]
            counts = np.array([lung.sum(), (mine & lung).sum(), (truth & lung).sum()])
            areas[patient_of[reference]] = areas.get(patient_of[reference], 0) + counts
    patients = sorted(areas)
    model_pct = np.array([100 * areas[p][1] / areas[p][0] for p in patients])
    truth_pct = np.array([100 * areas[p][2] / areas[p][0] for p in patients])
    validation = run.involvement["validation"]
    assert "model minus" in run.involvement["sign"]
    assert [row["patient"] for row in validation["patients"]] == patients
    assert [row["model_pct"] for row in validation["patients"]] == pytest.approx(model_pct)
    assert [row["reference_pct"] for row in validation["patients"]] == pytest.approx(truth_pct)
    assert validation["mae_pct"] == pytest.approx(np.abs(model_pct - truth_pct).mean())
    differences = model_pct - truth_pct
    assert validation["bias_pct"] == pytest.approx(differences.mean())
    assert validation["upper_limit_pct"] == pytest.approx(differences.mean() + 1.96 * differences.std(ddof=1))
    assert validation["lower_limit_pct"] == pytest.approx(differences.mean() - 1.96 * differences.std(ddof=1))
    assert [row["patient"] for row in run.involvement["test"]["patients"]] == ["phantom-4"]
    assert set(run.test_metrics) == {"dice", "jaccard", "f1", "recall"}

    version = inference_services.model_register_cross_validation(
        run=run, task="merged", settings=settings, duration_s=12.5, lung_method="lung3d"
    )
    assert not version.is_active, "activation is a separate step"
    assert version.threshold == run.threshold and version.fold_thresholds == [f["threshold"] for f in run.folds]
    assert version.training_set["test_patients"] == ["phantom-4"]
    for stored, fold in zip(version.training_set["folds"], run.folds, strict=True):
        assert stored["validation_slices"] == fold["validation_slices"]
        assert stored["augmented_slices"] == fold["augmented_slices"]
    assert version.metrics["over_folds"] == run.over_folds and version.metrics["test"] == run.test_metrics
    assert version.metrics["involvement"] == run.involvement
    assert version.training_run["seed"] == 2 and version.training_run["lung_method"] == "lung3d"
    assert version.training_run["settings"]["learning_rate"] == 1e-2 and version.training_run["code_version"]
