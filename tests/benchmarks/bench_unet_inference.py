"""U-Net CPU inference speed: each way to run the model, the float32 ceiling, and the path the runtime chooses.

    python tests/benchmarks/bench_unet_inference.py [SERIES_FOLDER] [--slices N] [--rounds R] [--weights W]
    ONEDNN_MAX_CPU_ISA=AVX2 python tests/benchmarks/bench_unet_inference.py   # TensorFlow as on an AVX2-only CPU

No Django and no trained model needed: the table2 U-Net gets seeded random weights, with batch norm
statistics and convolution biases drawn away from their defaults, as a trained model has them (so
that folding is really exercised, and TensorFlow cannot drop a bias of zeros, which changes what it
fuses), and goes through a .weights.h5 file as a registered model would. `--weights` runs a given
weights file instead (a registered model's, or one from `train_phantom_unet.py`): speed does not
depend on the weights, but how many mask pixels bfloat16 flips does. Input: N slices from the middle
of the RICORD series (../shared/data), or synthetic HU slices when that is absent.

Prints the processor and the flags that select kernels (`ONEDNN_MAX_CPU_ISA` caps oneDNN's, i.e.
TensorFlow's; ONNX Runtime's MLAS reads CPUID itself and has no such cap, so under it ONNX Runtime
still runs its AVX-512 kernels). Then these ways to run the same weights on the same slices,
interleaved round by round so that each sees the same machine load (other processes on a 2-core
machine can halve any one timing):

- predict    : `model.predict(batch, batch_size=32)`, the reference;
- tf.func    : the Keras model in one `tf.function` (`runtime.Inferer(rewrite=False)`);
- tensorflow : the inference copy in one `tf.function` (`runtime.Inferer`, path "tensorflow"), in
  its transposed form (up-samplings as transposed convolutions, skip concatenations split);
- tensorflow-sub-pixel: the copy in its sub-pixel form (up-sampling as convolution, depth_to_space
  and crop; concatenations kept), what the tensorflow path ran until issue #15's last change, and
  the runtime's third candidate;
- onnxruntime: the sub-pixel form through ONNX Runtime (`runtime.Inferer(paths=("onnxruntime",))`);
- bf16 (not used): the tensorflow path under Keras' mixed_bfloat16 policy, for comparison only:
  this CPU computes bfloat16 at twice the float32 rate, but the outputs change (printed below).

The float32 ceiling: in each round, one batch of 32 through each float32 graph with its library's
per-kernel timing (TensorFlow's step statistics of the frozen graphs of both forms; ONNX Runtime's
profiler, its convolution nodes), and the slices/s that graph would reach if everything but its
convolution kernels (transposed ones included) took no time; the ceiling is the fastest of the three,
i.e. the fastest float32 convolutions this machine offers for this model in any of the forms. Each
way's share of the ceiling is taken round by round (same load) and its median printed. Then
`runtime.Inferer(paths=runtime.PATHS)` makes its choice as a worker does (its own short measurement,
no cache) and the chosen path's share of the ceiling is checked against the 90 % target (issue #15).

Also printed: the largest softmax difference from `predict` and the mask pixels that flip at a 0.5
threshold (pixels within 1e-5 of it excepted). Exits 1 if a float32 path differs beyond 1e-5 or flips
a pixel, 0 otherwise; the speed target is reported, not enforced, since timings depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
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
TARGET_SHARE = 0.9  # of the float32 ceiling, for the chosen path
BF16 = "bf16 (not used)"
SUBPIXEL = "tensorflow-sub-pixel"  # also the runtime's name of that path
TOLERANCE = 1e-5
CPU_FLAGS = ("fma", "avx2", "avx512f", "avx512_vnni", "avx512_bf16")
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
        if isinstance(layer, layers.Conv2D) and layer.use_bias:
            layer.bias.assign(rng.normal(0.0, 0.05, layer.bias.shape).astype(np.float32))
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


def cpu_description() -> str:
    """Processor model, the flags that select float32 kernels, and a oneDNN ISA cap if one is set."""
    from inference import runtime

    cpu = runtime.cpu_features()
    present = " ".join(f"{flag}:{'yes' if flag in cpu['flags'] else 'no'}" for flag in CPU_FLAGS)
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA")
    capped = f"; ONEDNN_MAX_CPU_ISA={cap} (TensorFlow's kernels only; ONNX Runtime has no such cap)" if cap else ""
    return f"CPU: {cpu['model']}, {cpu['cores']} usable cores; {present}{capped}"


def tensorflow_profiler(forward, batch: np.ndarray):
    """A function that runs `batch` once through the frozen graph of the `tf.function` `forward` with
    TensorFlow's step statistics and returns (ms in convolution kernels, ms of all kernels)."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    frozen = convert_variables_to_constants_v2(forward.get_concrete_function())
    graph = tf.Graph()
    with graph.as_default():
        tf.import_graph_def(frozen.graph.as_graph_def(), name="")
    feed = {frozen.inputs[0].name: batch}
    session = tf.compat.v1.Session(graph=graph)
    session.run(frozen.outputs[0].name, feed)

    def profile() -> tuple[float, float]:
        metadata = tf.compat.v1.RunMetadata()
        options = tf.compat.v1.RunOptions(trace_level=tf.compat.v1.RunOptions.FULL_TRACE)
        session.run(frozen.outputs[0].name, feed, options=options, run_metadata=metadata)
        kernels = [
            (node.timeline_label.partition(" = ")[2].partition("(")[0], node.all_end_rel_micros / 1000)
            for device in metadata.step_stats.dev_stats
            for node in device.node_stats
        ]
        return sum(ms for op, ms in kernels if "Conv2D" in op), sum(ms for _, ms in kernels)

    return profile


def flipped_pixels(expected: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """Pixels whose mask at THRESHOLD differs, those within TOLERANCE of the threshold excepted."""
    from inference import preprocessing

    changed = preprocessing.binarize(expected, THRESHOLD) != preprocessing.binarize(actual, THRESHOLD)
    return changed & (np.abs(expected - THRESHOLD) > TOLERANCE)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("series", nargs="?", type=Path, default=DEFAULT_SERIES)
    parser.add_argument("--slices", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument(
        "--weights", type=Path, help="a table2 .weights.h5 (a registered model's); default: seeded random weights"
    )
    args = parser.parse_args(argv[1:])

    import onnxruntime
    import tensorflow as tf

    from inference import preprocessing, runtime, runtime_onnx

    hu_slices, source = load_slices(args.series, args.slices)
    batch = preprocessing.preprocess(hu_slices)
    n_slices = len(batch)
    print(cpu_description())
    print(
        f"TensorFlow {tf.__version__}, ONNX Runtime {onnxruntime.__version__}, "
        f"GPUs: {len(tf.config.list_physical_devices('GPU'))}"
    )
    print(f"input: {n_slices} slices from {source}, model input {batch.shape}")

    with tempfile.TemporaryDirectory() as folder:
        weights = args.weights or Path(folder) / "unet.weights.h5"
        if not args.weights:
            save_seeded_weights(weights)
        print(f"weights: {args.weights or 'seeded random (untrained)'}")
        model = table2_model(weights)
        # The same rewrite in bfloat16 (compared with predict below, not with its own Keras model).
        try:
            bf16 = runtime.Inferer(table2_model(weights, "mixed_bfloat16"), tolerance=float("inf"))
        except tf.errors.OpError as error:  # oneDNN has no bfloat16 convolution below AVX-512 (e.g. capped)
            print(f"{BF16}: unavailable on this CPU ({type(error).__name__})")
            bf16 = None
    started = time.perf_counter()
    tensorflow_path = runtime.Inferer(model)
    print(
        f"tensorflow path built in {time.perf_counter() - started:.1f} s "
        f"({tensorflow_path.rewritten_layers} layers rewritten)"
    )
    started = time.perf_counter()
    onnx_path = runtime.Inferer(model, paths=("onnxruntime",))
    print(f"onnxruntime path built in {time.perf_counter() - started:.1f} s (runs on: {onnx_path.path})")
    plain = runtime.Inferer(model, rewrite=False)
    subpixel = tensorflow_path.forward_function("sub-pixel")
    size = runtime.BATCH_SIZE

    ways = {
        "predict": lambda: model.predict(batch, batch_size=32, verbose=0),
        "tf.func": lambda: plain.softmax(batch),
        "tensorflow": lambda: tensorflow_path.softmax(batch),
        SUBPIXEL: lambda: np.concatenate([subpixel(batch[i : i + size]).numpy() for i in range(0, len(batch), size)]),
        "onnxruntime": lambda: onnx_path.softmax(batch),
    }
    if bf16 is not None:
        ways[BF16] = lambda: bf16.softmax(batch)
    outputs = {name: run() for name, run in ways.items()}  # warm-up: traces, kernel selection

    # Ceiling probes, run in each round beside the timings: the three float32 graphs, kernels timed.
    traced = batch[:size]
    profilers = {
        "tensorflow": tensorflow_profiler(tensorflow_path.forward_function(), traced),
        SUBPIXEL: tensorflow_profiler(subpixel, traced),
    }
    profile_folder = Path(tempfile.mkdtemp(prefix="ort-profile-"))
    onnx_profiled = runtime_onnx.session(
        runtime_onnx.onnx_model(subpixel, tensorflow_path.input_shape), profile_prefix=str(profile_folder / "unet")
    )
    onnx_feed = {onnx_profiled.get_inputs()[0].name: traced}
    onnx_profiled.run(None, onnx_feed)  # warm-up, left out below

    timings: dict[str, list[float]] = {name: [] for name in ways}
    kernels: dict[str, list[tuple[float, float]]] = {name: [] for name in profilers}
    print(f"\nslices/s, {args.rounds} rounds, each way once per round in turn:")
    print("round  " + "".join(f"{name:>21}" for name in ways))
    for round_index in range(args.rounds):
        for name, run in ways.items():
            started = time.perf_counter()
            run()
            timings[name].append(n_slices / (time.perf_counter() - started))
        for name, profile in profilers.items():
            kernels[name].append(profile())
        onnx_profiled.run(None, onnx_feed)
        print(f"{round_index:5d}  " + "".join(f"{timings[name][-1]:21.1f}" for name in ways))
    print("median " + "".join(f"{statistics.median(timings[name]):21.1f}" for name in ways))
    kernels["onnxruntime"] = runtime_onnx.node_milliseconds(onnx_profiled.end_profiling())[1:]
    shutil.rmtree(profile_folder, ignore_errors=True)

    reference = outputs["predict"]
    failed = False
    print()
    for name in ("tf.func", "tensorflow", SUBPIXEL, "onnxruntime", BF16)[: len(ways) - 1]:
        difference = float(np.abs(outputs[name] - reference).max())
        expected = reference[..., 1]
        flips = flipped_pixels(expected, outputs[name][..., 1])
        ok = difference <= TOLERANCE and not flips.any()
        failed |= not ok and name != BF16
        mask_pixels = int(preprocessing.binarize(expected, THRESHOLD).sum())
        print(
            f"{name:>20} vs predict: max |softmax difference| {difference:.2e}, "
            f"mask pixels flipped at {THRESHOLD} (beyond {TOLERANCE:g} of it): {int(flips.sum())} "
            f"of {expected.size} ({int(flips.sum()) / max(mask_pixels, 1):.3%} of the "
            f"{mask_pixels} in predict's mask) -> {'EQUAL' if ok else 'DIFFERENT'} within {TOLERANCE:g}"
        )

    print(f"\nfloat32 ceiling, per batch of {size} (median of {args.rounds} profiled passes, one per round):")
    ceilings = {name: [size / (conv / 1000) for conv, _ in graph] for name, graph in kernels.items()}
    for name, graph in kernels.items():
        conv_ms = statistics.median(conv for conv, _ in graph)
        all_ms = statistics.median(total for _, total in graph)
        print(
            f"{name:>20} graph: convolutions {conv_ms:.0f} of {all_ms:.0f} ms of kernels -> "
            f"{statistics.median(ceilings[name]):.1f} slices/s with everything else free"
        )
    per_round_ceiling = [max(graphs) for graphs in zip(*ceilings.values(), strict=True)]
    print(f"{'ceiling':>26}: {statistics.median(per_round_ceiling):.1f} slices/s (the fastest convolutions, per round)")
    shares = {
        name: statistics.median(
            speed / ceiling for speed, ceiling in zip(timings[name], per_round_ceiling, strict=True)
        )
        for name in ways
    }
    print("share of the ceiling (median of per-round ratios): " + ", ".join(f"{n} {s:.0%}" for n, s in shares.items()))

    chooser = runtime.Inferer(model, paths=runtime.PATHS)
    measured = ", ".join(f"{name} {speed:.1f}" for name, speed in chooser.path_speeds.items())
    chosen_share = shares[chooser.path]
    verdict = "meets" if chosen_share >= TARGET_SHARE else "BELOW"
    print(
        f"\nruntime's choice: {chooser.path} (its measurement, slices/s: {measured}); {chosen_share:.0%} of the "
        f"float32 ceiling above ({verdict} the {TARGET_SHARE:.0%} target)"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
