"""Training as a job on the gpu queue, through a real Redis and a real Celery worker: progress (fold,
epoch, loss) on the job, the run registered inactive, explicit audited activation, and cancellation."""

from __future__ import annotations

import pytest

from ildplatform.models import Job
from inference.models import ModelActivation, ModelVersion
from tests.test_inference_pipeline import watch

pytest.importorskip("keras")

TRAINING = {"task": "merged", "source": "phantoms", "folds": 2, "epochs": 2, "seed": 5, "test_patients": ["phantom-5"]}


def test_a_training_job_reports_its_epochs_registers_a_version_and_activation_is_audited(
    live_services, make_user, client_for
):
    live_services.start_worker(queues="gpu")
    admin, clinician = make_user("admin", "boss"), make_user("clinician")
    api = client_for(admin)
    assert client_for(clinician).post("/api/v1/models/training/", TRAINING, format="json").status_code == 403
    overrides = {"learning_rate": 0.005, "augmentation.copies": 2}
    answer = api.post("/api/v1/models/training/", {**TRAINING, "settings": overrides}, format="json")
    assert answer.status_code == 202, answer.json()
    job = Job.objects.get(pk=answer.json()["id"])
    seen_details = []
    watch(job, 600, until=lambda job: seen_details.append(dict(job.detail)) or job.state in ("done", "failed"))
    assert job.state == Job.State.DONE, (job.error, live_services.worker_logs())
    epochs = {(detail["fold"], detail["epoch"]) for detail in seen_details if "epoch" in detail}
    assert (2, 2) in epochs and all(detail.get("folds", 2) == 2 for detail in seen_details)
    assert isinstance(job.detail["loss"], float) and isinstance(job.detail["val_loss"], float)

    version = ModelVersion.objects.get(pk=job.detail["model_version_id"])
    assert not version.is_active and version.training_run["lung_masked"] is True
    assert version.is_demo, "trained on synthetic phantoms: demo weights, whoever started it"
    assert listed_label(api, version.pk).startswith("Demo weights")
    assert version.training_run["settings"]["max_epochs"] == 2 and version.training_run["seed"] == 5
    # Overridden hyperparameters are the ones used and recorded: two copies of each GGO training slice.
    assert version.training_run["settings"]["learning_rate"] == 0.005
    assert version.training_run["settings"]["augmentation"]["copies"] == 2
    for fold in version.training_set["folds"]:
        assert len(fold["augmented_slices"]) == 2 * len(set(fold["augmented_slices"])) > 0
    assert version.training_set["test_patients"] == ["phantom-5"]

    # Activation: admins only, with a reason, audited; the next version of the task replaces it.
    path = f"/api/v1/models/{version.pk}/activation/"
    assert client_for(clinician).post(path, {"active": True, "reason": "x"}, format="json").status_code == 403
    refused = api.post(path, {"active": True, "reason": "  "}, format="json")
    assert refused.status_code == 400 and not ModelVersion.objects.get(pk=version.pk).is_active
    shown = api.post(path, {"active": True, "reason": "validated on our phantoms"}, format="json").json()
    assert shown["is_active"] is True
    assert [(row["by"], row["active"], row["reason"]) for row in shown["activations"]] == [
        ("boss", True, "validated on our phantoms")
    ]
    listed = {row["id"]: row for row in api.get("/api/v1/models/").json()}
    assert listed[version.pk]["metrics"]["over_folds"] == version.metrics["over_folds"]
    assert "model minus consensus" in listed[version.pk]["involvement"]["sign"]
    unknown = api.post("/api/v1/models/999999/activation/", {"active": True, "reason": "x"}, format="json")
    assert unknown.status_code == 404
    assert ModelActivation.objects.count() == 1


def listed_label(api, version_id: int) -> str:
    return next(row["label"] for row in api.get("/api/v1/models/").json() if row["id"] == version_id)


def test_a_queued_training_job_is_cancelled_at_once_and_a_running_one_after_its_epoch(
    live_services, make_user, client_for
):
    api = client_for(make_user("admin"))
    # No worker yet: the job waits in the queue and is cancelled there; the worker then skips it.
    queued = Job.objects.get(pk=api.post("/api/v1/models/training/", TRAINING, format="json").json()["id"])
    answer = api.post(f"/api/v1/jobs/{queued.pk}/cancel/")
    assert answer.status_code == 202 and answer.json()["state"] == "cancelled"
    assert api.post(f"/api/v1/jobs/{queued.pk}/cancel/").status_code == 409, "a finished job cannot be cancelled"
    reader = client_for(make_user("reader"))
    running = Job.objects.get(
        pk=api.post("/api/v1/models/training/", {**TRAINING, "epochs": 200}, format="json").json()["id"]
    )
    live_services.start_worker(queues="gpu")
    watch(running, 300, until=lambda job: job.detail.get("epoch", 0) >= 1)
    assert reader.post(f"/api/v1/jobs/{running.pk}/cancel/").status_code == 403
    assert api.post(f"/api/v1/jobs/{running.pk}/cancel/").json()["cancel_requested"] is True
    watch(running, 120, until=lambda job: job.state in ("cancelled", "done", "failed"))
    assert running.state == Job.State.CANCELLED, (running.error, live_services.worker_logs())
    assert running.detail["epoch"] < 200 and running.detail["fold"] == 1
    queued.refresh_from_db()
    assert queued.state == Job.State.CANCELLED and queued.attempts == 0, "the worker skipped the cancelled job"
    assert not ModelVersion.objects.exists(), "a cancelled run registers nothing"


def test_training_requests_that_cannot_run_are_refused_before_queueing(admin_client):
    for body, words in [
        ({**TRAINING, "source": "pacs"}, "unknown training source"),
        ({**TRAINING, "folds": 1}, "folds"),
        ({**TRAINING, "task": "ggo"}, "active reticulation model"),
        ({**TRAINING, "epochs": "many"}, "epochs"),
        ({**TRAINING, "settings": {"lr": 0.1}}, "unknown training setting 'lr'"),
        ({**TRAINING, "settings": {"batch_size": 0}}, "batch_size"),
        ({**TRAINING, "settings": {"seed": 3}}, "as epochs / seed"),
    ]:
        answer = admin_client.post("/api/v1/models/training/", body, format="json")
        assert answer.status_code in (400, 409) and words in str(answer.json()), (body, answer.json())
    assert not Job.objects.exists()
