"""U-Net CPU inference speed: Keras `model.predict(batch_size=32)` vs the production path, in one run.

    python tests/benchmarks/bench_unet_inference.py [SERIES_FOLDER] [--slices N] [--rounds R] [--weights W]

No Django and no trained model needed: the table2 U-Net gets seeded random weights, with batch norm
statistics drawn away from their defaults so that folding them is really exercised, and goes through
a .weights.h5 file as a registered model would. `--weights` runs a given weights file instead (a
registered model's, or one from `train_phantom_unet.py`): speed does not depend on the weights, but
how many mask pixels bfloat16 flips does. Input: N slices from the middle of the RICORD series
(../shared/data), or synthetic HU slices when that is absent.

Four ways to run the same weights on the same slices, interleaved round by round so that each sees
the same machine load (other processes on a 2-core machine can halve any one timing):

- predict   : `model.predict(batch, batch_size=32)`, the reference;
- tf.func   : the Keras model in one `tf.function` (what `runtime.Inferer(rewrite=False)` runs);
- production: `runtime.Inferer`, the path workers use (see inference/runtime.py for why it is faster);
- bf16 (not used): the production path on the same weights under Keras' mixed_bfloat16 policy, for
  comparison only: this CPU computes bfloat16 at twice the float32 rate, but the outputs change
  (printed below).

Prints slices/s per round and the medians, the median of the per-round ratios production/predict
(target >= 2.0), the largest softmax difference from `predict` and the mask pixels that flip at a
0.5 threshold (pixels within 1e-4 of it excepted). Then the float32 ceiling: one batch of 32 through
the production graph with TensorFlow's step statistics, the time in convolution kernels against the
whole pass, and the slices/s the path would reach if everything but the convolutions took no time.
Exits 1 if the production outputs differ beyond tolerance (1e-4), 0 otherwise; the speed target is
reported, not enforced, since timings depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

SHARED_DATA = Path(os.environ.get("ILD_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
DEFAULT_SERIES = SHARED_DATA / "ricord-1a-chest-series"
TARGET_RATIO = 2.0
BF16 = "bf16 (not used)"
TOLERANCE = 1e-4
THRESHOLD = 0.5


def load_slices(folder: Path, count: int) -> tuple[np.ndarray, str]:
    """`count` HU slices (n, rows, columns) from the middle of a DICOM series, or synthetic ones."""
    paths = sorted(folder.glob("*.dcm")) if folder.is_dir() else []
    if not paths:
        rng = np.random.default_rng(0)
        yy, xx = np.mgrid[-1:1:512j, -1:1:512j]
        body = np.where(xx**2 + yy**2 < 0.8, -850.0, -1000.0)  # air outside, lung-like inside
        slices = body + rng.normal(0.0, 120.0, size=(count, 512, 512))
        return slices.astype(np.int16), f"synthetic ({folder} absent)"
    import pydicom

    datasets = [pydicom.dcmread(path) for path in paths]
    datasets.sort(key=lambda ds: float(ds.ImagePositionPatient[2]))
    middle = len(datasets) // 2
    chosen = datasets[max(0, middle - count // 2) :][:count]
    slices = np.stack([ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept) for ds in chosen])
    return slices.astype(
        np.int16
    ), f"{folder.name}, slices {middle - count // 2}..{middle - count // 2 + len(chosen) - 1}"


def save_seeded_weights(weights_path: Path) -> None:
    """The table2 U-Net with seeded random weights and batch norm statistics, saved as a registered
    model's weights file would be."""
    import keras
    from keras import layers

    from inference import unet

    keras.utils.set_random_seed(0)
    model = unet.build_unet("table2")
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            shape = layer.gamma.shape
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, shape).astype(np.float32),  # gamma
                    rng.normal(0.0, 0.1, shape).astype(np.float32),  # beta
                    rng.normal(0.0, 0.1, shape).astype(np.float32),  # moving mean
                    rng.uniform(0.5, 2.0, shape).astype(np.float32),  # moving variance
                ]
            )
    model.save_weights(weights_path)


def table2_model(weights_path: Path, policy: str = "float32"):
    """A table2 U-Net built under the Keras dtype `policy` (softmax stays float32) with these weights."""
    import keras

    from inference import unet

    keras.mixed_precision.set_global_policy(policy)
    try:
        model = unet.build_unet("table2")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    model.load_weights(weights_path)
    return model


def convolution_share(inferer, batch: np.ndarray) -> tuple[float, float]:
    """(milliseconds in convolution kernels, milliseconds of all kernels) for one pass of `batch`,
    from TensorFlow's step statistics of the frozen production graph (median of 3 traced runs)."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    frozen = convert_variables_to_constants_v2(inferer._forward.get_concrete_function())
    graph = tf.Graph()
    with graph.as_default():
        tf.import_graph_def(frozen.graph.as_graph_def(), name="")
    feed = {frozen.inputs[0].name: batch}
    conv_ms, all_ms = [], []
    with tf.compat.v1.Session(graph=graph) as session:
        session.run(frozen.outputs[0].name, feed)
        for _ in range(3):
            metadata = tf.compat.v1.RunMetadata()
            options = tf.compat.v1.RunOptions(trace_level=tf.compat.v1.RunOptions.FULL_TRACE)
            session.run(frozen.outputs[0].name, feed, options=options, run_metadata=metadata)
            kernels = [
                (node.timeline_label.partition(" = ")[2].partition("(")[0], node.all_end_rel_micros / 1000)
                for device in metadata.step_stats.dev_stats
                for node in device.node_stats
            ]
            conv_ms.append(sum(ms for op, ms in kernels if "Conv2D" in op))
            all_ms.append(sum(ms for _, ms in kernels))
    return statistics.median(conv_ms), statistics.median(all_ms)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("series", nargs="?", type=Path, default=DEFAULT_SERIES)
    parser.add_argument("--slices", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument(
        "--weights", type=Path, help="a table2 .weights.h5 (a registered model's); default: seeded random weights"
    )
    args = parser.parse_args(argv[1:])

    import tensorflow as tf

    from inference import preprocessing, runtime

    hu_slices, source = load_slices(args.series, args.slices)
    batch = preprocessing.preprocess(hu_slices)
    n_slices = len(batch)
    print(f"TensorFlow {tf.__version__}, {os.cpu_count()} CPUs, GPUs: {len(tf.config.list_physical_devices('GPU'))}")
    print(f"input: {n_slices} slices from {source}, model input {batch.shape}")

    with tempfile.TemporaryDirectory() as folder:
        weights = args.weights or Path(folder) / "unet.weights.h5"
        if not args.weights:
            save_seeded_weights(weights)
        print(f"weights: {args.weights or 'seeded random (untrained)'}")
        model = table2_model(weights)
        # The same rewrite in bfloat16 (compared with predict below, not with its own Keras model).
        bf16 = runtime.Inferer(table2_model(weights, "mixed_bfloat16"), tolerance=float("inf"))
    started = time.perf_counter()
    production = runtime.Inferer(model)
    built_s = time.perf_counter() - started
    print(f"production path built in {built_s:.1f} s ({production.rewritten_layers} layers rewritten)")
    plain = runtime.Inferer(model, rewrite=False)

    ways = {
        "predict": lambda: model.predict(batch, batch_size=32, verbose=0),
        "tf.func": lambda: plain.softmax(batch),
        "production": lambda: production.softmax(batch),
        BF16: lambda: bf16.softmax(batch),
    }
    outputs = {name: run() for name, run in ways.items()}  # warm-up: traces, oneDNN kernel selection

    timings: dict[str, list[float]] = {name: [] for name in ways}
    print(f"\nslices/s, {args.rounds} rounds, each way once per round in turn:")
    print("round  " + "".join(f"{name:>16}" for name in ways) + "   production/predict")
    for round_index in range(args.rounds):
        for name, run in ways.items():
            started = time.perf_counter()
            run()
            timings[name].append(n_slices / (time.perf_counter() - started))
        ratio = timings["production"][-1] / timings["predict"][-1]
        print(f"{round_index:5d}  " + "".join(f"{timings[name][-1]:16.1f}" for name in ways) + f"   {ratio:6.2f}x")
    ratios = [fast / reference for fast, reference in zip(timings["production"], timings["predict"], strict=True)]
    print("median " + "".join(f"{statistics.median(timings[name]):16.1f}" for name in ways))
    median_ratio = statistics.median(ratios)
    verdict = "meets" if median_ratio >= TARGET_RATIO else "BELOW"
    print(f"\nproduction vs predict: median ratio {median_ratio:.2f}x ({verdict} the {TARGET_RATIO:.1f}x target)")
    bf16_ratios = [fast / reference for fast, reference in zip(timings[BF16], timings["predict"], strict=True)]
    print(f"bf16 (not used) vs predict: median ratio {statistics.median(bf16_ratios):.2f}x")

    reference = outputs["predict"]
    failed = False
    for name in ("tf.func", "production", BF16):
        difference = float(np.abs(outputs[name] - reference).max())
        expected, actual = reference[..., 1], outputs[name][..., 1]
        flips = (preprocessing.binarize(expected, THRESHOLD) != preprocessing.binarize(actual, THRESHOLD)) & (
            np.abs(expected - THRESHOLD) > TOLERANCE
        )
        ok = difference <= TOLERANCE and not flips.any()
        failed |= not ok and name != BF16
        mask_pixels = int(preprocessing.binarize(expected, THRESHOLD).sum())
        print(
            f"{name:>10} vs predict: max |softmax difference| {difference:.2e}, "
            f"mask pixels flipped at {THRESHOLD} (beyond {TOLERANCE:g} of it): {int(flips.sum())} "
            f"of {expected.size} ({flips.mean():.3%}; {int(flips.sum()) / max(mask_pixels, 1):.3%} of the "
            f"{mask_pixels} in predict's mask) -> {'EQUAL' if ok else 'DIFFERENT'} within {TOLERANCE:g}"
        )

    traced = batch[:32]
    conv_ms, all_ms = convolution_share(production, traced)
    ceiling = len(traced) / (conv_ms / 1000)
    predict_median = statistics.median(timings["predict"])
    print(
        f"\nfloat32 ceiling: convolutions take {conv_ms:.0f} of {all_ms:.0f} ms per batch of {len(traced)} in the "
        f"production graph; with everything else free: {ceiling:.1f} slices/s = {ceiling / predict_median:.2f}x "
        "predict's median"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
