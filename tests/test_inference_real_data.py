"""Lung masks on the real RICORD series: volume and QC are reported, dense pathology is not lost, and
the model path counts in the same lung region as the reader path."""

from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage.morphology import convex_hull_image

from ildplatform import jobs, services
from ildplatform.dicom_import import read_sources
from ildplatform.labels import GGO
from ildplatform.models import Job, Series
from ildplatform.selectors import series_hu_volume
from inference import selectors
from inference import services as inference_services
from inference.lungmask import dense_pathology_candidates, lung_mask
from inference.models import Involvement

from .lung_reference import reference_lungs

pytestmark = pytest.mark.realdata


def import_ricord(shared_data: Path) -> Series:
    sources, _ = read_sources([shared_data / "ricord-1a-chest-series"], services.archive_limits())
    report = services.series_import(sources=sources)
    return Series.objects.get(pk=report.series[0].series_id)


def run_jobs(series: Series, kind: str) -> None:
    for job in Job.objects.filter(series=series, kind=kind, state=Job.State.QUEUED):
        jobs.job_run(job_id=job.pk)  # the worker's code, called in-process
        job.refresh_from_db()
        assert job.state == Job.State.DONE, job.error


def enclosed_by_lung(lung: np.ndarray) -> np.ndarray:
    """Inside the convex outline of the left or the right half of the lung mask."""
    enclosed = np.zeros_like(lung)
    middle = lung.shape[1] // 2
    for half in (np.s_[:, :middle], np.s_[:, middle:]):
        if lung[half].sum() > 500:
            enclosed[half] = convex_hull_image(lung[half])
    return enclosed


@pytest.mark.django_db
def test_ricord_reports_lung_volume_and_qc_and_keeps_the_dense_abnormality(shared_data, settings):
    settings.LUNG_METHOD = "mader2d"  # the paper's 2-D mask, which drops dense pathology and takes the stomach
    series = import_ricord(shared_data)
    run_jobs(series, "lung_masks")

    summary = selectors.series_lung_summary(series_id=series.pk)
    assert summary["complete"]
    assert 2500 < summary["lung_volume_ml"] < 9000
    assert 0.005 < summary["dense_missed_fraction"] < 0.5

    volume = series_hu_volume(series)
    lungs = inference_services.series_lung_volume(series)
    # Non-lung air against an independent reference (per-lung envelopes, stomach removed by position):
    # the QC figure finds most of the gas the mask took that is no lung, and flags the series.
    pixel_mm = series.pixel_spacing_row
    reference, air_in_body, _ = reference_lungs(volume, pixel_mm)
    voxel_ml = pixel_mm * series.pixel_spacing_column * series.slice_spacing / 1000
    non_lung_air_ml = np.count_nonzero(lungs & air_in_body & ~reference) * voxel_ml
    assert non_lung_air_ml > 150, "the stomach under the left base is in the paper's mask (the reason for the QC)"
    assert 0.7 * non_lung_air_ml < summary["non_lung_air_ml"] <= 1.05 * non_lung_air_ml
    assert summary["non_lung_air_flag"] and summary["qc_flag"]
    # The slice where the mask left out the most dense lung, found by the QC counts...
    z = series.slices.order_by("-lung_mask__dense_missed_pixels").first().z_index
    # ...and the lesion there by an independent definition of "enclosed by lung".
    dense = (volume[z] > -750) & (volume[z] < -100) & enclosed_by_lung(lungs[z]) & ~lungs[z]
    components, _ = ndi.label(ndi.binary_opening(dense, structure=np.ones((3, 3))))
    lesion = components == np.argmax(np.bincount(components.ravel())[1:]) + 1  # the largest dense blob
    assert lesion.sum() > 500, "the series' dense consolidation must be there for this test"
    assert not (lesion & lungs[z]).any(), "the raw mask drops it (the reason for the guard)"

    # A reader marks the lesion as GGO: involvement must count it, in numerator and denominator.
    labels = np.zeros(volume.shape, dtype=np.uint8)
    labels[z][lesion] = 2
    row = inference_services.involvement_store(series=series, source="reader_1", labels=labels)
    assert row.ggo_ml >= 0.95 * lesion.sum() * voxel_ml  # all but specks cut off from the lung
    assert row.lung_volume_ml == pytest.approx(summary["lung_volume_ml"] + row.ggo_ml, rel=1e-6)
    assert row.qc_missed_fraction == pytest.approx(1.0)
    assert dense_pathology_candidates(volume[z], lungs[z])[lesion].mean() > 0.9


def dense_lung_marking_weights(path: Path) -> Path:
    """Weights that make the table2 U-Net a model that marks the dense lung: GGO wherever the lung-
    windowed input (a 4 x 4 block mean) lies between -750 and -100 HU. The first encoder level computes
    two ramps from ReLUs, the skip connection carries them to the last decoder level, which takes
    their difference (1 inside the band, 0 outside); every other path is zero."""
    import keras

    from inference import preprocessing, unet

    keras.utils.set_random_seed(3)
    model = unet.build_unet("table2")
    for layer in model.layers:
        layer.set_weights([np.zeros_like(weight) for weight in layer.get_weights()])
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):  # identity: gamma 1, variance 1 - epsilon
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights([np.ones_like(gamma), beta, mean, np.full_like(variance, 1 - layer.epsilon)])
    low, high = preprocessing.lung_window(np.array([-750.0, -100.0])).tolist()
    steep = 1000.0
    kernel, bias = model.get_layer("enc1_conv1").get_weights()
    for channel, edge, shift in ((0, low, 0.0), (1, low, 1.0), (2, high, 0.0), (3, high, 1.0)):
        kernel[1, 1, 0, channel] = steep  # relu(steep * (x - edge) - shift): ramps of height 1
        bias[channel] = -steep * edge - shift
    model.get_layer("enc1_conv1").set_weights([kernel, bias])
    kernel, bias = model.get_layer("dec4_conv1").get_weights()
    skip = kernel.shape[2] // 2  # the concatenation puts the up-sampled branch first, the skip after it
    kernel[1, 1, skip : skip + 4, 0] = (1.0, -1.0, -1.0, 1.0)  # band = ramp(low) - ramp(high)
    model.get_layer("dec4_conv1").set_weights([kernel, bias])
    kernel, bias = model.get_layer("output").get_weights()
    kernel[0, 0, 0, 1], bias[0] = 20.0, 10.0  # softmax: pattern when band > 0.5
    model.get_layer("output").set_weights([kernel, bias])
    model.save_weights(path)
    return path


@pytest.mark.django_db
def test_ricord_lung3d_and_the_model_path_count_in_the_readers_region(shared_data, media_root, tmp_path):
    series = import_ricord(shared_data)
    run_jobs(series, "lung_masks")
    summary = selectors.series_lung_summary(series_id=series.pk)
    assert summary["method"] == "lung3d" and summary["complete"]
    assert summary["non_lung_air_fraction"] < 0.01 and not summary["non_lung_air_flag"]
    assert summary["dense_missed_fraction"] < 0.05 and not summary["qc_flag"]

    weights = dense_lung_marking_weights(tmp_path / "dense.weights.h5")
    model = inference_services.model_register(weights=weights, task="ggo", threshold=0.5)
    inference_services.inference_schedule(series=series, task="ggo")
    run_jobs(series, "inference")
    predicted = inference_services.series_prediction_volume(series, model.pk) == GGO
    volume = series_hu_volume(series)
    region = inference_services.series_lung_volume(series)
    assert not (predicted & ~region).any(), "the model's marks are kept inside the lung region"
    dense = region & (volume > -750) & (volume < -100)
    assert np.count_nonzero(predicted & dense) > 0.5 * np.count_nonzero(dense), "the model marks the dense lung"
    raw = np.stack([lung_mask(section, (series.pixel_spacing_row, series.pixel_spacing_column)) for section in volume])
    kept_outside_raw = np.count_nonzero(predicted & ~raw)
    assert kept_outside_raw > 0.2 * np.count_nonzero(predicted), "dense lung the paper's raw mask drops is counted"

    # The same labels by the reader path: the same involvement, and Eq. 1 by hand on the region.
    reader = inference_services.involvement_store(series=series, source="reader_1", labels=predicted * np.uint8(GGO))
    by_model = Involvement.objects.get(visit=series.visit, source=model.source)
    for field in ("ggo_pct", "total_pct", "lung_volume_ml", "ggo_ml"):
        assert getattr(by_model, field) == pytest.approx(getattr(reader, field), rel=1e-9), field
    assert by_model.total_pct == pytest.approx(100 * np.count_nonzero(predicted) / np.count_nonzero(region), rel=1e-6)
    assert by_model.lung_method == reader.lung_method == "lung3d"
