"""The inference pipeline with a real Redis and real Celery worker processes, on phantom series."""

from __future__ import annotations

import json
import os
import signal
import time
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from ildplatform import services
from ildplatform.demo import phantoms
from ildplatform.dicom_import import read_sources
from ildplatform.models import Job, Series
from inference import services as inference_services
from inference.involvement import involvement
from inference.models import Involvement, LungMask, ModelVersion, Prediction

pytest.importorskip("tensorflow")


def import_phantom(folder: Path, *, seed: int, slices: int) -> tuple[Series, dict]:
    manifest = phantoms.write_phantom_set(folder, 1, 1, seed, slices)
    patient = manifest["patients"][0]
    visit = patient["visits"][0]
    sources, _ = read_sources([folder / visit["folder"]], services.archive_limits())
    report = services.series_import(
        sources=sources, patient_pseudonym=patient["pseudonym"], visit_date=date.fromisoformat(visit["date"])
    )
    return Series.objects.get(pk=report.series[0].series_id), visit


def untrained_weights(path: Path) -> Path:
    """A real (if untrained) table2 U-Net's weights, seeded so every run predicts the same."""
    import keras

    from inference import unet

    keras.utils.set_random_seed(7)
    unet.build_unet("table2").save_weights(path)
    return path


def watch(job: Job, timeout_s: float, until=lambda job: job.state in (Job.State.DONE, Job.State.FAILED)):
    """(state, progress) every few milliseconds until the condition holds."""
    seen = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if not seen or seen[-1] != (job.state, job.progress):
            seen.append((job.state, job.progress))
        if until(job):
            return seen
        time.sleep(0.02)
    raise AssertionError(f"job {job.pk} still {job.state} at {job.progress} after {timeout_s} s: {seen[-5:]}")


def test_involvement_of_phantom_truth_equals_the_phantom_json(tmp_path, db):
    manifest = phantoms.write_phantom_set(tmp_path / "ph", 1, 2, 11, 12)
    for visit in manifest["patients"][0]["visits"]:
        truth = np.load(tmp_path / "ph" / visit["truth"])
        figures = involvement(truth["labels"], truth["lung"], visit["pixel_spacing_mm"], visit["slice_spacing_mm"])
        expected = visit["involvement"]
        for name in ("reticulation_pct", "ggo_pct", "total_pct"):
            assert abs(getattr(figures, name) - expected[name]) < 0.01, name
    assert json.loads((tmp_path / "ph" / "phantoms.json").read_text()) == manifest


@pytest.mark.timeout(400)
def test_registered_model_runs_end_to_end_through_a_real_worker(live_services, tmp_path):
    live_services.start_worker()
    series, _ = import_phantom(tmp_path / "ph", seed=5, slices=72)  # several 32-slice batches: visible progress
    lung_job = Job.objects.get(series=series, kind="lung_masks")
    watch(lung_job, 120)
    assert lung_job.state == Job.State.DONE, (lung_job.error, live_services.worker_logs())
    assert LungMask.objects.filter(slice__series=series).count() == 72

    version = inference_services.model_register(
        weights=untrained_weights(tmp_path / "model.weights.h5"), task="reticulation", threshold=0.5
    )
    job = inference_services.inference_schedule(series=series, task="reticulation")
    seen = watch(job, 300)
    assert job.state == Job.State.DONE, (job.error, live_services.worker_logs())
    states = [state for state, _ in seen]
    assert states[0] == Job.State.QUEUED and Job.State.RUNNING in states and states[-1] == Job.State.DONE
    running = [progress for state, progress in seen if state == Job.State.RUNNING]
    assert running == sorted(running) and any(0 < p < 1 for p in running), seen
    assert Prediction.objects.filter(slice__series=series, model_version=version).count() == 72
    row = Involvement.objects.get(visit=series.visit, source=f"model:{version.pk}")
    assert 0 <= row.total_pct <= 100 and row.lung_volume_ml > 100


def test_a_gpu_worker_loads_the_active_model_and_chooses_its_path_at_start(live_services, tmp_path):
    version = inference_services.model_register(
        weights=untrained_weights(tmp_path / "model.weights.h5"), task="ggo", threshold=0.5
    )
    worker_var = tmp_path / "worker-var"
    live_services.env["ILD_VAR_DIR"] = str(worker_var)  # where the worker caches its path choice
    live_services.env["UNET_CPU_PATHS"] = "tensorflow,onnxruntime"  # measured against each other
    live_services.start_worker(queues="gpu")
    deadline = time.monotonic() + 240
    while not list(worker_var.glob("unet-paths/*.json")) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert list(worker_var.glob("unet-paths/*.json")), live_services.worker_logs()
    whole_logs = "".join(log.read_text() for log in tmp_path.glob("worker-*.log"))
    assert f"model {version.pk} loaded at worker start" in whole_logs, live_services.worker_logs()
    assert not Job.objects.exists(), "no job asked for it"


@pytest.mark.timeout(500)
def test_killed_worker_mid_job_is_finished_exactly_once_by_another(live_services, tmp_path, capsys):
    series, _ = import_phantom(tmp_path / "ph", seed=6, slices=64)
    version = inference_services.model_register(
        weights=untrained_weights(tmp_path / "model.weights.h5"), task="ggo", threshold=0.5
    )
    first = live_services.start_worker()
    watch(Job.objects.get(series=series, kind="lung_masks"), 120)
    job = inference_services.inference_schedule(series=series, task="ggo")
    watch(job, 200, until=lambda job: job.state == Job.State.RUNNING and job.progress >= 0.25)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    job.refresh_from_db()
    assert job.state == Job.State.RUNNING and job.progress < 1, "the job must be cut off mid-way"

    live_services.start_worker()
    watch(job, 300)
    with capsys.disabled():
        print(f"\nworker SIGKILLed during inference: jobs submitted 1, completed {int(job.state == Job.State.DONE)}, "
              f"run again after the fault {job.attempts - 1}")  # fmt: skip
    assert job.state == Job.State.DONE, (job.error, live_services.worker_logs())
    assert job.attempts == 2
    predictions = Prediction.objects.filter(slice__series=series, model_version=version)
    assert predictions.count() == 64
    assert predictions.values("slice").distinct().count() == 64
    assert Involvement.objects.filter(visit=series.visit, source=f"model:{version.pk}").count() == 1
    assert ModelVersion.objects.filter(task="ggo", is_active=True).count() == 1
