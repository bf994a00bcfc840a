"""One fold of U-Net training with the paper's settings (Keras; no Django).

Dice loss on the pattern channel; Adam at 1e-2, batches of 8, up to 300 epochs; early stopping after
20 epochs without a lower validation loss; the learning rate divided by 10 after 10 such epochs (not
below 1e-8); the weights of the epoch with the lowest validation loss are the fold's result. Every
setting is a field of `TrainingSettings`, recorded with the model it trained.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from .preprocessing import binarize, pattern_probability
from .training import (
    INVOLVEMENT_SIGN,
    INVOLVEMENT_SLICES,
    Augmentation,
    PatientSplit,
    augment_positive_slices,
    over_folds,
    patient_involvement_agreement,
    slice_metrics,
    threshold_search,
)

DICE_SMOOTHING = 1.0  # keeps the loss defined on a batch with no pattern pixel at all


@dataclass(frozen=True)
class TrainingSettings:
    learning_rate: float = 1e-2
    batch_size: int = 8
    max_epochs: int = 300
    early_stopping_patience: int = 20
    reduce_lr_factor: float = 0.1
    reduce_lr_patience: int = 10
    min_learning_rate: float = 1e-8
    seed: int = 0
    # Inputs lung-masked (outside the lung region reads 0); inference then masks its inputs the same way.
    lung_masked: bool = True
    augmentation: Augmentation = field(default_factory=Augmentation)

    def as_dict(self) -> dict:
        return asdict(self)

    def overridden(self, overrides: dict) -> TrainingSettings:
        """These settings with some replaced by name ("augmentation.copies" for the augmentation's);
        refuses unknown names and values of the wrong kind (ValueError), so a typo never trains silently
        with the default."""
        top, augmentation = {}, {}
        fields = {name: type(value) for name, value in asdict(self).items() if name != "augmentation"}
        augmentation_fields = {name: type(value) for name, value in asdict(self.augmentation).items()}
        for name, value in overrides.items():
            group, kinds, key = (
                (augmentation, augmentation_fields, name.split(".", 1)[1])
                if name.startswith("augmentation.")
                else (top, fields, name)
            )
            if key not in kinds:
                known = sorted([*fields, *(f"augmentation.{field}" for field in augmentation_fields)])
                raise ValueError(f"unknown training setting {name!r}; settings: {', '.join(known)}")
            group[key] = _setting_value(name, value, kinds[key])
        return replace(self, **top, augmentation=replace(self.augmentation, **augmentation))


# What a setting may be set to (inclusive): beyond these a run fails late, or exhausts the worker's memory.
SETTING_RANGES = {
    "learning_rate": (1e-12, 1.0),
    "batch_size": (1, 256),
    "early_stopping_patience": (0, 1000),
    "reduce_lr_factor": (1e-6, 0.999),
    "reduce_lr_patience": (0, 1000),
    "min_learning_rate": (0.0, 1.0),
    "augmentation.copies": (0, 20),
    "augmentation.rotation_degrees": (0.0, 180.0),
    "augmentation.width_shift": (0.0, 1.0),
    "augmentation.height_shift": (0.0, 1.0),
}


def _setting_value(name: str, value, kind: type):
    """A setting's value as its kind: numbers from numbers or their text, true/false from booleans or text."""
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ValueError(f"training setting {name!r} must be true or false, got {value!r}")
    if isinstance(value, bool):
        raise ValueError(f"training setting {name!r} must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"training setting {name!r} must be a number, got {value!r}") from None
    low, high = SETTING_RANGES.get(name, (0.0, float("inf")))
    if not np.isfinite(number) or not low <= number <= high:
        raise ValueError(f"training setting {name!r} must be within {low:g}..{high:g}, got {value!r}")
    if kind is int and number != int(number):
        raise ValueError(f"training setting {name!r} must be a whole number, got {value!r}")
    return kind(number)


def dice_loss(truth, softmax):
    """1 - soft Dice of the pattern channel over the whole batch: truth (n, h, w, 1) in 0/1, softmax
    (n, h, w, 2)."""
    from keras import ops

    pattern = softmax[..., 1]
    target = ops.cast(truth[..., 0], pattern.dtype)
    overlap = ops.sum(pattern * target)
    return 1.0 - (2.0 * overlap + DICE_SMOOTHING) / (ops.sum(pattern) + ops.sum(target) + DICE_SMOOTHING)


@dataclass(frozen=True)
class FoldResult:
    epochs_run: int
    best_epoch: int  # 1-based
    best_validation_loss: float
    history: dict[str, list[float]]


def train_fold(
    model,
    training: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    settings: TrainingSettings,
    checkpoint: Path,
    on_epoch: Callable[[int, dict], None] = lambda epoch, logs: None,
    should_stop: Callable[[], bool] = lambda: False,
) -> FoldResult:
    """Fit `model` (compiled here) on (images (n, 128, 128, 1), masks (n, 128, 128, 1)); the model
    ends with the weights of its best validation epoch, also saved at `checkpoint`. `on_epoch` is
    told each finished epoch (1-based) and its logs; `should_stop` returning True ends the fit after
    the epoch (a cancelled job)."""
    import keras

    keras.utils.set_random_seed(settings.seed)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=settings.learning_rate), loss=dice_loss)

    def epoch_end(epoch: int, logs: dict) -> None:
        on_epoch(epoch + 1, dict(logs or {}))
        if should_stop():
            model.stop_training = True

    callbacks = [
        keras.callbacks.ModelCheckpoint(
            str(checkpoint), monitor="val_loss", save_best_only=True, save_weights_only=True
        ),
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=settings.early_stopping_patience),
        keras.callbacks.ReduceLROnPlateau(
            monitor="val_loss", factor=settings.reduce_lr_factor, patience=settings.reduce_lr_patience,
            min_lr=settings.min_learning_rate,
        ),
        keras.callbacks.LambdaCallback(on_epoch_end=epoch_end),
    ]  # fmt: skip
    fitted = model.fit(
        training[0], training[1], validation_data=validation, batch_size=settings.batch_size,
        epochs=settings.max_epochs, callbacks=callbacks, shuffle=True, verbose=0,
    )  # fmt: skip
    history = {name: [float(value) for value in values] for name, values in fitted.history.items()}
    model.load_weights(str(checkpoint))
    losses = history["val_loss"]
    best = int(np.argmin(losses))
    return FoldResult(epochs_run=len(losses), best_epoch=best + 1, best_validation_loss=losses[best], history=history)


def pattern_probabilities(model, images: np.ndarray, batch_size: int = 8) -> np.ndarray:
    """The model's pattern probability (n, 128, 128) for model inputs (n, 128, 128, 1)."""
    return pattern_probability(model.predict(images, batch_size=batch_size, verbose=0))


@dataclass(frozen=True)
class TrainingSlices:
    """What a run learns from, one row per slice with abnormality: model inputs (n, 128, 128, 1), the
    task's pattern masks (n, 128, 128), the lung region on the same grid (n, 128, 128; the denominator of
    per-patient involvement), whether GGO is on the slice (augmented in training folds), the patient of
    each slice and a reference to it (recorded with the run)."""

    images: np.ndarray
    masks: np.ndarray
    lungs: np.ndarray
    ggo_positive: np.ndarray
    patients: np.ndarray
    references: tuple

    def rows_of(self, patients) -> np.ndarray:
        return np.flatnonzero(np.isin(self.patients, list(patients)))

    def involvement_agreement(self, rows: np.ndarray, predictions: np.ndarray) -> dict:
        """Per-patient involvement of `predictions` (one per row) against these slices' masks."""
        return patient_involvement_agreement(predictions, self.masks[rows], self.lungs[rows], self.patients[rows])


@dataclass
class CrossValidation:
    split: PatientSplit
    folds: list[dict]
    over_folds: dict[str, dict[str, float]]
    chosen_fold: int
    threshold: float
    test_metrics: dict[str, float]
    weights: Path
    # Per-patient involvement, model against reference: out of fold (each patient by the fold that held
    # it out) and on the test patients; see `training.patient_involvement_agreement`.
    involvement: dict


def cross_validate(
    slices: TrainingSlices,
    split: PatientSplit,
    settings: TrainingSettings,
    workdir: Path,
    build_model: Callable[[], object],
    on_epoch: Callable[[int, int, dict], None] = lambda fold, epoch, logs: None,
    should_stop: Callable[[], bool] = lambda: False,
) -> CrossValidation:
    """Train each fold on its training patients (GGO slices augmented there only), search its threshold
    on its validation patients, and measure it there; the fold with the best validation Dice is the
    run's model, measured once on the test patients at its own threshold (nothing is tuned on them).
    Each fold's validation probabilities are saved in `workdir` (fold-K-validation.npz) so that the
    threshold and the metrics can be recomputed."""
    rng = np.random.default_rng(settings.seed)
    folds = []
    out_of_fold_rows, out_of_fold_predictions = [], []
    for fold in range(len(split.folds)):
        train_rows, validation_rows = slices.rows_of(split.training(fold)), slices.rows_of(split.folds[fold])
        images, masks, sources = augment_positive_slices(
            slices.images[train_rows, ..., 0], slices.masks[train_rows].astype(np.uint8),
            slices.ggo_positive[train_rows], settings.augmentation, rng,
        )  # fmt: skip
        copies = sources[len(train_rows) :]
        model = build_model()
        weights = workdir / f"fold-{fold}.weights.h5"
        result = train_fold(
            model, (images[..., None], masks[..., None].astype(np.float32)),
            (slices.images[validation_rows], slices.masks[validation_rows][..., None].astype(np.float32)),
            settings, weights, on_epoch=lambda epoch, logs, fold=fold: on_epoch(fold, epoch, logs),
            should_stop=should_stop,
        )  # fmt: skip
        probabilities = pattern_probabilities(model, slices.images[validation_rows], settings.batch_size)
        truths = slices.masks[validation_rows]
        np.savez_compressed(workdir / f"fold-{fold}-validation.npz", probabilities=probabilities, truths=truths)
        threshold, _, dice_by_threshold = threshold_search(probabilities, truths)
        out_of_fold_rows.append(validation_rows)
        out_of_fold_predictions.append(binarize(probabilities, threshold))
        folds.append({
            "fold": fold, "training_patients": list(split.training(fold)),
            "validation_patients": list(split.folds[fold]),
            "training_slices": [slices.references[row] for row in train_rows],
            "validation_slices": [slices.references[row] for row in validation_rows],
            "augmented_slices": [slices.references[train_rows[source]] for source in copies],
            "epochs_run": result.epochs_run, "best_epoch": result.best_epoch,
            "best_validation_loss": result.best_validation_loss, "threshold": threshold,
            "dice_by_threshold": dice_by_threshold,
            "validation_metrics": slice_metrics(truths, binarize(probabilities, threshold)),
            "weights": weights.name,
        })  # fmt: skip
        if should_stop():
            break
    chosen = max(range(len(folds)), key=lambda k: folds[k]["validation_metrics"]["dice"])
    model = build_model()
    model.load_weights(str(workdir / folds[chosen]["weights"]))
    test_rows = slices.rows_of(split.test)
    test_metrics = {}
    rows = np.concatenate(out_of_fold_rows)
    involvement = {
        "sign": INVOLVEMENT_SIGN,
        "slices": INVOLVEMENT_SLICES,
        "validation": slices.involvement_agreement(rows, np.concatenate(out_of_fold_predictions)),
    }
    if test_rows.size:
        test_probabilities = pattern_probabilities(model, slices.images[test_rows], settings.batch_size)
        test_predictions = binarize(test_probabilities, folds[chosen]["threshold"])
        test_metrics = slice_metrics(slices.masks[test_rows], test_predictions)
        involvement["test"] = slices.involvement_agreement(test_rows, test_predictions)
    return CrossValidation(
        split=split, folds=folds, over_folds=over_folds([fold["validation_metrics"] for fold in folds]),
        chosen_fold=chosen, threshold=folds[chosen]["threshold"], test_metrics=test_metrics,
        weights=workdir / folds[chosen]["weights"], involvement=involvement,
    )  # fmt: skip
