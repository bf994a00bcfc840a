"""The U-Net in a worker process: each model version is loaded once and kept (no Django models here
beyond reading the version's fields)."""

from __future__ import annotations

import threading

import numpy as np

from . import preprocessing

BATCH_SIZE = 32
_models: dict[int, object] = {}
_lock = threading.Lock()


def keras_model(model_version) -> object:
    """Build the variant and load the weights once per process; TensorFlow picks a GPU when there is one."""
    with _lock:
        model = _models.get(model_version.pk)
        if model is None:
            from . import unet

            model = unet.build_unet(model_version.variant)
            model.load_weights(model_version.weights_file.path)
            _models[model_version.pk] = model
        return model


def predict_probability(model_version, hu_slices: np.ndarray) -> np.ndarray:
    """Pattern probability (n, 128, 128) for HU slices (n, rows, columns), in GPU-sized batches."""
    model = keras_model(model_version)
    batch = preprocessing.preprocess(hu_slices)
    outputs = [
        np.asarray(model(batch[start : start + BATCH_SIZE], training=False))
        for start in range(0, len(batch), BATCH_SIZE)
    ]
    return preprocessing.pattern_probability(np.concatenate(outputs))
