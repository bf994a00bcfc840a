"""The U-Net (needs TensorFlow; skipped without it) and its input/output processing (numpy only)."""

from __future__ import annotations

import numpy as np
import pytest

from inference.preprocessing import binarize, lung_window, pattern_probability, postprocess, preprocess


@pytest.fixture(scope="module")
def unet():
    pytest.importorskip("tensorflow", reason="TensorFlow is not installed (pip install tensorflow-cpu)")
    from inference import unet as module

    return module


def test_table2_variant_has_the_papers_parameter_counts(unet) -> None:
    counts = unet.summary_counts("table2")
    assert counts["total"] == 4_708_354
    assert counts["transfer_trainable"] == 184_770
    assert counts["transfer_non_trainable"] == 4_523_584
    # Before freezing only the batch norm moving statistics are non-trainable.
    assert counts["trainable"] + counts["non_trainable"] == counts["total"]
    assert counts["non_trainable"] == 2 * (32 + 64 + 128 + 256 + 512 + 256 + 128 + 64 + 32)
    assert unet.summary_counts() == counts  # table2 is the default


def test_text_variant_has_about_7_77_million_parameters(unet) -> None:
    counts = unet.summary_counts("text")
    assert counts["total"] == unet.EXPECTED_COUNTS["text"]["total"]
    assert round(counts["total"] / 1e6, 2) == 7.77


@pytest.mark.parametrize("variant", ["table2", "text"])
def test_transpose_upsampling_has_the_same_parameter_count(unet, variant: str) -> None:
    default = unet.parameter_counts(unet.build_unet(variant, "upsample"))
    transpose = unet.parameter_counts(unet.build_unet(variant, "transpose"))
    assert transpose == default


def test_transfer_freezes_everything_up_to_the_second_decoder_level(unet) -> None:
    model = unet.freeze_for_transfer(unet.build_unet("table2"))
    trainable = {layer.name for layer in model.layers if layer.trainable and layer.weights}
    frozen = {layer.name for layer in model.layers if not layer.trainable and layer.weights}
    assert {"enc1_conv1", "bottleneck_bn1", "dec1_upconv", "dec2_upconv", "dec2_conv1", "dec2_bn1"} <= frozen
    assert trainable == {"dec3_upconv", "dec3_conv1", "dec3_bn1", "dec4_upconv", "dec4_conv1", "dec4_bn1", "output"}
    assert unet.parameter_counts(model) == {"total": 4_708_354, "trainable": 184_770, "non_trainable": 4_523_584}


def test_unet_maps_a_preprocessed_batch_to_a_two_class_softmax(unet) -> None:
    rng = np.random.default_rng(0)
    hu = rng.integers(-1024, 400, size=(3, 256, 256)).astype(np.int16)
    batch = preprocess(hu)
    for variant in ("table2", "text"):
        model = unet.build_unet(variant)
        output = np.asarray(model(batch, training=False))
        assert output.shape == (3, 128, 128, 2)
        assert output.dtype == np.float32
        np.testing.assert_allclose(output.sum(axis=-1), 1.0, atol=1e-5)
        assert pattern_probability(output).shape == (3, 128, 128)


def test_unknown_variant_or_upsampling_is_refused(unet) -> None:
    with pytest.raises(ValueError, match="variant"):
        unet.build_unet("resnet")
    with pytest.raises(ValueError, match="upsampling"):
        unet.build_unet("table2", "bicubic")


# ----------------------------------------------------------------------------------------------
# Input and output processing (no TensorFlow needed)


def test_lung_window_maps_minus_1350_to_150_hu_onto_0_to_1() -> None:
    hu = np.array([-3024, -1350, -600, 150, 3071], dtype=np.int16)
    np.testing.assert_allclose(lung_window(hu), [0.0, 0.0, 0.5, 1.0, 1.0])
    assert lung_window(hu).dtype == np.float32


def test_preprocess_gives_a_float32_batch_of_128_by_128() -> None:
    rng = np.random.default_rng(1)
    hu = rng.integers(-1100, 200, size=(2, 512, 512)).astype(np.int16)
    batch = preprocess(hu)
    assert batch.shape == (2, 128, 128, 1) and batch.dtype == np.float32
    assert 0.0 <= batch.min() and batch.max() <= 1.0
    # 512 -> 128 is a 4 x 4 block mean of the windowed image.
    expected = lung_window(hu).reshape(2, 128, 4, 128, 4).mean(axis=(2, 4))
    np.testing.assert_allclose(batch[..., 0], expected, atol=1e-6)
    assert preprocess(hu[0]).shape == (1, 128, 128, 1)


def test_postprocess_resizes_the_probability_before_thresholding() -> None:
    probability = np.zeros((1, 128, 128), dtype=np.float32)
    probability[:, :, 64:] = 1.0
    mask = postprocess(probability, 0.5, (512, 512))
    assert mask.shape == (1, 512, 512) and mask.dtype == bool
    # The 0.5 crossing lies halfway between coarse columns 63 and 64, i.e. at native column 255.5.
    assert not mask[0, :, :256].any() and mask[0, :, 256:].all()
    # A single confident coarse pixel becomes a smooth blob, not a 4 x 4 square.
    probability = np.zeros((1, 128, 128), dtype=np.float32)
    probability[0, 60, 60] = 1.0
    blob = postprocess(probability, 0.5, (512, 512))[0]
    assert 0 < blob.sum() < 4 * 4 * 2


def test_postprocess_keeps_only_the_lung_region() -> None:
    probability = np.ones((2, 128, 128), dtype=np.float32)
    region = np.zeros((2, 256, 256), dtype=bool)
    region[0, 10:20, 10:20] = True
    mask = postprocess(probability, 0.3, (256, 256), region=region)
    assert np.array_equal(mask, region)
    with pytest.raises(ValueError):
        postprocess(probability, 0.3, (256, 256), region=region[:1])


def test_binarize_is_inclusive_so_threshold_one_keeps_saturated_pixels() -> None:
    probability = np.array([0.49, 0.5, 1.0], dtype=np.float32)
    assert binarize(probability, 0.5).tolist() == [False, True, True]
    assert binarize(probability, 1.0).tolist() == [False, False, True]


def test_tensorfloat32_is_off_once_the_unet_is_imported():
    tf = pytest.importorskip("tensorflow")
    import inference.unet  # noqa: F401  (switches it off on import)

    assert not tf.config.experimental.tensor_float_32_execution_enabled()


@pytest.mark.parametrize("shape", [(512, 512), (256, 384), (300, 260)])
def test_local_mean_equals_skimage_resize_local_mean(shape) -> None:
    # The block sums of whole multiples and skimage's weight matrix give the same means (float32 rounding).
    from skimage.transform import resize_local_mean

    from inference.preprocessing import local_mean

    slices = np.random.default_rng(3).random((5, *shape), dtype=np.float32)
    expected = resize_local_mean(slices, (5, 128, 128))
    np.testing.assert_allclose(local_mean(slices, 128), expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("native", [(512, 512), (300, 260), (100, 90)])
def test_postprocess_interpolates_as_skimage_bilinear_resize(native) -> None:
    # skimage.transform.resize(order=1, mode="edge") is the definition; thresholds agree pixel for pixel
    # except where skimage's value lies within float32 rounding of the threshold.
    from skimage.transform import resize

    probability = np.random.default_rng(4).random((20, 128, 128), dtype=np.float32)
    expected = np.stack(
        [resize(p, native, order=1, mode="edge", anti_aliasing=False, preserve_range=True) for p in probability]
    )
    mask = postprocess(probability, 0.5, native)
    differs = mask != (expected >= 0.5)
    assert not (differs & (np.abs(expected - 0.5) > 1e-6)).any()
    assert differs.sum() <= 2
