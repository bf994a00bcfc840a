"""The lung methods in the platform: lung3d by default, the paper's mader2d on request, the method
recorded on every mask and involvement row, the series lung API and the export command."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.management import call_command

from ildplatform import jobs
from ildplatform.demo import phantoms
from ildplatform.models import Job
from ildplatform.selectors import series_hu_volume
from inference import lungs
from inference import services as inference_services
from inference.lungmask import lung_mask_reference
from inference.models import LungMask

from .test_inference_pipeline import import_phantom

SLICES = 12


@pytest.fixture
def series(db, tmp_path):
    series, _ = import_phantom(tmp_path / "phantom", seed=5, slices=SLICES)
    return series


def run_lung_job(series) -> Job:
    job = Job.objects.filter(series=series, kind="lung_masks", state=Job.State.QUEUED).latest("id")
    jobs.job_run(job_id=job.pk)  # the worker's code, called in-process
    job.refresh_from_db()
    assert job.state == Job.State.DONE, job.error
    return job


def test_mader2d_is_the_papers_algorithm_slice_by_slice_with_sides():
    series = phantoms.phantom_series(3, 0, 1, n_slices=6)
    spacing = (series.pixel_spacing, series.pixel_spacing)
    labels = lungs.lung_labels(series.hu, spacing, series.slice_spacing, lungs.MADER2D)
    for z, slice_hu in enumerate(series.hu):
        assert np.array_equal(labels[z] > 0, lung_mask_reference(slice_hu, spacing)), z
    columns = np.nonzero(labels)[2]
    middle = series.hu.shape[2] / 2
    assert (columns[labels[labels > 0] == lungs.RIGHT_LUNG] < middle).all()
    assert (columns[labels[labels > 0] == lungs.LEFT_LUNG] >= middle).all()


def test_series_lung_api_reports_the_method_and_volumes_and_recomputes_on_request(series, client_for, make_user):
    run_lung_job(series)
    admin, reader = client_for(make_user("admin")), client_for(make_user("reader"))
    url = f"/api/v1/series/{series.pk}/lung/"
    summary = reader.get(url).json()
    assert summary["method"] == "lung3d" and summary["complete"]
    assert summary["right_lung_ml"] > 100 and summary["left_lung_ml"] > 100
    assert summary["lung_volume_ml"] == pytest.approx(summary["right_lung_ml"] + summary["left_lung_ml"])
    assert summary["lung_slices"] == [0, SLICES - 1] and summary["qc_flag"] is False
    assert set(LungMask.objects.filter(slice__series=series).values_list("algorithm", flat=True)) == {
        lungs.method_with_parameters("lung3d")
    }

    assert reader.post(url, {"method": "mader2d"}, format="json").status_code == 403
    refused = admin.post(url, {"method": "otsu"}, format="json")
    assert refused.status_code == 400 and "method" in refused.json()
    queued = admin.post(url, {"method": "mader2d"}, format="json")
    assert queued.status_code == 202 and queued.json()["kind"] == "lung_masks"
    run_lung_job(series)
    assert reader.get(url).json()["method"] == "mader2d"

    labels = np.zeros((SLICES, series.rows, series.columns), dtype=np.uint8)
    row = inference_services.involvement_store(series=series, source="reader_1", labels=labels)
    assert row.lung_method == "mader2d"


def test_export_lung_mask_computes_when_nothing_is_stored_and_another_method_without_storing(series, tmp_path):
    out = tmp_path / "lung.npy"
    call_command("export_lung_mask", str(series.pk), str(out))
    exported = np.load(out)
    assert exported.dtype == bool and exported.shape == (SLICES, series.rows, series.columns)
    assert LungMask.objects.filter(slice__series=series, method="lung3d").count() == SLICES
    assert np.array_equal(exported, inference_services.series_lung_volume(series))

    call_command("export_lung_mask", str(series.pk), str(out), "--method", "mader2d")
    volume = series_hu_volume(series)
    spacing = (series.pixel_spacing_row, series.pixel_spacing_column)
    expected = np.stack([lung_mask_reference(np.asarray(slice_hu), spacing) for slice_hu in volume])
    assert np.array_equal(np.load(out), expected)
    assert set(LungMask.objects.filter(slice__series=series).values_list("method", flat=True)) == {"lung3d"}
