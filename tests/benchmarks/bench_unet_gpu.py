"""U-Net inference on a GPU: throughput and the numerical cost of mixed precision, in one run.

    KERAS_BACKEND=jax python tests/benchmarks/bench_unet_gpu.py      # on a GPU host without TensorFlow
    python tests/benchmarks/bench_unet_gpu.py                         # TensorFlow (CPU or GPU)

The same seeded table2 weights run in float32, mixed_bfloat16 and mixed_float16 on lung-windowed
slices with structure (never zeros). For each policy: slices/s at several batch sizes (median of
repeats after a warm-up) and, against a float32 reference computed at the highest matmul precision,
the largest softmax difference and the share of pixels whose 0.5-threshold decision flips.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def lung_like_batch(count: int, seed: int) -> np.ndarray:
    """Windowed slices (count, 128, 128, 1): two dark lungs, body, vessels, noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:128, :128] / 128.0
    slices = []
    for _ in range(count):
        body = ((yy - 0.5) / 0.42) ** 2 + ((xx - 0.5) / 0.47) ** 2 < 1
        lungs = (((yy - 0.48) / 0.3) ** 2 + ((xx - 0.3) / 0.15) ** 2 < 1) | (
            ((yy - 0.48) / 0.3) ** 2 + ((xx - 0.7) / 0.15) ** 2 < 1
        )
        hu = np.where(body, 40.0, -1000.0)
        hu = np.where(lungs, -850.0, hu) + rng.normal(0, 25, hu.shape)
        hu[lungs & (rng.random(hu.shape) < 0.02)] = 30.0
        slices.append(np.clip((hu + 1350.0) / 1500.0, 0, 1))
    return np.stack(slices)[..., None].astype(np.float32)


def main() -> int:
    import keras

    from inference import unet

    backend = keras.backend.backend()
    print(f"Keras {keras.__version__}, backend {backend}")
    if backend == "jax":
        import jax

        print("devices:", jax.devices())
    keras.utils.set_random_seed(3)
    reference_model = unet.build_unet("table2")
    weights = reference_model.get_weights()
    assert reference_model.count_params() == 4_708_354
    inputs = lung_like_batch(256, seed=11)

    if backend == "jax":
        import jax

        with jax.default_matmul_precision("highest"):
            reference = np.asarray(reference_model.predict(inputs, batch_size=32, verbose=0), dtype=np.float32)
    else:
        reference = np.asarray(reference_model.predict(inputs, batch_size=32, verbose=0), dtype=np.float32)

    rows = []
    for policy in ("float32", "mixed_bfloat16", "mixed_float16"):
        keras.mixed_precision.set_global_policy(policy)
        model = unet.build_unet("table2")
        model.set_weights(weights)
        output = np.asarray(model.predict(inputs, batch_size=32, verbose=0), dtype=np.float32)
        difference = float(np.abs(output[..., 1] - reference[..., 1]).max())
        flips = float(np.mean((output[..., 1] >= 0.5) != (reference[..., 1] >= 0.5)))
        for batch in (32, 128):
            model.predict(inputs[:batch], batch_size=batch, verbose=0)  # compile this shape
            times = []
            for _ in range(7):
                started = time.perf_counter()
                model.predict(inputs, batch_size=batch, verbose=0)
                times.append(time.perf_counter() - started)
            rows.append((policy, batch, len(inputs) / statistics.median(times), difference, flips))
    keras.mixed_precision.set_global_policy("float32")
    print(f"{'policy':<16}{'batch':>6}{'slices/s':>12}{'max |dp|':>12}{'flipped px':>12}")
    base = {batch: rate for policy, batch, rate, _, _ in rows if policy == "float32"}
    for policy, batch, rate, difference, flips in rows:
        print(f"{policy:<16}{batch:>6}{rate:>12.0f}{difference:>12.2e}{flips:>12.2e}  x{rate / base[batch]:.2f}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main())
