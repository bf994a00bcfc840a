"""Train the table2 U-Net on phantom slices, for benchmarks that need a model with confident outputs.

    python tests/benchmarks/train_phantom_unet.py OUT.weights.h5 [--task merged|reticulation|ggo]
        [--patients 8] [--epochs 12] [--slices 24]

Random weights put much of each slice near a probability of 0.5, so how many mask pixels a change of
arithmetic (bfloat16, say) flips says little about a trained model, whose probabilities sit near 0
or 1 except at pattern borders. No clinical data exists here; the phantoms (`ildplatform.demo.phantoms`)
have exact pattern truth, so a model trained on them for a few minutes on the CPU is the closest
stand-in. It is not a model for patients: it has only seen synthetic textures.

Patients 0 .. N-2 train, patient N-1 is held out; visits 0..2 of each. Targets are the pattern's
fraction of each model pixel (the 4 x 4 block mean of the 512 x 512 truth), as soft labels; the
default task is the merged one (reticulation or GGO): the phantoms' reticulation is a net of thin
lines that covers under half of most model pixels, so a reticulation model rarely passes 0.5. Prints
the held-out Dice at a 0.5 threshold and writes the weights (load with `unet.build_unet("table2")`).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from ildplatform.demo import phantoms  # noqa: E402
from ildplatform.labels import GGO, RETICULATION  # noqa: E402
from inference import preprocessing  # noqa: E402
from inference.statistics import dice  # noqa: E402

LABELS = {
    "reticulation": (RETICULATION,),
    "ggo": (GGO,),
    "merged": (RETICULATION, GGO),
}
SEED = 20260110
VISITS = (0, 1, 2)


def phantom_slices(patients: range, labels: tuple[int, ...], n_slices: int) -> tuple[np.ndarray, np.ndarray]:
    """Model inputs (n, 128, 128, 1) and soft two-class targets (n, 128, 128, 2) of the patients' visits."""
    inputs, fractions = [], []
    for patient_index in patients:
        for series in phantoms.phantom_visits_series(SEED, patient_index, VISITS, n_slices):
            inputs.append(preprocessing.preprocess(series.hu))
            pattern = np.isin(series.labels, labels).astype(np.float32)
            fractions.append(preprocessing.resize_local_mean(pattern, (len(pattern), 128, 128)))
    fraction = np.concatenate(fractions).astype(np.float32)
    return np.concatenate(inputs), np.stack([1.0 - fraction, fraction], axis=-1)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("--task", choices=sorted(LABELS), default="merged")
    parser.add_argument("--patients", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--slices", type=int, default=24)
    args = parser.parse_args(argv[1:])

    import keras

    from inference import unet

    started = time.perf_counter()
    labels = LABELS[args.task]
    train_x, train_y = phantom_slices(range(args.patients - 1), labels, args.slices)
    test_x, test_y = phantom_slices(range(args.patients - 1, args.patients), labels, args.slices)
    print(f"{len(train_x)} training and {len(test_x)} held-out slices in {time.perf_counter() - started:.0f} s")

    keras.utils.set_random_seed(0)
    model = unet.build_unet("table2")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy")
    started = time.perf_counter()
    model.fit(train_x, train_y, batch_size=16, epochs=args.epochs, shuffle=True, verbose=2)
    print(f"trained {args.epochs} epochs in {time.perf_counter() - started:.0f} s")

    probability = model.predict(test_x, batch_size=32, verbose=0)[..., 1]
    truth = test_y[..., 1] >= 0.5
    print(f"held-out Dice at 0.5 ({args.task}, 128 x 128): {dice(truth, probability >= 0.5):.3f}")
    model.save_weights(args.output)
    print(f"weights written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
