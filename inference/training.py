"""The paper's training protocol as plain functions on numpy arrays (no Django): patient-grouped folds
and hold-out test set, the GGO augmentation of the training folds, the threshold search, and the
per-slice metrics of Eq. 2-5 over folds.

- Folds are made of patients, never of slices: no patient is in two folds, none in both the folds and
  the test set (slices of one patient are alike; a split by slice would grade the model on its own
  training patients).
- GGO-positive training slices are augmented `AUGMENT_COPIES` times by a random rotation and a
  width/height shift; validation and test slices never are.
- The threshold of each fold is searched on THRESHOLD_GRID (0.10..1.00 in steps of 0.02) for the best
  mean per-slice Dice on that fold's validation slices; ties go to the lowest threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage as ndi

from . import statistics
from .preprocessing import binarize

THRESHOLD_GRID = np.round(np.arange(0.10, 1.0 + 1e-9, 0.02), 2)
METRICS = {"dice": statistics.dice, "jaccard": statistics.jaccard, "f1": statistics.f1, "recall": statistics.recall}


@dataclass(frozen=True)
class Augmentation:
    """The GGO augmentation: copies per positive training slice, rotation range and shift fractions."""

    copies: int = 3
    rotation_degrees: float = 10.0
    width_shift: float = 0.1
    height_shift: float = 0.1


@dataclass(frozen=True)
class PatientSplit:
    """The hold-out test patients and, per fold, its validation patients (the rest of the
    non-test patients train that fold)."""

    test: tuple[str, ...]
    folds: tuple[tuple[str, ...], ...]
    all_patients: tuple[str, ...] = field(repr=False)

    def training(self, fold: int) -> tuple[str, ...]:
        held_out = set(self.test) | set(self.folds[fold])
        return tuple(patient for patient in self.all_patients if patient not in held_out)

    def as_dict(self) -> dict:
        return {
            "test": list(self.test),
            "folds": [
                {"training": list(self.training(k)), "validation": list(fold)} for k, fold in enumerate(self.folds)
            ],
        }


def patient_split(
    patients: Sequence[str], n_folds: int, *, seed: int, test_patients: Sequence[str] | None = None,
    test_fraction: float = 0.2,
) -> PatientSplit:  # fmt: skip
    """Test patients (given, or `test_fraction` of them drawn with `seed`) and `n_folds` folds of the
    others, dealt round-robin after a seeded shuffle (fold sizes differ by one patient at most)."""
    unique = sorted(set(patients))
    if len(unique) != len(patients):
        raise ValueError("each patient once: folds are made of patients")
    rng = np.random.default_rng(seed)
    if test_patients is None:
        n_test = max(1, int(round(test_fraction * len(unique))))
        test = sorted(rng.choice(unique, size=n_test, replace=False).tolist())
    else:
        unknown = sorted(set(test_patients) - set(unique))
        if unknown:
            raise ValueError(f"test patients not in the data: {', '.join(unknown)}")
        test = sorted(set(test_patients))
    rest = [patient for patient in unique if patient not in test]
    if len(rest) < n_folds:
        raise ValueError(f"{len(rest)} patients outside the test set cannot make {n_folds} folds")
    order = rng.permutation(len(rest))
    folds = tuple(tuple(sorted(rest[i] for i in order[k::n_folds])) for k in range(n_folds))
    return PatientSplit(test=tuple(test), folds=folds, all_patients=tuple(unique))


def augment_positive_slices(
    images: np.ndarray, masks: np.ndarray, positive: np.ndarray, augmentation: Augmentation, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The slices (n, h, w) with `augmentation.copies` transformed copies of each `positive` slice (GGO
    on it) appended; returns images, masks and the index of the source slice of each row (the
    originals first, in order). Images are interpolated linearly, masks by nearest neighbour, both
    with the same random rotation and shift; the area shifted in is 0."""
    positive = np.flatnonzero(positive)
    new_images, new_masks, sources = [images], [masks], [np.arange(len(images))]
    height, width = images.shape[1:]
    for index in np.repeat(positive, augmentation.copies):
        angle = rng.uniform(-augmentation.rotation_degrees, augmentation.rotation_degrees)
        shift = (
            rng.uniform(-1, 1) * augmentation.height_shift * height,
            rng.uniform(-1, 1) * augmentation.width_shift * width,
        )
        new_images.append(_moved(images[index], angle, shift, order=1)[np.newaxis])
        new_masks.append(_moved(masks[index], angle, shift, order=0)[np.newaxis])
        sources.append(np.array([index]))
    return np.concatenate(new_images), np.concatenate(new_masks), np.concatenate(sources)


def _moved(section: np.ndarray, angle_degrees: float, shift: tuple[float, float], order: int) -> np.ndarray:
    rotated = ndi.rotate(section, angle_degrees, reshape=False, order=order, mode="constant", cval=0)
    return ndi.shift(rotated, shift, order=order, mode="constant", cval=0).astype(section.dtype)


def mean_slice_metric(metric, truths: np.ndarray, predictions: np.ndarray) -> float:
    """The mean over slices of a pixel-level metric of each slice (Eq. 2-5 are per slice)."""
    return float(np.mean([metric(truth, prediction) for truth, prediction in zip(truths, predictions, strict=True)]))


def threshold_search(probabilities: np.ndarray, truths: np.ndarray) -> tuple[float, float, list[float]]:
    """The threshold on THRESHOLD_GRID with the best mean per-slice Dice (the lowest of equals), that
    Dice, and the Dice at every grid point (recorded, so the choice can be checked)."""
    scores = [
        mean_slice_metric(statistics.dice, truths, binarize(probabilities, threshold)) for threshold in THRESHOLD_GRID
    ]
    best = int(np.argmax(scores))  # argmax returns the first, i.e. the lowest, of equal scores
    return float(THRESHOLD_GRID[best]), float(scores[best]), [float(score) for score in scores]


def slice_metrics(truths: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
    """Eq. 2-5 (Dice, Jaccard, F1, recall), each the mean over slices of its per-slice value."""
    return {name: mean_slice_metric(metric, truths, predictions) for name, metric in METRICS.items()}


def over_folds(per_fold: Sequence[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Mean and fold-wise standard deviation (n - 1) of each metric over the folds."""
    summary = {}
    for name in per_fold[0]:
        values = np.array([fold[name] for fold in per_fold], dtype=float)
        spread = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        summary[name] = {"mean": float(values.mean()), "sd": spread}
    return summary


INVOLVEMENT_SIGN = "model minus consensus, in percentage points of lung"
# Not the paper's whole-scan Eq. 1: a run only holds the slices with abnormality, at the model's resolution.
INVOLVEMENT_SLICES = (
    "over the run's slices (those with abnormality in the reference) on the model's 128 x 128 grid, inside the "
    "lung the inputs were masked with; normal slices, and any false positives on them, are not counted"
)


def patient_involvement_agreement(
    predictions: np.ndarray, truths: np.ndarray, lungs: np.ndarray, patients: np.ndarray
) -> dict:
    """Per-patient involvement (abnormal / lung area over the patient's slices, %, on the model's grid)
    of the model and of the reference, and their agreement (Tables 6-7, Figure 8 of the paper): MAE,
    Bland-Altman bias and 95 % limits, every difference model minus reference. Limits need two patients
    (null below)."""
    rows = []
    for patient in sorted(set(patients.tolist())):
        mine = patients == patient
        lung_area = int(lungs[mine].sum())
        if lung_area == 0:
            continue
        reference = 100.0 * int((truths[mine] & lungs[mine]).sum()) / lung_area
        model = 100.0 * int((predictions[mine] & lungs[mine]).sum()) / lung_area
        rows.append({"patient": str(patient), "reference_pct": reference, "model_pct": model,
                     "difference_pct": model - reference})  # fmt: skip
    model_pct = [row["model_pct"] for row in rows]
    reference_pct = [row["reference_pct"] for row in rows]
    figures = {"n": len(rows), "patients": rows, "mae_pct": None, "bias_pct": None, "sd_pct": None,
               "lower_limit_pct": None, "upper_limit_pct": None}  # fmt: skip
    if rows:
        figures["mae_pct"] = statistics.mean_absolute_error(model_pct, reference_pct)
        figures["bias_pct"] = float(np.mean(np.subtract(model_pct, reference_pct)))
    if len(rows) >= 2:
        bias, lower, upper = statistics.bland_altman(model_pct, reference_pct)
        sd = float(np.std(np.subtract(model_pct, reference_pct), ddof=1))
        figures.update(bias_pct=bias, sd_pct=sd, lower_limit_pct=lower, upper_limit_pct=upper)
    return figures
