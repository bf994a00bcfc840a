"""The worker's choice among ways to run the U-Net (inference/runtime.py): a path is used only if it gives
the Keras model's output within 1e-5, the fastest such path is taken, a path that cannot be built
never stops the worker, and the choice is kept on disk per model, processor and library versions."""

from __future__ import annotations

import time

import numpy as np
import pytest


@pytest.fixture(scope="module")
def runtime():
    pytest.importorskip("tensorflow", reason="TensorFlow is not installed (pip install tensorflow-cpu)")
    from inference import runtime

    return runtime


@pytest.fixture(scope="module")
def small_model(runtime):
    """A two-class softmax convolution: enough for a graph with a Keras reference, quick to build."""
    import keras

    keras.utils.set_random_seed(11)
    inputs = keras.Input(shape=(8, 8, 1))
    hidden = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    outputs = keras.layers.Conv2D(2, 1, activation="softmax", bias_initializer="random_normal")(hidden)
    return keras.Model(inputs, outputs)


def _offset_path(offset: float):
    """A path that gives the TensorFlow path's output shifted by `offset` (a planted numerical fault)."""
    return lambda inferer: lambda batch: inferer._forward(batch).numpy() + np.float32(offset)


def _broken_path(inferer):
    raise ImportError("no module named 'onnxruntime'")


@pytest.fixture
def paths(runtime, monkeypatch):
    """Planted paths beside the real ones; `speeds` stands in for the timing (name -> slices/s)."""
    builders = dict(runtime.PATH_BUILDERS)
    builders |= {
        "exact": _offset_path(0.0),
        "within": _offset_path(5e-6),
        "off_2e-5": _offset_path(2e-5),
        "off_1e-4": _offset_path(1e-4),
        "nan": _offset_path(np.nan),
        "broken": _broken_path,
    }
    monkeypatch.setattr(runtime, "PATH_BUILDERS", builders)
    speeds: dict[str, float] = {}
    timed: list[tuple[str, ...]] = []

    def fake_speeds(runs, batch, rounds=runtime.CHOICE_ROUNDS):
        timed.append(tuple(runs))
        return {name: speeds[name] for name in runs}

    monkeypatch.setattr(runtime, "slices_per_second", fake_speeds)
    return speeds, timed


def test_a_path_off_by_more_than_1e_5_is_refused_even_when_fastest(runtime, small_model, paths) -> None:
    speeds, timed = paths
    speeds |= {"tensorflow": 10.0, "within": 20.0, "off_2e-5": 100.0, "off_1e-4": 1000.0, "nan": 5000.0}

    inferer = runtime.Inferer(small_model, paths=("tensorflow", "within", "off_2e-5", "off_1e-4", "nan"))

    assert timed == [("tensorflow", "within")]
    assert inferer.path == "within"


def test_the_fastest_equivalent_path_is_chosen_and_used(runtime, small_model, paths) -> None:
    speeds, _ = paths
    speeds |= {"tensorflow": 30.0, "exact": 10.0, "within": 20.0}
    batch = np.random.default_rng(12).random((5, 8, 8, 1), dtype=np.float32)

    assert runtime.Inferer(small_model, paths=("tensorflow", "exact", "within")).path == "tensorflow"
    speeds["within"] = 40.0
    inferer = runtime.Inferer(small_model, paths=("tensorflow", "exact", "within"), batch_size=2)

    assert inferer.path == "within"
    expected = np.asarray(small_model(batch, training=False))
    np.testing.assert_allclose(inferer.softmax(batch), expected + np.float32(5e-6), atol=1e-6)  # its output


def test_a_path_that_cannot_be_built_leaves_the_tensorflow_path(runtime, small_model, paths) -> None:
    speeds, timed = paths
    speeds |= {"tensorflow": 1.0}

    alone = runtime.Inferer(small_model, paths=("broken",))
    beside = runtime.Inferer(small_model, paths=("tensorflow", "broken", "off_1e-4"))

    assert alone.path == beside.path == "tensorflow"
    assert timed == []  # one path left: nothing to time


def test_the_choice_is_kept_on_disk_and_not_measured_again(runtime, small_model, paths, tmp_path, monkeypatch):
    speeds, timed = paths
    speeds |= {"tensorflow": 10.0, "exact": 20.0, "within": 15.0}
    candidates = ("tensorflow", "exact", "within")
    first = runtime.Inferer(small_model, paths=candidates, choice_cache=tmp_path / "unet-paths")
    built = []
    builders = dict(runtime.PATH_BUILDERS)
    monkeypatch.setitem(runtime.PATH_BUILDERS, "within", lambda inferer: built.append("within"))

    second = runtime.Inferer(small_model, paths=candidates, choice_cache=tmp_path / "unet-paths")

    assert first.path == second.path == "exact"
    assert len(timed) == 1 and second.path_speeds == {}
    assert built == []  # a restarted worker builds the chosen path only
    monkeypatch.setitem(runtime.PATH_BUILDERS, "within", builders["within"])
    other_processor = dict(runtime.cpu_features(), flags=["fma", "avx", "avx2"])
    monkeypatch.setattr(runtime, "cpu_features", lambda: other_processor)
    speeds["within"] = 50.0

    assert runtime.Inferer(small_model, paths=candidates, choice_cache=tmp_path / "unet-paths").path == "within"
    assert len(timed) == 2  # other kernels, other choice


def test_other_weights_or_library_versions_make_another_key(runtime, small_model) -> None:
    import keras

    key = runtime.choice_key(small_model, runtime.PATHS, 32)
    other = keras.models.clone_model(small_model)
    other.set_weights([weight * 1.5 for weight in small_model.get_weights()])

    assert runtime.choice_key(small_model, runtime.PATHS, 32) == key
    assert runtime.choice_key(other, runtime.PATHS, 32)["weights"] != key["weights"]
    assert runtime.choice_key(small_model, runtime.PATHS, 16) != key
    assert key["rewrite"] == runtime.REWRITE_REVISION  # graphs changed since: measured again
    assert {"tensorflow", "onnxruntime"} <= key["versions"].keys()
    assert key["cpu"]["flags"] == [flag for flag in runtime.KERNEL_FLAGS if flag in key["cpu"]["flags"]]


def test_a_torn_cache_file_is_measured_again(runtime, small_model, paths, tmp_path) -> None:
    speeds, timed = paths
    speeds |= {"tensorflow": 10.0, "exact": 20.0}
    runtime.Inferer(small_model, paths=("tensorflow", "exact"), choice_cache=tmp_path / "unet-paths")
    (cache_file,) = (tmp_path / "unet-paths").iterdir()
    cache_file.write_text('{"key": ')  # a worker killed mid-write on a file system without atomic rename

    torn = runtime.Inferer(small_model, paths=("tensorflow", "exact"), choice_cache=tmp_path / "unet-paths")

    assert torn.path == "exact"
    assert len(timed) == 2
    assert '"path": "exact"' in cache_file.read_text()


def test_a_cached_choice_is_checked_again_before_use(runtime, small_model, paths, tmp_path, monkeypatch) -> None:
    speeds, timed = paths
    speeds |= {"tensorflow": 10.0, "exact": 20.0}
    runtime.Inferer(small_model, paths=("tensorflow", "exact"), choice_cache=tmp_path / "unet-paths")
    monkeypatch.setitem(runtime.PATH_BUILDERS, "exact", _offset_path(1e-4))  # e.g. a library upgrade gone wrong

    inferer = runtime.Inferer(small_model, paths=("tensorflow", "exact"), choice_cache=tmp_path / "unet-paths")

    assert inferer.path == "tensorflow"
    assert len(timed) == 1  # measured once; the second start found one path left, nothing to time


def test_slices_per_second_interleaves_the_paths_and_takes_medians(runtime) -> None:
    calls = []

    def path(name: str, seconds: float):
        return lambda batch: calls.append(name) or time.sleep(seconds)

    speeds = runtime.slices_per_second(
        {"slow": path("slow", 0.02), "fast": path("fast", 0.005)}, np.zeros((4, 2)), rounds=3
    )

    assert calls == ["slow", "fast"] * 4  # one warm-up each, then round by round
    assert speeds["fast"] > 2 * speeds["slow"]
    assert 4 / 0.02 / 2 < speeds["slow"] <= 4 / 0.02


@pytest.mark.parametrize("path", ["onnxruntime", "tensorflow-sub-pixel"])
def test_each_other_path_gives_the_keras_output_within_1e_5(runtime, path: str) -> None:
    if path == "onnxruntime":
        pytest.importorskip("onnxruntime", reason="ONNX Runtime is not installed (pip install onnxruntime tf2onnx)")
    import keras

    from inference import unet

    keras.utils.set_random_seed(13)
    model = unet.build_unet("table2")
    batch = np.random.default_rng(14).random((5, 128, 128, 1), dtype=np.float32)

    inferer = runtime.Inferer(model, batch_size=2, paths=(path,))  # two full batches, one short

    assert inferer.path == path
    assert np.abs(inferer.softmax(batch) - model.predict(batch, verbose=0)).max() <= 1e-5
