"""One fold of U-Net training with the paper's settings (Keras; no Django).

Dice loss on the pattern channel; Adam at 1e-2, batches of 8, up to 300 epochs; early stopping after
20 epochs without a lower validation loss; the learning rate divided by 10 after 10 such epochs (not
below 1e-8); the weights of the epoch with the lowest validation loss are the fold's result. Every
setting is a field of `TrainingSettings`, recorded with the model it trained.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .preprocessing import pattern_probability
from .training import Augmentation

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
    augmentation: Augmentation = field(default_factory=Augmentation)

    def as_dict(self) -> dict:
        return asdict(self)


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
