"""One fold of U-Net training: the Dice loss against numpy, the best epoch's weights kept, progress told
per epoch, and a cancelled fit stopping after the epoch it was cancelled in."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from inference import trainer, unet  # noqa: E402


def squares(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Images (n, 128, 128, 1) in 0..1 with a bright square each, the square as the pattern mask."""
    rng = np.random.default_rng(seed)
    images = rng.random((n, 128, 128, 1), dtype=np.float32) * 0.3
    masks = np.zeros((n, 128, 128, 1), dtype=np.float32)
    for index in range(n):
        row, column = rng.integers(10, 90, size=2)
        masks[index, row : row + 24, column : column + 24] = 1.0
    images[masks > 0] += 0.6
    return images, masks


def numpy_dice_loss(truth: np.ndarray, softmax: np.ndarray) -> float:
    pattern, target = softmax[..., 1].astype(np.float64), truth[..., 0].astype(np.float64)
    return 1 - (2 * (pattern * target).sum() + 1) / (pattern.sum() + target.sum() + 1)


def test_dice_loss_is_one_minus_the_soft_dice_of_the_pattern_channel():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 8, 8, 2)).astype(np.float32)
    softmax = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
    truth = (rng.random((3, 8, 8, 1)) < 0.4).astype(np.float32)
    loss = float(keras.ops.convert_to_numpy(trainer.dice_loss(truth, softmax)))
    assert loss == pytest.approx(numpy_dice_loss(truth, softmax), rel=1e-5)


def test_a_fold_keeps_its_best_epoch_and_tells_each_epoch(tmp_path):
    training, validation = squares(16, seed=1), squares(8, seed=2)  # one validation batch: val_loss is pooled
    settings = trainer.TrainingSettings(max_epochs=4, seed=3)
    seen = []
    model = unet.build_unet("table2")
    result = trainer.train_fold(
        model,
        training,
        validation,
        settings,
        tmp_path / "best.weights.h5",
        on_epoch=lambda epoch, logs: seen.append(epoch),
    )
    assert seen == [1, 2, 3, 4] and result.epochs_run == 4
    losses = result.history["val_loss"]
    assert result.best_epoch == int(np.argmin(losses)) + 1 and result.best_validation_loss == min(losses)
    restored = numpy_dice_loss(validation[1], model.predict(validation[0], verbose=0))
    assert restored == pytest.approx(result.best_validation_loss, abs=1e-4), "the best epoch's weights are kept"
    assert (tmp_path / "best.weights.h5").exists()
    assert settings.as_dict()["augmentation"]["copies"] == 3 and settings.as_dict()["learning_rate"] == 1e-2


def test_a_cancelled_fit_stops_after_the_epoch(tmp_path):
    training, validation = squares(8, seed=4), squares(8, seed=5)
    seen = []
    result = trainer.train_fold(
        unet.build_unet("table2"), training, validation, trainer.TrainingSettings(max_epochs=50),
        tmp_path / "w.weights.h5", on_epoch=lambda epoch, logs: seen.append(epoch), should_stop=lambda: len(seen) >= 2,
    )  # fmt: skip
    assert seen == [1, 2] and result.epochs_run == 2
