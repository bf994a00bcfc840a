"""The paper's U-Net (Keras 3 on TensorFlow): 128 x 128 x 1 in, two-class softmax out.

Two named variants:

- ``table2`` (default) reproduces the paper's Table 2 counts exactly: 4,708,354 parameters; after
  `freeze_for_transfer`, 184,770 trainable and 4,523,584 non-trainable. Encoder levels 32, 64,
  128, 256 and a 512 bottleneck, each one 3x3 conv + batch norm + ReLU (then 2x2 max pooling);
  decoder levels 256, 128, 64, 32, each UpSampling2D, a 3x3 conv halving the channels + ReLU,
  concatenation with the skip, one 3x3 conv + batch norm + ReLU; a 1x1 conv to 2 classes, softmax.
- ``text`` is what the paper's prose describes, two convolutions per block, with the original U-Net's
  2x2 up-convolution ("up-sampling followed by a 2x2 convolution that halves the channels",
  Ronneberger et al. 2015) and batch norm where ``table2`` has it: 7,771,330 parameters ("about
  7.77 M"). With 3x3 up-convolutions it would be 8.64 M, which matches neither the prose nor Table 2.

Layer names carry the level: ``enc1`` (32) .. ``enc4`` (256), ``bottleneck``, ``dec1`` (256, the
first decoder level after the bottleneck) .. ``dec4`` (32), ``output``. The GGO transfer model freezes
everything up to and including ``dec2`` (the second decoder level), which is what Table 2's counts
imply; see `TRANSFER_FROZEN_LEVELS`.

Up-sampling: ``upsample`` (default) is UpSampling2D + a k x k conv; ``transpose`` is
``Conv2DTranspose(f, k, strides=2)``, which has the same parameter count (k*k*c_in*f + f) and, for
``table2``, a third fewer multiply-adds (1.82 vs 2.72 G per slice) because it convolves the
un-upsampled map. UpSampling2D + conv stays the default: it is what the paper describes, and a 3x3
transpose with stride 2 overlaps unevenly (kernel not divisible by the stride), the source of the
checkerboard artefacts that nearest up-sampling + conv avoids (Odena et al., Distill 2016).
Measured (TensorFlow 2.21 CPU, 2 shared cores, batch of 16, inference, median of 6): 0.41 s per
batch for the default, 0.30 s for the transpose (26 vs 19 ms per slice, 2.72 vs 1.82 GMAC per
slice). A 250-slice series costs about 6 s on CPU either way, small beside import and lung masking,
so the saving does not outweigh following the paper; revisit if GPU-worker throughput becomes the
limit (weights of one do not load into the other).
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
from keras import layers


def full_float32() -> None:
    """float32 is the only production precision, on GPUs too: TensorFloat-32, on by default for GPU
    matmuls and convolutions (Ampere and later) in TensorFlow and JAX, flips about 0.3 % of mask pixels,
    so a series would get other masks on another worker. Called on import: every model passes here."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_tensor_float_32_execution(False)
    elif keras.backend.backend() == "jax":
        import jax

        jax.config.update("jax_default_matmul_precision", "float32")


full_float32()

INPUT_SHAPE = (128, 128, 1)
N_CLASSES = 2
ENCODER_FILTERS = (32, 64, 128, 256)
BOTTLENECK_FILTERS = 512
UPSAMPLING_MODES = ("upsample", "transpose")

# Everything up to and including the second decoder level is frozen for the GGO transfer model.
TRANSFER_FROZEN_LEVELS = ("enc1", "enc2", "enc3", "enc4", "bottleneck", "dec1", "dec2")


@dataclass(frozen=True)
class UNetVariant:
    convs_per_block: int
    up_kernel: int  # kernel of the conv that halves the channels after up-sampling


VARIANTS: dict[str, UNetVariant] = {
    "table2": UNetVariant(convs_per_block=1, up_kernel=3),
    "text": UNetVariant(convs_per_block=2, up_kernel=2),
}

# Parameter counts the tests pin down (table2's are the paper's Table 2).
EXPECTED_COUNTS: dict[str, dict[str, int]] = {
    "table2": {"total": 4_708_354, "transfer_trainable": 184_770, "transfer_non_trainable": 4_523_584},
    "text": {"total": 7_771_330},
}


def _conv_block(x: keras.KerasTensor, filters: int, level: str, n_convs: int) -> keras.KerasTensor:
    for index in range(1, n_convs + 1):
        x = layers.Conv2D(filters, 3, padding="same", kernel_initializer="he_normal", name=f"{level}_conv{index}")(x)
        x = layers.BatchNormalization(name=f"{level}_bn{index}")(x)
        x = layers.Activation("relu", name=f"{level}_relu{index}")(x)
    return x


def build_unet(variant: str = "table2", upsampling: str = "upsample") -> keras.Model:
    """An untrained U-Net of the named variant: (n, 128, 128, 1) in 0..1 -> (n, 128, 128, 2) softmax."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown U-Net variant {variant!r}; choose one of {sorted(VARIANTS)}")
    if upsampling not in UPSAMPLING_MODES:
        raise ValueError(f"unknown upsampling {upsampling!r}; choose one of {UPSAMPLING_MODES}")
    spec = VARIANTS[variant]

    inputs = keras.Input(shape=INPUT_SHAPE, name="image")
    x = inputs
    skips = []
    for depth, filters in enumerate(ENCODER_FILTERS, start=1):
        x = _conv_block(x, filters, f"enc{depth}", spec.convs_per_block)
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"enc{depth}_pool")(x)
    x = _conv_block(x, BOTTLENECK_FILTERS, "bottleneck", spec.convs_per_block)

    for depth, (filters, skip) in enumerate(zip(reversed(ENCODER_FILTERS), reversed(skips), strict=True), start=1):
        level = f"dec{depth}"
        if upsampling == "upsample":
            x = layers.UpSampling2D(2, name=f"{level}_up")(x)
            x = layers.Conv2D(
                filters,
                spec.up_kernel,
                padding="same",
                activation="relu",
                kernel_initializer="he_normal",
                name=f"{level}_upconv",
            )(x)
        else:
            # Same parameters as UpSampling2D + conv, fewer multiply-adds; see the module docstring.
            x = layers.Conv2DTranspose(
                filters,
                spec.up_kernel,
                strides=2,
                padding="same",
                activation="relu",
                kernel_initializer="he_normal",
                name=f"{level}_upconv",
            )(x)
        x = layers.Concatenate(name=f"{level}_concat")([x, skip])
        x = _conv_block(x, filters, level, spec.convs_per_block)

    # float32 softmax even under a mixed-precision policy: probabilities are thresholded at 0.02 steps.
    outputs = layers.Conv2D(N_CLASSES, 1, activation="softmax", dtype="float32", name="output")(x)
    return keras.Model(inputs, outputs, name=f"unet_{variant}_{upsampling}")


def freeze_for_transfer(model: keras.Model) -> keras.Model:
    """Freeze the encoder, bottleneck and first two decoder levels (GGO transfer); returns the model.

    The model is changed in place. Frozen batch norm layers also run in inference mode (Keras 3), so
    the reticulation statistics are kept. Compile (again) after freezing.
    """
    for layer in model.layers:
        level = layer.name.split("_", 1)[0]
        layer.trainable = level not in TRANSFER_FROZEN_LEVELS
    return model


def _weight_count(weights: list) -> int:
    return int(sum(int(np.prod(weight.shape)) for weight in weights))


def parameter_counts(model: keras.Model) -> dict[str, int]:
    """{"total", "trainable", "non_trainable"}; batch norm moving statistics count as non-trainable."""
    trainable = _weight_count(model.trainable_weights)
    non_trainable = _weight_count(model.non_trainable_weights)
    return {"total": trainable + non_trainable, "trainable": trainable, "non_trainable": non_trainable}


def summary_counts(variant: str = "table2") -> dict[str, int]:
    """Parameter counts of a fresh model of `variant`, and of the same model frozen for transfer."""
    model = build_unet(variant)
    counts = parameter_counts(model)
    frozen = parameter_counts(freeze_for_transfer(model))
    return {
        "total": counts["total"],
        "trainable": counts["trainable"],
        "non_trainable": counts["non_trainable"],
        "transfer_trainable": frozen["trainable"],
        "transfer_non_trainable": frozen["non_trainable"],
    }
