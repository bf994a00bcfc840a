"""The U-Net in a worker process: each model version is loaded once and kept, and run through a faster
inference-only copy of its graph.

`Inferer` is the Django-free core (a Keras model in, pattern probabilities out); the module functions
add the per-process cache keyed by model version, which is all this module reads of Django models
(`.pk`, `.variant`, `.weights_file.path`).

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
  is what is left to gain at float32;
- the two-class softmax output computed as sigmoids of the two filters' differences (a few per cent).

Where float32 stops: in this graph the convolution kernels take 276 of 309 ms per batch of 32
(TensorFlow step statistics, printed by the benchmark) at 190-265 G multiply-adds/s, the peak of two
cores; with every other op free the path would reach 116 slices/s, 1.55x `predict`. Winograd
convolution (fewer multiplications, as cuDNN does) was prototyped in TensorFlow ops, F(4,3) along
rows and F(4x4,3x3): 1.1-2.5x on single 8 x 8 to 32 x 32 layers but slower on the 64 x 64 and
128 x 128 ones, whose tile transforms are bound by memory bandwidth (~14 GB/s here) when they cannot
be fused into the convolution; about 10 % on the whole model by those figures, so not kept.

The rewrites are exact in real arithmetic; in float32 the softmax differs from the Keras model's
by about 1e-6. The copy is checked against the Keras model when it is built, and the Keras model
itself is used if building the copy fails or they differ by more than `EQUIVALENCE_TOLERANCE` (a
layer pattern the rewrite does not know is cloned unchanged, never guessed at).

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

import logging
import threading
from dataclasses import dataclass

import numpy as np

from . import preprocessing

logger = logging.getLogger(__name__)

BATCH_SIZE = 32  # slices per pass: CPU speed is within 5 % from 8 to 64; a GPU wants full batches
# Activations over the channel axis, not pixel by pixel (the up-sampling rewrite cannot take them).
CHANNEL_ACTIVATIONS = ("softmax", "log_softmax")
EQUIVALENCE_TOLERANCE = 1e-4  # max |softmax difference| between the inference copy and the Keras model

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
            for t, i in enumerate(rows.taps(row_parity)):
                for u, j in enumerate(columns.taps(column_parity)):
                    combined[i, j] += kernel[t, u]
            groups[row_slots[row_parity], column_slots[column_parity]] = combined
    return np.concatenate([groups[slot] for slot in sorted(groups)], axis=-1)


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

    return Passthrough, UpsampledConv2D


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


def inference_model(model):
    """An inference-only copy of a Keras U-Net with batch norm folded and up-sampling absorbed.

    Returns (copy, number of layers rewritten). Only patterns that are exactly equivalent are
    rewritten: Conv2D (no activation) -> BatchNormalization on the last axis, with nothing else
    reading the convolution; UpSampling2D(2, nearest) -> Conv2D (stride 1, 'same', no dilation or
    groups, an activation pixel by pixel), with nothing else reading the up-sampled map; a two-filter
    Conv2D with a softmax, which becomes a sigmoid of the filters' differences (softmax(a, b) =
    (sigmoid(a - b), sigmoid(b - a)): no maximum and sum over the channel axis, the slowest op per
    element here). Everything else is cloned unchanged.
    """
    import keras
    from keras import layers

    Passthrough, UpsampledConv2D = _inference_layers()
    consumers = _consumers(model)

    folded: dict[str, layers.BatchNormalization] = {}  # conv name -> the batch norm folded into it
    upsampled: set[str] = set()  # names of convs that absorb the up-sampling before them
    two_class: set[str] = set()  # names of two-filter softmax convs, computed as sigmoids
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
    absorbed = {_producer(model.get_layer(name)).name for name in upsampled}
    removed = {bn.name for bn in folded.values()} | absorbed

    def clone(layer):
        if layer.name in removed:
            return Passthrough(name=layer.name)
        if layer.name in upsampled:
            config = layer.get_config()
            return UpsampledConv2D(
                config["filters"],
                config["kernel_size"],
                config["activation"],
                name=layer.name,
                dtype=layer.dtype_policy,
            )
        config = layer.get_config()
        if layer.name in folded or layer.name in two_class:
            config["use_bias"] = True
        if layer.name in two_class:
            config["activation"] = "sigmoid"
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(model, clone_function=clone)

    transformed = folded.keys() | upsampled | two_class  # layers whose weights change on the way

    for layer in model.layers:
        if layer.name in removed or not layer.weights:
            continue
        weights = [np.asarray(weight, dtype=np.float64) for weight in layer.get_weights()]
        if layer.name in transformed:
            kernel = weights[0]
            bias = weights[1] if layer.use_bias else np.zeros(kernel.shape[-1])
            if layer.name in folded:
                kernel, bias = _fold_batch_norm(kernel, bias, folded[layer.name])
            if layer.name in upsampled:
                kernel, bias = _subpixel_kernel(kernel), np.tile(bias, 4)
            if layer.name in two_class:  # filter i gets (filter i - the other filter)
                kernel, bias = kernel - kernel[..., ::-1], bias - bias[::-1]
            weights = [kernel, bias]
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

    def __init__(self, model, *, batch_size: int = BATCH_SIZE, rewrite: bool = True, tolerance: float | None = None):
        """`tolerance`: largest softmax difference allowed between the inference copy and the Keras
        model (default `EQUIVALENCE_TOLERANCE`); beyond it the Keras model is used."""
        import tensorflow as tf

        self.keras_model = model
        self.batch_size = batch_size
        self.model, self.rewritten_layers = model, 0
        if rewrite:
            try:
                self.model, self.rewritten_layers = inference_model(model)
            except Exception:  # a Keras change the rewrite does not know: slower, never wrong
                logger.warning(
                    "could not build the inference copy of %s; using the Keras model", model.name, exc_info=True
                )
        input_shape = tuple(model.input_shape[1:])
        # Any batch size, one trace: a short last batch runs as it is, neither padded nor retraced.
        self._forward = tf.function(
            lambda batch: self.model(batch, training=False),
            input_signature=[tf.TensorSpec((None, *input_shape), tf.float32)],
        )
        if self.rewritten_layers:
            difference = self._difference_from_keras(input_shape)
            if difference > (EQUIVALENCE_TOLERANCE if tolerance is None else tolerance):
                logger.warning(
                    "inference copy of %s differs from the Keras model by %.2g; using the Keras model",
                    model.name,
                    difference,
                )
                self.model, self.rewritten_layers = model, 0

    def _difference_from_keras(self, input_shape: tuple[int, ...]) -> float:
        check = np.random.default_rng(0).random((2, *input_shape), dtype=np.float32)
        expected = np.asarray(self.keras_model(check, training=False))
        return float(np.abs(self.softmax(check) - expected).max())

    def softmax(self, batch: np.ndarray) -> np.ndarray:
        """Model input (n, 128, 128, 1) float32 -> the model's output (n, 128, 128, n_classes)."""
        batch = np.asarray(batch, dtype=np.float32)
        outputs = [
            self._forward(batch[start : start + self.batch_size]).numpy()
            for start in range(0, len(batch), self.batch_size)
        ]
        if not outputs:
            return np.zeros((0, *self.keras_model.output_shape[1:]), dtype=np.float32)
        return np.concatenate(outputs)

    def probability(self, hu_slices: np.ndarray, lung: np.ndarray | None = None) -> np.ndarray:
        """Pattern probability (n, 128, 128) for HU slices (n, rows, columns), lung-masked when `lung` is given."""
        return preprocessing.pattern_probability(self.softmax(preprocessing.preprocess(hu_slices, lung=lung)))


# ---------------------------------------------------------------- one per model version per process


def inferer(model_version) -> Inferer:
    """The model version's inferer, built on first use in this process and kept."""
    with _lock:  # one load per version even when several threads ask at once
        loaded = _inferers.get(model_version.pk)
        if loaded is None:
            _configure_tensorflow()
            from . import unet

            model = unet.build_unet(model_version.variant)
            model.load_weights(model_version.weights_file.path)
            loaded = Inferer(model)
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
