"""The worker's U-Net runtime (needs TensorFlow; skipped without it): the fast inference path gives the
Keras model's output, and each model version is loaded once per process."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import numpy as np
import pytest

from inference.preprocessing import binarize, preprocess

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def tf_modules():
    pytest.importorskip("tensorflow", reason="TensorFlow is not installed (pip install tensorflow-cpu)")
    from inference import runtime, unet

    return runtime, unet


def _with_batch_norm_statistics(model, seed: int = 0):
    """Moving statistics away from their defaults (mean 0, variance 1), as a trained model has them."""
    from keras import layers

    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            shape = layer.gamma.shape
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, shape).astype(np.float32),
                    rng.normal(0.0, 0.1, shape).astype(np.float32),
                    rng.normal(0.0, 0.1, shape).astype(np.float32),
                    rng.uniform(0.5, 2.0, shape).astype(np.float32),
                ]
            )
    return model


@pytest.fixture(scope="module")
def table2_model(tf_modules):
    import keras

    _, unet = tf_modules
    keras.utils.set_random_seed(0)
    return _with_batch_norm_statistics(unet.build_unet("table2"))


def _hu_slices(count: int) -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.integers(-1024, 300, size=(count, 192, 192)).astype(np.int16)


def test_production_path_equals_keras_predict(tf_modules, table2_model) -> None:
    runtime, _ = tf_modules
    inferer = runtime.Inferer(table2_model, batch_size=2)  # 5 slices: two full batches and a short one
    assert inferer.rewritten_layers > 0, "the fast path fell back to the Keras model"
    hu = _hu_slices(5)

    expected = table2_model.predict(preprocess(hu), batch_size=32, verbose=0)[..., 1]
    actual = inferer.probability(hu)

    assert actual.shape == (5, 128, 128)
    assert actual.dtype == np.float32
    assert np.abs(actual - expected).max() <= TOLERANCE
    near_threshold = np.abs(expected - 0.5) <= TOLERANCE
    assert np.array_equal(binarize(actual, 0.5)[~near_threshold], binarize(expected, 0.5)[~near_threshold])


@pytest.mark.parametrize(("variant", "upsampling"), [("text", "upsample"), ("table2", "transpose")])
def test_inference_copy_matches_other_variants(tf_modules, variant: str, upsampling: str) -> None:
    runtime, unet = tf_modules
    model = _with_batch_norm_statistics(unet.build_unet(variant, upsampling), seed=2)
    batch = preprocess(_hu_slices(2))

    inferer = runtime.Inferer(model)

    assert inferer.rewritten_layers > 0
    assert np.abs(inferer.softmax(batch) - np.asarray(model(batch, training=False))).max() <= TOLERANCE


@pytest.mark.parametrize("form", ["transposed", "sub-pixel"])
@pytest.mark.parametrize("kernel_size", [1, 2, 3, 4, 5, (3, 2), (3, 5)])
def test_upsampled_convolution_is_computed_exactly_at_the_input_resolution(tf_modules, kernel_size, form) -> None:
    """Nearest 2x up-sampling + 'same' convolution of any kernel, odd and even sizes alike, in both forms."""
    import keras

    runtime, _ = tf_modules
    keras.utils.set_random_seed(3)
    inputs = keras.Input(shape=(5, 6, 3))
    upsampled = keras.layers.UpSampling2D(2)(inputs)
    outputs = keras.layers.Conv2D(4, kernel_size, padding="same", activation="relu", bias_initializer="random_normal")(
        upsampled
    )
    model = keras.Model(inputs, outputs)
    batch = np.random.default_rng(4).normal(size=(2, 5, 6, 3)).astype(np.float32)

    copy, rewritten = runtime.inference_model(model, form)

    assert rewritten == 1
    assert np.abs(np.asarray(copy(batch)) - np.asarray(model(batch))).max() <= 1e-5


def _upsampled_convolution_by_numpy(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """(rows, columns, c) image, (k, l, c, f) kernel: nearest 2x up-sampling, then a stride-1 'same'
    correlation as TensorFlow pads it ((k - 1) // 2 before), straight from the definitions."""
    upsampled = image.repeat(2, axis=0).repeat(2, axis=1)
    kernel_rows, kernel_columns = kernel.shape[:2]
    padded = np.pad(
        upsampled,
        [((kernel_rows - 1) // 2, kernel_rows // 2), ((kernel_columns - 1) // 2, kernel_columns // 2), (0, 0)],
    )
    rows, columns = upsampled.shape[:2]
    output = np.zeros((rows, columns, kernel.shape[3]))
    for t in range(kernel_rows):
        for u in range(kernel_columns):
            output += padded[t : t + rows, u : u + columns] @ kernel[t, u]
    return output


@pytest.mark.parametrize("kernel_size", [(1, 1), (3, 3), (5, 5), (3, 5)])
def test_transposed_kernel_gives_the_upsampled_convolution(tf_modules, kernel_size) -> None:
    """One stride-2 transposed convolution with the derived kernel equals up-sampling + convolution,
    checked against numpy (not against the Keras layers the rewrite replaces)."""
    import tensorflow as tf

    runtime, _ = tf_modules
    rng = np.random.default_rng(9)
    image = rng.normal(size=(7, 6, 3))
    kernel = rng.normal(size=(*kernel_size, 3, 4))

    transposed = tf.nn.conv2d_transpose(
        image[None].astype(np.float32),
        runtime._transposed_kernel(kernel).astype(np.float32),
        [1, 14, 12, 4],
        strides=2,
        padding="SAME",
    )

    np.testing.assert_allclose(np.asarray(transposed)[0], _upsampled_convolution_by_numpy(image, kernel), atol=1e-4)


def _concatenating_model(n_inputs: int, read_twice: bool = False):
    """Inputs through their own convolutions, concatenated, then a 3x3 convolution + batch norm + ReLU
    (the U-Net decoder's pattern); `read_twice`: the concatenation also feeds a second convolution."""
    import keras

    keras.utils.set_random_seed(10)
    inputs = keras.Input(shape=(6, 7, 2))
    branches = [
        keras.layers.Conv2D(3 + index, 1, activation="relu", bias_initializer="random_normal")(inputs)
        for index in range(n_inputs)
    ]
    concatenated = keras.layers.Concatenate()(branches)
    x = keras.layers.Conv2D(5, 3, padding="same", bias_initializer="random_normal")(concatenated)
    x = keras.layers.Activation("relu")(keras.layers.BatchNormalization()(x))
    outputs = [x, keras.layers.Conv2D(2, 1)(concatenated)] if read_twice else x
    return _with_batch_norm_statistics(keras.Model(inputs, outputs), seed=11)


def _op_types(forward) -> list[str]:
    """Op types of a `tf.function`'s graph for a (None, ...) float32 input, as traced (before Grappler)."""
    return [operation.type for operation in forward.get_concrete_function().graph.get_operations()]


def _traced(model):
    import tensorflow as tf

    spec = tf.TensorSpec((None, *model.input_shape[1:]), tf.float32)
    return tf.function(lambda batch: model(batch, training=False), input_signature=[spec])


@pytest.mark.parametrize("n_inputs", [2, 3])
def test_skip_concatenation_is_computed_as_summed_convolutions(tf_modules, n_inputs: int) -> None:
    runtime, _ = tf_modules
    model = _concatenating_model(n_inputs)
    batch = np.random.default_rng(12).normal(size=(2, 6, 7, 2)).astype(np.float32)

    copy, rewritten = runtime.inference_model(model)

    assert rewritten == 2  # the batch norm folded, the concatenation split
    assert "ConcatV2" not in _op_types(_traced(copy))
    assert np.abs(np.asarray(copy(batch)) - np.asarray(model(batch))).max() <= 1e-5


def test_concatenation_read_twice_or_in_the_sub_pixel_form_is_kept(tf_modules) -> None:
    runtime, _ = tf_modules
    batch = np.random.default_rng(13).normal(size=(2, 6, 7, 2)).astype(np.float32)
    for model, form in (
        (_concatenating_model(2, read_twice=True), "transposed"),
        (_concatenating_model(2), "sub-pixel"),
    ):
        copy, rewritten = runtime.inference_model(model, form)

        assert rewritten == 1  # the batch norm only
        assert "ConcatV2" in _op_types(_traced(copy))
        expected, actual = model(batch), copy(batch)
        for want, got in zip(
            expected if isinstance(expected, list) else [expected],
            actual if isinstance(actual, list) else [actual],
            strict=True,
        ):
            assert np.abs(np.asarray(got) - np.asarray(want)).max() <= 1e-5


def test_tensorflow_path_writes_no_interleaved_or_concatenated_copies(tf_modules, table2_model) -> None:
    """The table2 U-Net's four up-samplings run as transposed convolutions, with no depth_to_space (nor
    its crop) or concatenation; where TensorFlow runs oneDNN, each split concatenation's sum and ReLU are fused
    into its last convolution (no AddN op left to run)."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    runtime, _ = tf_modules
    inferer = runtime.Inferer(table2_model)
    traced = _op_types(inferer.forward_function())
    sub_pixel = _op_types(inferer.forward_function("sub-pixel"))

    assert traced.count("Conv2DBackpropInput") == 4
    assert "DepthToSpace" not in traced and "ConcatV2" not in traced
    assert sub_pixel.count("DepthToSpace") == 4 and sub_pixel.count("ConcatV2") == 4

    frozen = convert_variables_to_constants_v2(inferer.forward_function().get_concrete_function())
    graph = tf.Graph()
    with graph.as_default():
        tf.import_graph_def(frozen.graph.as_graph_def(), name="")
    metadata = tf.compat.v1.RunMetadata()
    with tf.compat.v1.Session(graph=graph) as session:
        session.run(
            frozen.outputs[0].name,
            {frozen.inputs[0].name: np.zeros((1, 128, 128, 1), np.float32)},
            options=tf.compat.v1.RunOptions(output_partition_graphs=True),
            run_metadata=metadata,
        )
    nodes = [node for partition in metadata.partition_graphs for node in partition.node]
    if not any(node.op.startswith("_Mkl") for node in nodes):
        pytest.skip("this TensorFlow runs without oneDNN: nothing is fused")
    assert not [node.name for node in nodes if node.op == "AddN"]
    fused_sums = [node for node in nodes if b"Add" in node.attr["fused_ops"].list.s]
    assert len(fused_sums) == 4


@pytest.mark.parametrize("use_bias", [True, False])
def test_two_class_softmax_is_computed_as_sigmoids(tf_modules, use_bias: bool) -> None:
    import keras

    runtime, _ = tf_modules
    keras.utils.set_random_seed(5)
    inputs = keras.Input(shape=(8, 8, 3))
    outputs = keras.layers.Conv2D(2, 1, activation="softmax", use_bias=use_bias, bias_initializer="random_normal")(
        inputs
    )
    model = keras.Model(inputs, outputs)
    batch = np.random.default_rng(6).normal(0.0, 4.0, size=(2, 8, 8, 3)).astype(np.float32)

    inferer = runtime.Inferer(model)

    assert inferer.rewritten_layers == 1
    assert np.abs(inferer.softmax(batch) - np.asarray(model(batch))).max() <= 1e-6


def test_up_sampling_before_a_softmax_convolution_is_left_as_it_is(tf_modules) -> None:
    """Softmax works across channels, so it cannot run before the parities are interleaved."""
    import keras

    runtime, _ = tf_modules
    keras.utils.set_random_seed(7)
    inputs = keras.Input(shape=(4, 4, 3))
    outputs = keras.layers.Conv2D(2, 3, padding="same", activation="softmax")(keras.layers.UpSampling2D(2)(inputs))
    model = keras.Model(inputs, outputs)
    batch = np.random.default_rng(8).normal(0.0, 4.0, size=(2, 4, 4, 3)).astype(np.float32)

    inferer = runtime.Inferer(model)

    assert inferer.rewritten_layers == 1  # the softmax as sigmoids; the up-sampling stays
    assert np.abs(inferer.softmax(batch) - np.asarray(model(batch))).max() <= 1e-6


def test_inferer_falls_back_to_the_keras_model_when_the_copy_differs(tf_modules, table2_model, monkeypatch) -> None:
    runtime, _ = tf_modules
    monkeypatch.setattr(runtime, "EQUIVALENCE_TOLERANCE", -1.0)  # no copy can pass this check

    inferer = runtime.Inferer(table2_model)

    assert inferer.model is table2_model
    assert inferer.rewritten_layers == 0


def test_no_slices_give_an_empty_probability(tf_modules, table2_model) -> None:
    runtime, _ = tf_modules
    probability = runtime.Inferer(table2_model).probability(np.zeros((0, 64, 64), dtype=np.int16))
    assert probability.shape == (0, 128, 128)


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # inside Keras's save_weights
def test_model_version_is_loaded_once_per_process(tf_modules, table2_model, tmp_path, monkeypatch) -> None:
    runtime, unet = tf_modules
    weights = tmp_path / "reticulation.weights.h5"
    table2_model.save_weights(weights)
    version = SimpleNamespace(
        pk=987, variant="table2", weights_file=SimpleNamespace(path=str(weights)), training_run={}
    )
    builds = []
    build_unet = unet.build_unet
    monkeypatch.setattr(unet, "build_unet", lambda variant: builds.append(variant) or build_unet(variant))
    monkeypatch.setattr(runtime, "_inferers", {})

    # Two threads asking at once for a version not loaded yet still load it once.
    results = []
    threads = [threading.Thread(target=lambda: results.append(runtime.inferer(version))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    first = runtime.predict_probability(version, _hu_slices(1))
    second = runtime.predict_probability(version, _hu_slices(1))

    assert builds == ["table2"]
    assert results[0] is results[1] is runtime.inferer(version)
    assert runtime.keras_model(version) is results[0].keras_model
    assert np.array_equal(first, second)


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_a_version_trained_on_lung_masked_inputs_gets_its_inputs_masked_the_same_way(tf_modules, monkeypatch, tmp_path):
    runtime, unet = tf_modules
    weights = tmp_path / "masked.weights.h5"
    unet.build_unet("table2").save_weights(weights)
    monkeypatch.setattr(runtime, "_inferers", {})
    masked = SimpleNamespace(pk=988, variant="table2", weights_file=SimpleNamespace(path=str(weights)),
                             training_run={"lung_masked": True})  # fmt: skip
    plain = SimpleNamespace(pk=989, variant="table2", weights_file=masked.weights_file, training_run={})
    hu = _hu_slices(2)
    lung = np.zeros(hu.shape, bool)
    lung[:, 10:50, 8:40] = True
    with pytest.raises(ValueError, match="lung-masked"):
        runtime.predict_probability(masked, hu)
    model = runtime.keras_model(masked)
    by_hand = model.predict(preprocess(hu, lung=lung), verbose=0)[..., 1]
    np.testing.assert_allclose(runtime.predict_probability(masked, hu, lung=lung), by_hand, atol=2e-5)
    unmasked = model.predict(preprocess(hu), verbose=0)[..., 1]
    np.testing.assert_allclose(runtime.predict_probability(plain, hu, lung=lung), unmasked, atol=2e-5)
    assert not np.allclose(by_hand, unmasked, atol=1e-3), "masking changes what the model sees"
