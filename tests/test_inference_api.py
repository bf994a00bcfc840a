"""Inference APIs and commands, without a worker: answers, refusals and the read side."""

import io
import json

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from ildplatform import jobs, labelmaps
from ildplatform.models import Job
from inference import services as inference_services
from inference.models import ModelVersion

from .dicom_factory import ct_series, to_bytes


@pytest.fixture
def series_id(admin_client):
    files = []
    for index, dataset in enumerate(ct_series(4)):
        upload = io.BytesIO(to_bytes(dataset))
        upload.name = f"s{index}.dcm"
        files.append(upload)
    return admin_client.post("/api/v1/imports/", {"files": files}, format="multipart").json()["series"][0]["series_id"]


def test_inference_without_an_active_model_answers_409_and_queues_nothing(admin_client, series_id):
    response = admin_client.post(f"/api/v1/series/{series_id}/inference/", {"task": "ggo"}, format="json")
    assert response.status_code == 409
    assert response.json()["detail"] == "no active model for task ggo"
    assert not Job.objects.filter(kind="inference").exists()


def test_admins_and_adjudicators_run_models_and_the_series_says_which(
    admin_client, series_id, make_user, client_for, tmp_path
):
    from inference import unet

    unet.build_unet("table2").save_weights(tmp_path / "m.weights.h5")
    version = inference_services.model_register(weights=tmp_path / "m.weights.h5", task="merged", threshold=0.5)
    for role, allowed in (("adjudicator", True), ("reader", False), ("clinician", False)):
        client = client_for(make_user(role))
        answer = client.post(f"/api/v1/series/{series_id}/inference/", {"task": "merged"}, format="json")
        assert answer.status_code == (202 if allowed else 403), (role, answer.json())
        shown = client.get(f"/api/v1/series/{series_id}/models/").json()
        assert shown["can_run"] is allowed
        assert shown["active"] == [{"task": "merged", "model_version_id": version.pk, "label": "", "is_demo": False}]
    assert Job.objects.filter(kind="inference").count() == 1
    assert admin_client.get("/api/v1/series/999/models/").status_code == 404


def test_inference_refuses_unknown_task_and_series(admin_client, series_id):
    assert admin_client.post(f"/api/v1/series/{series_id}/inference/", {"task": "x"}, format="json").status_code == 400
    missing = admin_client.post("/api/v1/series/999/inference/", {"task": "ggo"}, format="json")
    assert missing.status_code == 404 and "no series with id 999" in missing.json()["detail"]


def test_import_queues_a_lung_mask_job_and_job_api_reports_it(admin_client, series_id):
    job = Job.objects.get(series_id=series_id, kind="lung_masks")
    body = admin_client.get(f"/api/v1/jobs/{job.pk}/").json()
    assert body["state"] == "queued" and body["progress"] == 0
    jobs.job_run(job_id=job.pk)
    body = admin_client.get(f"/api/v1/jobs/{job.pk}/").json()
    assert body["state"] == "done" and body["progress"] == 1
    png = admin_client.get(f"/api/v1/series/{series_id}/slices/1/lung-mask")
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    mask = labelmaps.decode_png(png.content, shape=(64, 64))
    assert set(np.unique(mask)) <= {0, 1}
    summary = admin_client.get(f"/api/v1/series/{series_id}/lung/").json()
    assert summary["complete"] and summary["slices_masked"] == 4
    assert admin_client.get("/api/v1/jobs/12345/").status_code == 404


def test_involvement_endpoints_list_every_source_in_date_order(admin_client, series_id):
    from ildplatform.models import Series

    series = Series.objects.get(pk=series_id)
    # The 64 x 64 test series is no chest for lung3d; Mader's 2-D mask finds its disk of "lung".
    inference_services.lung_masks_compute(series, lambda fraction: None, method="mader2d")
    labels = np.zeros((4, 64, 64), dtype=np.uint8)
    labels[:, 30:34, 30:34] = 1
    inference_services.involvement_store(series=series, source="model:1", labels=labels)
    trend = admin_client.get(f"/api/v1/patients/{series.visit.patient_id}/involvement/").json()
    assert [row["source"] for row in trend] == ["model:1"]
    assert trend[0]["reticulation_pct"] > 0 and trend[0]["ggo_pct"] == 0
    assert admin_client.get(f"/api/v1/visits/{series.visit_id}/involvement/").json() == trend
    assert admin_client.get("/api/v1/visits/999/involvement/").status_code == 404


@pytest.mark.django_db
def test_unet_summary_prints_the_table_2_counts():
    pytest.importorskip("tensorflow")
    out = io.StringIO()
    call_command("unet_summary", "--variant", "table2", "--json", stdout=out)
    counts = json.loads(out.getvalue())
    assert counts["total"] == 4_708_354
    assert (counts["transfer_trainable"], counts["transfer_non_trainable"]) == (184_770, 4_523_584)


@pytest.mark.django_db
def test_register_model_refuses_bad_weights_and_keeps_one_active_per_task(tmp_path):
    pytest.importorskip("tensorflow")
    bad = tmp_path / "bad.weights.h5"
    bad.write_bytes(b"not weights")
    with pytest.raises(CommandError, match="do not load"):
        call_command("register_model", str(bad), "--task", "ggo", "--threshold", "0.5", stdout=io.StringIO())
    with pytest.raises(CommandError, match="no such file"):
        call_command("register_model", str(tmp_path / "nope.h5"), "--task", "ggo", "--threshold", "0.5")
    from inference import unet

    good = tmp_path / "good.weights.h5"
    unet.build_unet("table2").save_weights(good)
    for _ in range(2):
        call_command("register_model", str(good), "--task", "ggo", "--threshold", "0.42", stdout=io.StringIO())
    assert ModelVersion.objects.filter(task="ggo").count() == 2
    assert ModelVersion.objects.filter(task="ggo", is_active=True).count() == 1
    with pytest.raises(CommandError, match="threshold"):
        call_command("register_model", str(good), "--task", "ggo", "--threshold", "1.5", stdout=io.StringIO())


def test_the_models_api_shows_patients_and_fold_lists_to_admins_only(admin_client, make_user, client_for):
    involvement = {"sign": "model minus consensus", "test": {"n": 2, "patients": [
        {"patient": "SSC-7", "reference_pct": 3.0, "model_pct": 4.0, "difference_pct": 1.0},
        {"patient": "SSC-9", "reference_pct": 5.0, "model_pct": 4.5, "difference_pct": -0.5}]}}  # fmt: skip
    ModelVersion.objects.create(
        task="merged", threshold=0.5, weights_file="models/x.weights.h5", metrics={"involvement": involvement},
        training_set={"test_patients": ["SSC-7", "SSC-9"], "folds": []},
    )  # fmt: skip
    [shown] = admin_client.get("/api/v1/models/").json()
    assert [row["patient"] for row in shown["involvement"]["test"]["patients"]] == ["SSC-7", "SSC-9"]
    assert shown["training_set"]["test_patients"] == ["SSC-7", "SSC-9"]
    [seen] = client_for(make_user("clinician")).get("/api/v1/models/").json()
    points = seen["involvement"]["test"]["patients"]
    assert [row["patient"] for row in points] == ["patient 1", "patient 2"]
    assert [row["difference_pct"] for row in points] == [1.0, -0.5], "the figures stay, the names go"
    assert seen["training_set"] == {} and seen["involvement"]["sign"] == "model minus consensus"
