"""The U-Net's inference copy run by ONNX Runtime on the CPU, in float32: one of the paths that
`runtime.Inferer` measures at worker start and may choose (see inference/runtime.py for the choice).

The graph is the inference copy's sub-pixel form (`runtime.GRAPH_FORMS`: batch norm folded,
up-sampling absorbed as a convolution with 4x the filters then DepthToSpace, softmax as sigmoids), the
form ONNX Runtime runs fastest (its ConvTranspose, which the TensorFlow path's transposed form would
need, took twice the time of the sub-pixel up-sampling convolutions on an Intel Xeon, and it does
not fuse the split concatenations' Sum), as a `tf.function` converted by tf2onnx with the batch size left open. ONNX
Runtime runs it with its default float32 kernels (MLAS); its full graph optimisation fuses bias and
ReLU into the convolutions and lays the feature maps out in blocks of 8 or 16 channels (NCHWc) for
them, which reorders sums only (outputs within 1e-6 of the unoptimised graph here). Nothing that
lowers precision is switched on: no bfloat16 or fp16, no approximate math.

Why it is a candidate: MLAS' convolutions and oneDNN's are fastest on different processors (on an
AVX2-only EPYC, issue #15, 23.3 slices/s against `predict`'s 14.7 and the TensorFlow path's 16.7);
which one wins is measured on each machine, not assumed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

OPSET = 17
# ONNX Runtime node kinds that hold the convolutions after its graph optimisation.
CONVOLUTION_OPS = ("Conv", "FusedConv", "NhwcFusedConv", "ConvTranspose")


def versions() -> dict[str, str]:
    """Library versions that decide what this path computes and how fast (part of the choice's cache key)."""
    import onnx
    import onnxruntime
    import tf2onnx

    return {"onnxruntime": onnxruntime.__version__, "onnx": onnx.__version__, "tf2onnx": tf2onnx.__version__}


def onnx_model(forward, input_shape: tuple[int, ...]) -> bytes:
    """The serialised ONNX model of a `tf.function` taking (batch, *input_shape) float32, batch size open."""
    import logging

    import tensorflow as tf
    import tf2onnx

    logging.getLogger("tf2onnx").setLevel(logging.WARNING)  # it logs every conversion step at INFO
    signature = [tf.TensorSpec((None, *input_shape), tf.float32)]  # as the function was traced
    model_proto, _ = tf2onnx.convert.from_function(forward, input_signature=signature, opset=OPSET)
    return model_proto.SerializeToString()


def cpu_threads() -> int:
    """Cores this process may run on (a container's or taskset's share, not the whole machine's)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def session(model_bytes: bytes, *, profile_prefix: str | None = None):
    """An ONNX Runtime CPU session in float32 with one intra-op thread per available core."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Its default counts the machine's cores, which oversubscribes a worker limited to fewer.
    options.intra_op_num_threads = cpu_threads()
    options.log_severity_level = 3  # errors only: it warns about every optimised-away initializer
    if profile_prefix is not None:
        options.enable_profiling = True
        options.profile_file_prefix = profile_prefix
    return onnxruntime.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])


def forward(forward_tf, input_shape: tuple[int, ...]) -> Callable[[np.ndarray], np.ndarray]:
    """One batch (n, *input_shape) float32 -> the model's output as numpy, through ONNX Runtime."""
    runner = session(onnx_model(forward_tf, input_shape))
    input_name = runner.get_inputs()[0].name

    def run(batch: np.ndarray) -> np.ndarray:
        return runner.run(None, {input_name: np.ascontiguousarray(batch, dtype=np.float32)})[0]

    return run


def node_milliseconds(profile_file: str | Path) -> list[tuple[float, float]]:
    """For each run in an ONNX Runtime profile (`session(..., profile_prefix=...)`, then `end_profiling()`):
    (milliseconds in convolution nodes, milliseconds of all nodes)."""
    per_run: list[tuple[float, float]] = []
    conv_us = all_us = 0.0
    for event in json.loads(Path(profile_file).read_text()):
        if event.get("name") == "model_run":  # written after the nodes of its run
            per_run.append((conv_us / 1000, all_us / 1000))
            conv_us = all_us = 0.0
        elif event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            all_us += event["dur"]
            if event["args"].get("op_name") in CONVOLUTION_OPS:
                conv_us += event["dur"]
    return per_run
