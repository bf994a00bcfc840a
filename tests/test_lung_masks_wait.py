"""An inference job takes the lung masks a running lung masks job is computing instead of computing
them a second time; with no such job, or one that never ends, it computes them itself."""

from __future__ import annotations

import numpy as np
import pytest

from ildplatform import jobs
from ildplatform.models import Job
from inference import services as inference_services
from inference.models import LungMask

from .test_inference_pipeline import import_phantom


@pytest.fixture
def series(db, tmp_path):
    imported, _ = import_phantom(tmp_path / "phantoms", seed=11, slices=6)
    Job.objects.filter(series=imported).delete()  # the import queued a lung masks job: not run here
    return imported


def _counting_computes(monkeypatch) -> list[int]:
    computed = []
    original = inference_services.lung_masks_compute

    def counting(series, on_progress, method=None):
        computed.append(series.pk)
        return original(series, on_progress, method)

    monkeypatch.setattr(inference_services, "lung_masks_compute", counting)
    return computed


def test_masks_of_a_running_lung_masks_job_are_waited_for_not_computed_again(series, monkeypatch):
    other_worker = jobs.job_create(kind=inference_services.LUNG_MASKS_JOB, series=series, params={})
    Job.objects.filter(pk=other_worker.pk).update(state=Job.State.RUNNING)
    compute_elsewhere = inference_services.lung_masks_compute
    polls = []

    def other_worker_finishes_while_we_wait(seconds: float) -> None:
        polls.append(seconds)
        if len(polls) == 2:  # the other worker stores its masks and ends
            compute_elsewhere(series, lambda fraction: None)
            Job.objects.filter(pk=other_worker.pk).update(state=Job.State.DONE)

    monkeypatch.setattr(inference_services.time, "sleep", other_worker_finishes_while_we_wait)
    computed = _counting_computes(monkeypatch)
    lung = inference_services.series_lung_volume_when_ready(series)
    assert len(polls) == 2 and computed == [], "waited for the running job's masks, computed none itself"
    np.testing.assert_array_equal(lung, inference_services.series_lung_volume(series))
    assert LungMask.objects.filter(slice__series=series).count() == series.slice_count


def test_without_a_running_lung_masks_job_the_inference_job_computes_the_masks(series, monkeypatch):
    jobs.job_create(kind=inference_services.LUNG_MASKS_JOB, series=series, params={})  # queued, not running
    computed = _counting_computes(monkeypatch)
    lung = inference_services.series_lung_volume_when_ready(series)
    assert computed == [series.pk] and lung.any()


def test_a_lung_masks_job_left_running_is_waited_for_no_longer_than_the_limit(series, monkeypatch, settings):
    stale = jobs.job_create(kind=inference_services.LUNG_MASKS_JOB, series=series, params={})
    Job.objects.filter(pk=stale.pk).update(state=Job.State.RUNNING)  # its worker was killed mid-job
    settings.LUNG_MASKS_WAIT_SECONDS = 0.3
    computed = _counting_computes(monkeypatch)
    lung = inference_services.series_lung_volume_when_ready(series)
    assert computed == [series.pk] and lung.any()


def test_masks_are_stored_before_their_qc_which_a_background_pass_adds(db, tmp_path):
    from inference import lungmask, lungs, selectors

    series, _ = import_phantom(tmp_path / "phantoms", seed=12, slices=20)  # enough slices to fork workers
    drawn = inference_services.lung_masks_draw(series, lambda fraction: None)
    # What an inference job waits for is there; the QC figures are not yet, and say so (never as 0).
    assert inference_services.series_lung_mask_pngs(series) is not None
    summary = selectors.series_lung_summary(series_id=series.pk)
    assert summary["complete"] and summary["dense_missed_fraction"] is None and summary["non_lung_air_ml"] is None
    assert summary["masks_computing"], "the import's lung masks job is still queued"

    inference_services.lung_qc_store(series, drawn)
    volume, lung = np.asarray(inference_services.series_hu_volume(series)), drawn.labels > 0
    spacing = (series.pixel_spacing_row, series.pixel_spacing_column)
    gas = lungs.gas_pockets(volume, lung, spacing, series.slice_spacing)
    stored = LungMask.objects.filter(slice__series=series).order_by("slice__z_index")
    assert [(m.dense_inside_pixels, m.dense_missed_pixels, m.gas_pocket_pixels) for m in stored] == [
        (lungmask.dense_lung_pixels(volume[z], lung[z]),
         int(lungmask.dense_pathology_candidates(volume[z], lung[z]).sum()), int(gas[z].sum()))
        for z in range(series.slice_count)
    ]  # fmt: skip
    assert selectors.series_lung_summary(series_id=series.pk)["dense_missed_fraction"] is not None


def test_qc_of_masks_drawn_again_meanwhile_is_not_written_over_the_new_ones(series):
    first = inference_services.lung_masks_draw(series, lambda fraction: None, method="lung3d")
    inference_services.lung_masks_draw(series, lambda fraction: None, method="mader2d")  # another job, since
    inference_services.lung_qc_store(series, first)
    stored = LungMask.objects.filter(slice__series=series)
    assert set(stored.values_list("method", flat=True)) == {"mader2d"}
    assert stored.filter(dense_missed_pixels__isnull=False).count() == 0, "the QC of the first masks stays out"
