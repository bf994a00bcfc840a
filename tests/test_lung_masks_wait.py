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
