"""Epoch time of the phantom `merged` training run (2 patient-grouped folds), on this machine's CPU or GPU.

    python tests/benchmarks/bench_training_epoch.py [--epochs 3] [--backend tensorflow|jax]

The same protocol as `manage.py train_unet --task merged --folds 2` (the paper's settings, lung-masked
phantom inputs, GGO slices augmented x3 in the training folds), without Django or a database, so it runs
where only Keras and a backend are installed (the GPU machines have JAX, not TensorFlow). On a GPU,
TF32 is switched off first (float32 is the only production precision). Prints the device, the CPU
flags, seconds per epoch (median over every epoch after each fold's first, which compiles) and the
run's figures. Compare epoch times only between runs of the same script.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


def _cpu_flags() -> str:
    try:
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags"))
    except (OSError, StopIteration):
        return "unknown"
    wanted = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile")
    return " ".join(flag for flag in wanted if f" {flag}" in flags)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--backend", default=os.environ.get("KERAS_BACKEND", "tensorflow"))
    options = parser.parse_args(argv[1:])
    os.environ["KERAS_BACKEND"] = options.backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if options.backend == "jax":
        import jax

        jax.config.update("jax_default_matmul_precision", "float32")  # TF32 off: full float32 on GPUs
        device = ", ".join(str(d) for d in jax.devices())
    else:
        import tensorflow as tf

        tf.config.experimental.enable_tensor_float_32_execution(False)
        device = ", ".join(d.name for d in tf.config.list_logical_devices()) or "cpu"
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from inference import trainer, training, training_data, unet

    slices = training_data.training_slices(training_data.phantom_source(), "merged")
    split = training.patient_split(sorted(set(slices.patients)), 2, seed=0)
    settings = trainer.TrainingSettings(max_epochs=options.epochs, seed=0)
    marks: list[tuple[int, int, float]] = []
    with tempfile.TemporaryDirectory() as workdir:
        started = time.perf_counter()
        run = trainer.cross_validate(
            slices, split, settings, Path(workdir), lambda: unet.build_unet("table2"),
            on_epoch=lambda fold, epoch, logs: marks.append((fold, epoch, time.perf_counter())),
        )  # fmt: skip
        total = time.perf_counter() - started
    import numpy as np

    # An epoch's time is from the end of the one before in the same fold (the first of each compiles).
    ends = {(fold, epoch): at for fold, epoch, at in marks}
    steady_times = [at - ends[(fold, epoch - 1)] for fold, epoch, at in marks if epoch > 1]
    steady = float(np.median(steady_times)) if steady_times else float("nan")
    print(f"backend {options.backend}; devices: {device}; CPU flags: {_cpu_flags()}; {os.cpu_count()} cores")
    print(f"{len(slices.patients)} slices with abnormality, {len(set(slices.patients))} patients, 2 folds")
    print(f"seconds per epoch (median, after the first of each fold): {steady:.2f}")
    print(f"whole run: {total:.1f} s for {len(marks)} epochs; over folds {run.over_folds['dice']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
