"""The U-Net in a worker process: each model version is loaded once and kept, and run through a faster
inference-only copy of its graph.

`Inferer` is the Django-free core (a Keras model in, pattern probabilities out); the module functions
add the per-process cache keyed by model version, which is all this module reads of Django models
(`.pk`, `.variant`, `.weights_file.path`), and the folder of the settings' VAR_DIR where the path
choice below is kept.

Which library runs that graph, and in which form, is chosen per machine when a worker loads a model
(issue #15): the `PATHS` are "tensorflow" (the `tf.function` below, the transposed form of
`GRAPH_FORMS`), "tensorflow-sub-pixel" (the same in the sub-pixel form) and "onnxruntime" (the
sub-pixel form converted by tf2onnx and run by ONNX Runtime's float32 CPU kernels,
inference/runtime_onnx.py). Each is checked against the Keras model (softmax within
`EQUIVALENCE_TOLERANCE`, 1e-5, else left out), timed on one batch of `BATCH_SIZE` after a warm-up
(`CHOICE_ROUNDS` rounds, interleaved, median), and the fastest is used. The choice is stored in
VAR_DIR/unet-paths under a key of the weights' digest, the processor (model name, the `KERNEL_FLAGS`
it has, usable cores), oneDNN's ISA cap if set, the library versions and the rewrite's revision, so a
restarted worker builds and checks the chosen path only (about 0.5 s, against 5-10 s to measure). A
path that fails to import, convert or match is left out with a warning; TensorFlow's
always remains. GPU workers run TensorFlow alone.

Why the inference copy: measured by ``tests/benchmarks/bench_unet_inference.py`` (TensorFlow 2.21,
CPU, 2 shared cores, 64 RICORD slices, table2, 11 interleaved rounds): `model.predict(batch_size=32)`
71-74 slices/s in most rounds and 50 in about a third of them (its own per-call overhead, probably
its tf.data pipeline competing with the two compute threads), the Keras model in one `tf.function`
78, this path 104: 1.41x `predict`'s median, 1.33x the plain `tf.function`, softmax within 2e-6 of
`predict`. Its parts:

- one `tf.function` whose input signature leaves the batch size open: one trace serves every batch,
  and the short last batch of a series runs as it is, neither padded nor retraced;
- batch normalisation folded into the convolution before it (inference only: the moving statistics
  are constants), which saves a pass over each block's feature map and lets oneDNN fuse convolution,
  bias and ReLU (a few per cent);
- each decoder "nearest 2x up-sampling, then k x k convolution" computed on the low-resolution
  map: every output pixel of a given parity (even/odd row, even/odd column) sees the same few input
  pixels, so the convolution becomes one convolution with a small kernel (2 x 2 for the paper's
  3 x 3) and four times the filters, then `depth_to_space` and one crop (each parity's filters sit in
  the slot that lines them up, `_AxisPlan.interleaving`). It is the same linear map with 4/9 of
  the multiply-adds of those four layers (1.21 of the model's 2.72 G per slice), and the largest
  gain (about 1.2x): the convolutions already run near the processor's peak, so fewer multiply-adds
  is what is left to gain at float32. That is the "sub-pixel" form (`GRAPH_FORMS`), which ONNX
  Runtime runs. TensorFlow runs the "transposed" form: the same taps as one stride-2 transposed
  convolution with a (k + 1) x (k + 1) kernel (odd k; `_AxisPlan.transposed_taps`), the same
  multiply-adds with no depth_to_space or crop after it (oneDNN runs it at the convolutions' rate,
  but does not fuse its bias and ReLU, which cost one pass less than the interleaving and crop);
- in the transposed form, each skip "concatenation, then convolution" computed as one convolution
  of each input, summed (`tf.add_n`, which TensorFlow's remapper fuses with bias and ReLU into the
  last convolution; `+` it leaves alone, as it cannot prove the shapes equal with the batch size
  open): the concatenated map is never written;
- the two-class softmax output computed as sigmoids of the two filters' differences (a few per cent).

Where float32 stops: in this graph the convolution kernels take 276 of 309 ms per batch of 32
(TensorFlow step statistics, printed by the benchmark) at 190-265 G multiply-adds/s, the peak of two
cores; with every other op free the path would reach 116 slices/s, 1.55x `predict`. Winograd
convolution (fewer multiplications, as cuDNN does) was prototyped in TensorFlow ops, F(4,3) along
rows and F(4x4,3x3): 1.1-2.5x on single 8 x 8 to 32 x 32 layers but slower on the 64 x 64 and
128 x 128 ones, whose tile transforms are bound by memory bandwidth (~14 GB/s here) when they cannot
be fused into the convolution; about 10 % on the whole model by those figures, so not kept.

Measured with both paths (`python tests/benchmarks/bench_unet_inference.py`, 64 RICORD slices, 7
interleaved rounds, AMD EPYC 2 cores with AVX-512, ONNX Runtime 1.32, the machine shared with a test
run that took about one core; the ceiling is the faster of the two graphs' convolution kernel time,
per round): TensorFlow graph convolutions 1159 of 1236 ms of kernels per batch of 32, ONNX Runtime's
1326 of 1661 ms (its DepthToSpace, NCHWc reorders, Concat and Slice cost about 20 % beside its
convolutions); predict 12.3 slices/s, tensorflow 26.0, onnxruntime 21.3; tensorflow at 94 % of the
ceiling, onnxruntime 72 %; the runtime chose tensorflow. With TensorFlow held to AVX2
(`ONEDNN_MAX_CPU_ISA=AVX2`; ONNX Runtime's MLAS reads CPUID itself and cannot be held back, so it
still ran AVX-512 kernels): tensorflow 24.9, onnxruntime 21.0, the ceiling then ONNX Runtime's
convolutions (27.0 slices/s against TensorFlow's 26.5), tensorflow chosen at 85 % of it (94 % of its
own convolutions). Both paths within 1.7e-6 of `predict`, no mask pixel flipped.

On an Intel Xeon with AVX-512 (F/BW/VNNI/BF16/FP16) and AMX, 2 cores (same benchmark, quiet machine),
the sub-pixel form left the tensorflow path at 83-87 % of the ceiling: DepthToSpace 20, ConcatV2 17,
the crop 11 and MaxPool 6 ms per batch of 32 beside its convolutions (and a ReLU of 7 ms that was
there only because the benchmark's biases were zeros, which TensorFlow drops, and with them the
fusion; the benchmark now draws them as a trained model has them). With the transposed form (the
ceiling now the fastest convolutions among three graphs: TensorFlow on each form, ONNX Runtime on
the sub-pixel one): tensorflow 88.5 slices/s, the sub-pixel form in TensorFlow 81.1, onnxruntime
68.5, predict 49.4; convolutions 342 of 359 ms of kernels (transposed form), 341 of 391 (sub-pixel
form), 357 of 478 (ONNX Runtime); ceiling 94.8 slices/s; tensorflow at 92 % of it (the sub-pixel
form 85 %, onnxruntime 72 %), chosen. Beside its convolutions there remain the transposed
convolutions' bias (7.5 ms) and ReLU (6), MaxPool (5.5) and the sigmoid (1). With TensorFlow held to
AVX2 there: tensorflow 52.0 slices/s, 98 % of TensorFlow's own convolutions (603 of 630 ms of
kernels); ONNX Runtime, which cannot be held back, ran AVX-512 convolutions in 354 ms, so the
ceiling (90.5 slices/s) was out of reach of any AVX2 kernel, and the runtime chose onnxruntime (67.9
slices/s, 73 %). Tried there and not kept: the bias, ReLU and concatenation as one XLA cluster (25
against 29 ms, the whole path no faster); bias and ReLU as one fused batch norm (2 ms less with
AVX-512, 48 ms more under AVX2); OpenVINO 2026.4 on either form (its convolutions 373-382 ms
against TensorFlow's 331-340, its concatenation a reference kernel, its ReLU not fused into the
transposed convolution; before, on the sub-pixel form, 65.7 against TensorFlow's 63.9 slices/s).

The rewrites are exact in real arithmetic; in float32 the softmax differs from the Keras model's
by about 1e-6 (1.6-2.6e-6 measured, on either path). The copy is checked against the Keras model
when it is built, and the Keras model itself is used if building the copy fails or they differ by
more than `EQUIVALENCE_TOLERANCE`, 1e-5 (a layer pattern the rewrite does not know is cloned
unchanged, never guessed at).

Measured and not taken: XLA (`jit_compile=True`), slower than oneDNN on this CPU (55 slices/s);
TFLite (`tf.lite`, deprecated in this TensorFlow), 15 slices/s and wrong (NaN) outputs from its
converter; intra/inter-op thread settings, no change beyond noise; bfloat16 (this CPU has
AVX512-BF16), the same path at 2.2-2.3x `predict`, but the softmax moves by up to 0.03 and about
0.7-0.8 % of the mask's pixels flip at 0.5 on a model trained on phantoms (about 2 % with random
weights), which changes the involvement the model reports.

On a GPU TensorFlow places the same graph there by itself, `BATCH_SIZE` slices a pass. Mixed
precision is not used, and TensorFloat-32 is switched off (`unet.full_float32`, for training too), so
CPU and GPU workers compute in float32 alike.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from . import preprocessing

logger = logging.getLogger(__name__)

BATCH_SIZE = 32  # slices per pass: CPU speed is within 5 % from 8 to 64; a GPU wants full batches
# Activations over the channel axis, not pixel by pixel (the up-sampling rewrite cannot take them).
CHANNEL_ACTIVATIONS = ("softmax", "log_softmax")
# Forms of the inference copy (`inference_model`), each the fastest for a library on the machines
# measured: "transposed" (TensorFlow's path) computes each nearest 2x up-sampling + convolution as one
# transposed convolution and each skip concatenation + convolution as summed convolutions, which
# oneDNN fuses; "sub-pixel" (ONNX Runtime's, whose ConvTranspose takes twice the time of these
# convolutions and whose Sum is not fused) keeps the concatenations and computes each up-sampling +
# convolution as a convolution with 4x the filters, then depth_to_space and a crop.
GRAPH_FORMS = ("transposed", "sub-pixel")
# Raised whenever the inference copy's graphs change, so that workers measure their path choice again.
REWRITE_REVISION = 2  # 2: the transposed form (issue #15)
# Max |softmax difference| from the Keras model for a path to be used (issue #15: identical outputs).
EQUIVALENCE_TOLERANCE = 1e-5
CHOICE_ROUNDS = 3  # timed passes of one batch per path at worker start, interleaved; the median counts
# /proc/cpuinfo flags that select the float32 kernels oneDNN and MLAS run: a choice is kept per set.
KERNEL_FLAGS = (
    "fma", "avx", "avx2", "avx_vnni", "avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512_vnni",
    "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8",
)  # fmt: skip
# Environment variables that change which kernels the libraries pick.
KERNEL_ENVIRONMENT = ("ONEDNN_MAX_CPU_ISA", "TF_ENABLE_ONEDNN_OPTS", "DNNL_MAX_CPU_ISA")

_inferers: dict[int, Inferer] = {}
_lock = threading.Lock()
_tensorflow_configured = False


# ---------------------------------------------------------------- the inference-only graph


@dataclass(frozen=True)
class _AxisPlan:
    """Nearest 2x up-sampling + a 'same' convolution of `kernel` taps along one axis, per output parity."""

    kernel: int

    def offsets(self, parity: int) -> list[int]:
        # Output pixel 2i + parity, tap t reads up-sampled pixel 2i + parity + t - pad, i.e. input
        # pixel i + floor((parity + t - pad) / 2); TensorFlow's 'same' pads (kernel - 1) // 2 before.
        pad = (self.kernel - 1) // 2
        return [(parity + tap - pad) // 2 for tap in range(self.kernel)]

    @property
    def span(self) -> int:
        return max(max(self.offsets(p)) - min(self.offsets(p)) + 1 for p in (0, 1))

    @property
    def pad_before(self) -> int:
        return -min(min(self.offsets(p)) for p in (0, 1))

    @property
    def pad_after(self) -> int:
        return max(min(self.offsets(p)) + self.span - 1 for p in (0, 1))

    def start(self, parity: int) -> int:
        """Where this parity's outputs begin in the 'valid' convolution of the padded input."""
        return min(self.offsets(parity)) + self.pad_before

    def taps(self, parity: int) -> list[int]:
        """For each original tap, its position in this parity's `span`-wide kernel."""
        low = min(self.offsets(parity))
        return [offset - low for offset in self.offsets(parity)]

    def transposed_taps(self, parity: int) -> list[int]:
        """For each original tap, its position in the (`kernel` + 1)-tap stride-2 transposed convolution
        with 'same' padding that computes the same map (odd kernels only: 'same' pads (kernel - 1) / 2
        before there, as the up-sampled convolution needs). Input pixel j reaches output pixel o through
        tap o - 2j + (kernel - 1) / 2, and output 2i + parity reads input i + offset (`offsets`), so the
        two parities use disjoint taps."""
        if self.kernel % 2 == 0:
            raise ValueError(f"an even kernel ({self.kernel} taps) has no 'same' transposed form")
        return [parity - 2 * offset + (self.kernel - 1) // 2 for offset in self.offsets(parity)]

    def interleaving(self) -> tuple[tuple[int, int], int]:
        """(slot of parity 0, slot of parity 1), crop: `depth_to_space` of the 'valid' convolution,
        with each parity's filters in its slot, holds the up-sampled convolution from `crop` on.

        `depth_to_space` puts slot s of convolution pixel q at 2q + s; the output pixel 2i + parity
        is convolution pixel i + start(parity), so both parities must agree on 2 start + slot - parity.
        One of the two slot orders always does (the starts differ by 0 or 1).
        """
        for slots in ((0, 1), (1, 0)):
            crops = {2 * self.start(parity) + slots[parity] - parity for parity in (0, 1)}
            if len(crops) == 1:
                return slots, crops.pop()
        raise ValueError(f"no interleaving for a {self.kernel}-tap kernel")  # unreachable, see above


def _subpixel_kernel(kernel: np.ndarray) -> np.ndarray:
    """(k, k, c, f) kernel applied after nearest 2x up-sampling -> (s, s, c, 4f) on the input itself.

    Output channels are grouped by slot (row, column) = (0,0), (0,1), (1,0), (1,1), the order that
    `depth_to_space` interleaves them in; each slot holds the parity that `_AxisPlan.interleaving` puts
    there.
    """
    rows, columns = _AxisPlan(kernel.shape[0]), _AxisPlan(kernel.shape[1])
    (row_slots, _), (column_slots, _) = rows.interleaving(), columns.interleaving()
    groups = {}
    for row_parity in (0, 1):
        for column_parity in (0, 1):
            combined = np.zeros((rows.span, columns.span, *kernel.shape[2:]), dtype=np.float64)
            _add_taps(combined, kernel, rows.taps(row_parity), columns.taps(column_parity))
            groups[row_slots[row_parity], column_slots[column_parity]] = combined
    return np.concatenate([groups[slot] for slot in sorted(groups)], axis=-1)


def _add_taps(target: np.ndarray, kernel: np.ndarray, row_taps: list[int], column_taps: list[int]) -> None:
    """Adds each tap (t, u) of `kernel` into `target` at (row_taps[t], column_taps[u])."""
    for t, i in enumerate(row_taps):
        for u, j in enumerate(column_taps):
            target[i, j] += kernel[t, u]


def _transposed_kernel(kernel: np.ndarray) -> np.ndarray:
    """(k, k, c, f) kernel applied after nearest 2x up-sampling -> the (k + 1, k + 1, f, c) filter of a
    stride-2 transposed convolution of the input itself (TensorFlow's layout: outputs before inputs)."""
    rows, columns = _AxisPlan(kernel.shape[0]), _AxisPlan(kernel.shape[1])
    combined = np.zeros((rows.kernel + 1, columns.kernel + 1, *kernel.shape[2:]), dtype=np.float64)
    for row_parity in (0, 1):
        for column_parity in (0, 1):
            _add_taps(combined, kernel, rows.transposed_taps(row_parity), columns.transposed_taps(column_parity))
    return np.transpose(combined, (0, 1, 3, 2))


def _inference_layers():
    """Keras layer classes of the inference copy, defined on first use so that importing this module
    does not import TensorFlow (the web process never needs it)."""
    import keras
    import tensorflow as tf

    class Passthrough(keras.layers.Layer):
        """Stands where a folded batch norm or an absorbed up-sampling was."""

        def call(self, inputs, training=None, mask=None):
            return inputs

    class UpsampledConv2D(keras.layers.Layer):
        """Nearest 2x up-sampling followed by a stride-1 'same' Conv2D, computed at the input resolution."""

        def __init__(self, filters: int, kernel_size: tuple[int, int], activation, **kwargs):
            super().__init__(**kwargs)
            self.filters = filters
            self.rows, self.columns = _AxisPlan(kernel_size[0]), _AxisPlan(kernel_size[1])
            self.activation = keras.activations.get(activation)

        def build(self, input_shape):
            kernel_shape = (self.rows.span, self.columns.span, input_shape[-1], 4 * self.filters)
            self.kernel = self.add_weight(shape=kernel_shape, initializer="zeros", trainable=False, name="kernel")
            self.bias = self.add_weight(shape=(4 * self.filters,), initializer="zeros", trainable=False, name="bias")

        def call(self, inputs):
            height, width = inputs.shape[1], inputs.shape[2]
            padded = tf.pad(
                inputs,
                [
                    [0, 0],
                    [self.rows.pad_before, self.rows.pad_after],
                    [self.columns.pad_before, self.columns.pad_after],
                    [0, 0],
                ],
            )
            z = tf.nn.conv2d(padded, self.kernel, strides=1, padding="VALID")
            z = self.activation(tf.nn.bias_add(z, self.bias))  # conv + bias + ReLU fuse in oneDNN/cuDNN
            upsampled = tf.nn.depth_to_space(z, 2)  # each parity in its slot: one pass, then one crop
            top, left = self.rows.interleaving()[1], self.columns.interleaving()[1]
            return upsampled[:, top : top + 2 * height, left : left + 2 * width, :]

    class UpsampledConv2DTranspose(UpsampledConv2D):
        """The same map as one stride-2 transposed convolution: each output pixel gets the same taps as
        in the sub-pixel form above, with no interleaving or crop afterwards (oneDNN does not fuse
        bias and ReLU into it, so those take one pass over the up-sampled map)."""

        def build(self, input_shape):
            kernel_shape = (self.rows.kernel + 1, self.columns.kernel + 1, self.filters, input_shape[-1])
            self.kernel = self.add_weight(shape=kernel_shape, initializer="zeros", trainable=False, name="kernel")
            self.bias = self.add_weight(shape=(self.filters,), initializer="zeros", trainable=False, name="bias")

        def call(self, inputs):
            output_shape = [tf.shape(inputs)[0], 2 * inputs.shape[1], 2 * inputs.shape[2], self.filters]
            # 'SAME', not the equal explicit padding, which TensorFlow runs on Eigen, 2.7x slower than oneDNN.
            upsampled = tf.nn.conv2d_transpose(inputs, self.kernel, output_shape, strides=2, padding="SAME")
            return self.activation(tf.nn.bias_add(upsampled, self.bias))

    class ConcatConv2D(keras.layers.Layer):
        """A channel concatenation followed by a stride-1 Conv2D, as one convolution of each input, summed:
        the concatenated map is never written. The last input's convolution takes the bias, the others'
        sum and the activation (oneDNN fuses convolution, bias, sum and ReLU into one kernel)."""

        def __init__(
            self, filters: int, kernel_size: tuple[int, int], padding: str, activation, channels: list[int], **kwargs
        ):
            super().__init__(**kwargs)
            self.filters, self.kernel_size, self.padding = filters, tuple(kernel_size), padding.upper()
            self.activation = keras.activations.get(activation)
            self.channels = channels  # of each input, in order

        def build(self, input_shape):
            self.kernels = [
                self.add_weight(
                    shape=(*self.kernel_size, channels, self.filters),
                    initializer="zeros",
                    trainable=False,
                    name=f"kernel_{index}",
                )
                for index, channels in enumerate(self.channels)
            ]
            self.bias = self.add_weight(shape=(self.filters,), initializer="zeros", trainable=False, name="bias")

        def call(self, inputs):
            *others, last = [
                tf.nn.conv2d(x, kernel, 1, self.padding) for x, kernel in zip(inputs, self.kernels, strict=True)
            ]
            # AddN, not +: TensorFlow's remapper fuses it into the last convolution (+ is left alone when
            # the batch size is open, as it cannot prove the shapes equal).
            return self.activation(tf.add_n([tf.nn.bias_add(last, self.bias), *others]))

    return Passthrough, UpsampledConv2D, UpsampledConv2DTranspose, ConcatConv2D


def _consumers(model) -> dict[str, list]:
    """Layer name -> the layers that take its output (the model itself counts, as None, for outputs)."""
    consumers: dict[str, list] = {layer.name: [] for layer in model.layers}
    for layer in model.layers:
        for node in layer._outbound_nodes:
            consumers[layer.name].append(node.operation)
    for output in model.outputs:
        consumers[output._keras_history.operation.name].append(None)
    return consumers


def _producer(layer):
    inputs = layer.input
    if isinstance(inputs, list | tuple):
        return None
    return inputs._keras_history.operation


def inference_model(model, form: str = "transposed"):
    """An inference-only copy of a Keras U-Net in one of the `GRAPH_FORMS`: batch norm folded,
    up-sampling absorbed, and (in the transposed form) skip concatenations split.

    Returns (copy, number of layers rewritten). Only patterns that are exactly equivalent are
    rewritten: Conv2D (no activation) -> BatchNormalization on the last axis, with nothing else
    reading the convolution; UpSampling2D(2, nearest) -> Conv2D (stride 1, 'same', no dilation or
    groups, an activation pixel by pixel), with nothing else reading the up-sampled map, computed as
    one transposed convolution (odd kernels in the transposed form) or in the sub-pixel form;
    Concatenate on the channel axis -> Conv2D (stride 1, no dilation or groups), with nothing else
    reading the concatenation, as one convolution per input, summed (transposed form); a two-filter
    Conv2D with a softmax, which becomes a sigmoid of the filters' differences (softmax(a, b) =
    (sigmoid(a - b), sigmoid(b - a)): no maximum and sum over the channel axis, the slowest op per
    element here). Everything else is cloned unchanged.
    """
    import keras
    from keras import layers

    if form not in GRAPH_FORMS:
        raise ValueError(f"unknown form {form!r}; choose one of {GRAPH_FORMS}")
    Passthrough, UpsampledConv2D, UpsampledConv2DTranspose, ConcatConv2D = _inference_layers()

    def transposed(layer) -> bool:  # even kernels keep the sub-pixel form (see `_AxisPlan.transposed_taps`)
        return form == "transposed" and all(size % 2 == 1 for size in layer.kernel_size)

    consumers = _consumers(model)

    folded: dict[str, layers.BatchNormalization] = {}  # conv name -> the batch norm folded into it
    upsampled: set[str] = set()  # names of convs that absorb the up-sampling before them
    two_class: set[str] = set()  # names of two-filter softmax convs, computed as sigmoids
    split: dict[str, list[int]] = {}  # conv name -> channels of each input of the concatenation before it
    for layer in model.layers:
        source = _producer(layer)
        if (
            isinstance(layer, layers.BatchNormalization)
            and type(source) is layers.Conv2D
            and layer.axis in (-1, 3)
            and source.get_config()["activation"] == "linear"
            and consumers[source.name] == [layer]
        ):
            folded[source.name] = layer
        if (
            type(layer) is layers.Conv2D
            and isinstance(source, layers.UpSampling2D)
            and tuple(source.size) == (2, 2)
            and source.interpolation == "nearest"
            and source.data_format == "channels_last"
            and consumers[source.name] == [layer]
            and layer.padding == "same"
            and tuple(layer.strides) == (1, 1)
            and tuple(layer.dilation_rate) == (1, 1)
            and layer.groups == 1
            and layer.data_format == "channels_last"
            and layer.get_config()["activation"] not in CHANNEL_ACTIVATIONS  # applied before interleaving
        ):
            upsampled.add(layer.name)
        if (
            type(layer) is layers.Conv2D
            and layer.get_config()["activation"] == "softmax"
            and layer.filters == 2
            and layer.data_format == "channels_last"
        ):
            two_class.add(layer.name)
        elif (
            form == "transposed"
            and type(layer) is layers.Conv2D
            and type(source) is layers.Concatenate
            and source.axis in (-1, 3)
            and consumers[source.name] == [layer]
            and tuple(layer.strides) == (1, 1)
            and tuple(layer.dilation_rate) == (1, 1)
            and layer.groups == 1
            and layer.data_format == "channels_last"
        ):
            split[layer.name] = [int(tensor.shape[-1]) for tensor in source.input]
    absorbed = {_producer(model.get_layer(name)).name for name in upsampled}
    concatenation_of = {name: _producer(model.get_layer(name)).name for name in split}
    removed = {bn.name for bn in folded.values()} | absorbed | set(concatenation_of.values())

    def clone(layer):
        if layer.name in removed:
            return Passthrough(name=layer.name)
        config = layer.get_config()
        if layer.name in upsampled:
            upsampled_layer = UpsampledConv2DTranspose if transposed(layer) else UpsampledConv2D
            return upsampled_layer(
                config["filters"],
                config["kernel_size"],
                config["activation"],
                name=layer.name,
                dtype=layer.dtype_policy,
            )
        if layer.name in split:
            return ConcatConv2D(
                config["filters"],
                config["kernel_size"],
                config["padding"],
                config["activation"],
                split[layer.name],
                name=layer.name,
                dtype=layer.dtype_policy,
            )
        if layer.name in folded or layer.name in two_class:
            config["use_bias"] = True
        if layer.name in two_class:
            config["activation"] = "sigmoid"
        return layer.__class__.from_config(config)

    concatenated: dict[str, list] = {}  # concatenation name -> its inputs in the copy

    def call(layer, *args, **kwargs):
        # A layer stands for one tensor in the graph, so a split concatenation hands its inputs on here.
        if layer.name in concatenation_of.values():
            concatenated[layer.name] = list(args[0])
            return args[0][0]  # read by nothing: the split convolution takes the inputs themselves
        if layer.name in split:
            return layer(concatenated[concatenation_of[layer.name]])
        return layer(*args, **kwargs)

    copy = keras.models.clone_model(model, clone_function=clone, call_function=call)

    transformed = folded.keys() | upsampled | two_class | split.keys()  # weights change on the way

    for layer in model.layers:
        if layer.name in removed or not layer.weights:
            continue
        weights = [np.asarray(weight, dtype=np.float64) for weight in layer.get_weights()]
        if layer.name in transformed:
            kernel = weights[0]
            bias = weights[1] if layer.use_bias else np.zeros(kernel.shape[-1])
            if layer.name in folded:
                kernel, bias = _fold_batch_norm(kernel, bias, folded[layer.name])
            if layer.name in upsampled and transposed(layer):
                kernel = _transposed_kernel(kernel)
            elif layer.name in upsampled:
                kernel, bias = _subpixel_kernel(kernel), np.tile(bias, 4)
            if layer.name in two_class:  # filter i gets (filter i - the other filter)
                kernel, bias = kernel - kernel[..., ::-1], bias - bias[::-1]
            # Each input of a split concatenation gets its own rows of the kernel.
            kernels = np.split(kernel, np.cumsum(split[layer.name])[:-1], axis=2) if layer.name in split else [kernel]
            weights = [*kernels, bias]
        copy.get_layer(layer.name).set_weights([weight.astype(np.float32) for weight in weights])
    return copy, len(removed) + len(two_class)


def _fold_batch_norm(kernel: np.ndarray, bias: np.ndarray, batch_norm) -> tuple[np.ndarray, np.ndarray]:
    """conv then BN(x) = gamma (x - mean) / sqrt(var + eps) + beta  ->  one conv (in float64, then float32)."""

    def value(variable) -> np.ndarray:
        return np.asarray(variable.numpy(), dtype=np.float64)

    mean, variance = value(batch_norm.moving_mean), value(batch_norm.moving_variance)
    gamma = value(batch_norm.gamma) if batch_norm.scale else np.ones_like(mean)
    beta = value(batch_norm.beta) if batch_norm.center else np.zeros_like(mean)
    scale = gamma / np.sqrt(variance + batch_norm.epsilon)
    return kernel * scale, (bias - mean) * scale + beta


# ---------------------------------------------------------------- the paths and the choice among them

Run = Callable[[np.ndarray], np.ndarray]  # one batch of model input -> the model's output, numpy


def _tensorflow_path(inferer: Inferer, form: str = "transposed") -> Run:
    forward = inferer.forward_function(form)
    return lambda batch: forward(batch).numpy()


def _onnxruntime_path(inferer: Inferer) -> Run:
    from . import runtime_onnx

    return runtime_onnx.forward(inferer.forward_function("sub-pixel"), inferer.input_shape)


# The ways to run the same graph, by name; "tensorflow" is always there and is the fallback.
PATH_BUILDERS: dict[str, Callable[[Inferer], Run]] = {
    "tensorflow": _tensorflow_path,  # the transposed form
    # In case oneDNN's transposed convolution lags on some processor.
    "tensorflow-sub-pixel": partial(_tensorflow_path, form="sub-pixel"),
    "onnxruntime": _onnxruntime_path,
}
PATHS = tuple(PATH_BUILDERS)


def cpu_features() -> dict[str, object]:
    """The processor as far as kernel choice goes: model name, the `KERNEL_FLAGS` it has, usable cores."""
    model, flags = "unknown", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
                break  # every core lists the same
    except OSError:  # not Linux: the key then holds the library versions and the core count only
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"model": model, "flags": [flag for flag in KERNEL_FLAGS if flag in flags], "cores": cores}


def _library_versions(paths: Sequence[str]) -> dict[str, str]:
    import keras
    import tensorflow as tf

    versions = {"tensorflow": tf.__version__, "keras": keras.__version__, "numpy": np.__version__}
    if "onnxruntime" in paths:
        try:
            from . import runtime_onnx

            versions |= runtime_onnx.versions()
        except ImportError:  # not installed: that path fails to build and is left out
            versions["onnxruntime"] = "absent"
    return versions


def weights_digest(model) -> str:
    """SHA-256 of a Keras model's weights (shapes and values, in layer order)."""
    digest = hashlib.sha256()
    for weight in model.weights:
        values = np.ascontiguousarray(np.asarray(weight))
        digest.update(f"{values.shape}{values.dtype}".encode())
        digest.update(values.tobytes())
    return digest.hexdigest()


def choice_key(model, paths: Sequence[str], batch_size: int) -> dict[str, object]:
    """What the fastest path depends on: the model, the processor and its kernel settings, the libraries,
    the revision of the graphs they run."""
    return {
        "weights": weights_digest(model),
        "input_shape": list(model.input_shape[1:]),
        "batch_size": batch_size,
        "paths": sorted(paths),
        "cpu": cpu_features(),
        "environment": {name: os.environ[name] for name in KERNEL_ENVIRONMENT if name in os.environ},
        "versions": _library_versions(paths),
        "rewrite": REWRITE_REVISION,
    }


def _cache_file(folder: Path, key: dict[str, object]) -> Path:
    name = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
    return folder / f"unet-path-{name}.json"


def _cached_path(folder: Path | None, key: dict[str, object]) -> str | None:
    if folder is None:
        return None
    try:
        record = json.loads(_cache_file(folder, key).read_text())
    except (OSError, ValueError):  # never measured here, or a torn or hand-edited file: measure again
        return None
    return record.get("path") if record.get("key") == key else None


def _store_choice(folder: Path | None, key: dict[str, object], record: dict[str, object]) -> None:
    if folder is None:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        target = _cache_file(folder, key)
        partial = target.with_name(f".{target.name}.{os.getpid()}")
        partial.write_text(json.dumps({"key": key, **record}, indent=1, sort_keys=True))
        partial.replace(target)  # atomic: a worker starting beside this one reads all or nothing
    except OSError:  # a read-only folder costs a measurement at each start, nothing else
        logger.warning("could not store the U-Net path choice in %s", folder, exc_info=True)


def slices_per_second(runs: dict[str, Run], batch: np.ndarray, rounds: int = CHOICE_ROUNDS) -> dict[str, float]:
    """Median slices/s of each run on `batch`, after one warm-up pass each, the runs interleaved round by
    round so that load from other processes falls on all of them alike."""
    for run in runs.values():
        run(batch)
    timings: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            started = time.perf_counter()
            run(batch)
            timings[name].append(len(batch) / (time.perf_counter() - started))
    return {name: statistics.median(values) for name, values in timings.items()}


# ---------------------------------------------------------------- the inferer


def _configure_tensorflow() -> None:
    """Once per process, before TensorFlow touches a GPU: take GPU memory as needed, not all of it at
    once, so that a second worker process or a training job can share the card."""
    global _tensorflow_configured
    if _tensorflow_configured:
        return
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # already initialised by someone else in this process: keep their setting
            pass
    logger.info("TensorFlow runs U-Net inference on %s", f"{len(gpus)} GPU(s)" if gpus else "the CPU")
    _tensorflow_configured = True


class Inferer:
    """One U-Net ready for inference: HU slices in, pattern probability out, `batch_size` slices a pass.

    Not tied to Django: the benchmark and the tests build one from a Keras model directly.
    """

    def __init__(
        self,
        model,
        *,
        batch_size: int = BATCH_SIZE,
        rewrite: bool = True,
        tolerance: float | None = None,
        paths: Sequence[str] = ("tensorflow",),
        choice_cache: Path | None = None,
    ):
        """`tolerance`: largest softmax difference allowed between a path and the Keras model (default
        `EQUIVALENCE_TOLERANCE`); beyond it the Keras model is used, or the path is refused.

        `paths`: the candidate ways to run the graph (names in `PATH_BUILDERS`). With more than one,
        each is built, checked against the Keras model and timed on a batch, and the fastest is used;
        the choice is kept in `choice_cache` (a folder; None: measure every time) under a key of
        weights, processor and library versions, so that a restarted worker only builds and checks
        the chosen one. A path that fails to build or differs is left out; "tensorflow" remains.
        """
        self.keras_model = model
        self.batch_size = batch_size
        self.tolerance = EQUIVALENCE_TOLERANCE if tolerance is None else tolerance
        self.model, self.rewritten_layers = model, 0
        if rewrite:
            try:
                self.model, self.rewritten_layers = inference_model(model)
            except Exception:  # a Keras change the rewrite does not know: slower, never wrong
                logger.warning(
                    "could not build the inference copy of %s; using the Keras model", model.name, exc_info=True
                )
        self.input_shape = tuple(model.input_shape[1:])
        self._forward = self._traced(lambda batch: self.model(batch, training=False))
        self._other_forms: dict[str, object] = {}  # form -> its `tf.function`, see `forward_function`
        self.path, self._run = "tensorflow", _tensorflow_path(self)
        if self.rewritten_layers:
            difference = self._difference_from_keras(self._run)
            if not difference <= self.tolerance:
                logger.warning(
                    "inference copy of %s differs from the Keras model by %.2g; using the Keras model",
                    model.name,
                    difference,
                )
                self.model, self.rewritten_layers = model, 0
        # slices/s of each path measured here (empty when the choice came from the cache or there was none)
        self.path_speeds: dict[str, float] = {}
        if tuple(paths) != ("tensorflow",):
            self._choose_path(paths, choice_cache)

    def _traced(self, forward):
        """`forward` as one `tf.function` for any batch size: a short last batch runs as it is, neither
        padded nor retraced."""
        import tensorflow as tf

        return tf.function(forward, input_signature=[tf.TensorSpec((None, *self.input_shape), tf.float32)])

    def forward_function(self, form: str = "transposed"):
        """The `tf.function` of the inference copy in one of the `GRAPH_FORMS`; the Keras model's when no
        copy is used."""
        if form == "transposed" or not self.rewritten_layers:
            return self._forward
        if form not in self._other_forms:  # built once: two paths at worker start run the sub-pixel form
            copy, _ = inference_model(self.keras_model, form)
            self._other_forms[form] = self._traced(lambda batch: copy(batch, training=False))
        return self._other_forms[form]

    def _difference_from_keras(self, run: Run) -> float:
        check = np.random.default_rng(0).random((2, *self.input_shape), dtype=np.float32)
        expected = np.asarray(self.keras_model(check, training=False))
        return float(np.abs(run(check) - expected).max())

    def _checked_path(self, name: str) -> Run | None:
        """The path's runner if it builds and gives the Keras model's output within tolerance, else None."""
        try:
            run = PATH_BUILDERS[name](self)
            difference = self._difference_from_keras(run)
        except Exception:  # a missing library, a converter that fails on this graph: never fatal
            logger.warning("U-Net path %s could not be built; left out", name, exc_info=True)
            return None
        if not difference <= self.tolerance:  # NaN included
            logger.warning("U-Net path %s differs from the Keras model by %.2g; left out", name, difference)
            return None
        return run

    def _choose_path(self, paths: Sequence[str], choice_cache: Path | None) -> None:
        key = choice_key(self.keras_model, paths, self.batch_size)
        cached = _cached_path(choice_cache, key)
        if cached in paths:
            run = self._run if cached == "tensorflow" else self._checked_path(cached)
            if run is not None:
                self.path, self._run = cached, run
                logger.info("U-Net %s runs on %s (choice cached in %s)", self.keras_model.name, cached, choice_cache)
                return
        runs = {}
        for name in paths:
            run = self._run if name == "tensorflow" else self._checked_path(name)
            if run is not None:
                runs[name] = run
        runs = runs or {"tensorflow": self._run}  # every candidate left out: the TensorFlow path remains
        if len(runs) > 1:
            batch = np.random.default_rng(1).random((self.batch_size, *self.input_shape), dtype=np.float32)
            self.path_speeds = slices_per_second(runs, batch)
        self.path = max(runs, key=lambda name: self.path_speeds.get(name, 0.0))
        self._run = runs[self.path]
        figures = ", ".join(f"{name} {speed:.1f}" for name, speed in self.path_speeds.items()) or "none timed"
        logger.info("U-Net %s runs on %s (slices/s: %s)", self.keras_model.name, self.path, figures)
        _store_choice(choice_cache, key, {"path": self.path, "slices_per_s": self.path_speeds})

    def softmax(self, batch: np.ndarray) -> np.ndarray:
        """Model input (n, 128, 128, 1) float32 -> the model's output (n, 128, 128, n_classes)."""
        batch = np.asarray(batch, dtype=np.float32)
        outputs = [self._run(batch[start : start + self.batch_size]) for start in range(0, len(batch), self.batch_size)]
        if not outputs:
            return np.zeros((0, *self.keras_model.output_shape[1:]), dtype=np.float32)
        return np.concatenate(outputs)

    def probability(self, hu_slices: np.ndarray, lung: np.ndarray | None = None) -> np.ndarray:
        """Pattern probability (n, 128, 128) for HU slices (n, rows, columns), lung-masked when `lung` is given."""
        return preprocessing.pattern_probability(self.softmax(preprocessing.preprocess(hu_slices, lung=lung)))


# ---------------------------------------------------------------- one per model version per process


def _paths_here() -> tuple[str, ...]:
    """The deployment's paths (settings.UNET_CPU_PATHS) on a CPU worker; on a GPU TensorFlow's alone
    (the other paths here run on the CPU)."""
    import tensorflow as tf
    from django.conf import settings

    return ("tensorflow",) if tf.config.list_physical_devices("GPU") else tuple(settings.UNET_CPU_PATHS)


def _choice_cache_folder() -> Path:
    """Where workers keep their path choice across restarts: the settings' VAR_DIR."""
    from django.conf import settings

    return Path(settings.VAR_DIR) / "unet-paths"


def inferer(model_version) -> Inferer:
    """The model version's inferer, built on first use in this process and kept."""
    with _lock:  # one load per version even when several threads ask at once
        loaded = _inferers.get(model_version.pk)
        if loaded is None:
            _configure_tensorflow()
            from . import unet

            model = unet.build_unet(model_version.variant)
            model.load_weights(model_version.weights_file.path)
            loaded = Inferer(model, paths=_paths_here(), choice_cache=_choice_cache_folder())
            _inferers[model_version.pk] = loaded
        return loaded


def keras_model(model_version):
    """The model version's Keras model (loaded once per process)."""
    return inferer(model_version).keras_model


def predict_probability(model_version, hu_slices: np.ndarray, lung: np.ndarray | None = None) -> np.ndarray:
    """Pattern probability (n, 128, 128) for HU slices (n, rows, columns), in `BATCH_SIZE` batches. A version
    trained on lung-masked inputs gets its inputs masked by `lung` (the series' region) the same way."""
    masked = bool(model_version.training_run.get("lung_masked"))
    if masked and lung is None:
        raise ValueError(f"model {model_version.pk} was trained on lung-masked inputs: give the lung region")
    return inferer(model_version).probability(hu_slices, lung if masked else None)
