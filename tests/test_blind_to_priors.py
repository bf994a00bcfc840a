"""Reading blind to priors (issue 12): while a reader's reading of one visit is open, that patient's other
readings, consensus, model predictions and involvement are hidden from the reader; a per-review setting,
on by default, switched by admins (audited)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from django.contrib.auth.models import Group

from annotations import services as review_services
from annotations.models import AuditEvent, Review
from ildplatform import labelmaps, services
from ildplatform.dicom_import import SourceFile
from ildplatform.models import Series
from inference.models import Involvement, ModelVersion, Prediction

from .dicom_factory import ct_series, to_bytes
from .review_fixtures import build_cast, client_of


def _model_output(series, model) -> None:
    """A GGO prediction on slice 1 of the series and the model's involvement row of its visit."""
    labels = np.zeros((series.rows, series.columns), np.uint8)
    labels[10:20, 10:20] = 2
    Prediction.objects.create(
        slice=series.slices.get(z_index=1), model_version=model, labels_png=labelmaps.encode_png(labels),
        reticulation_pixels=0, ggo_pixels=100,
    )  # fmt: skip
    Involvement.objects.create(visit=series.visit, series=series, source=model.source, total_pct=3.0,
                               lung_volume_ml=100, abnormal_ml=3, qc_missed_fraction=0)  # fmt: skip


@pytest.fixture
def follow_up(db):
    """Visit 1 of a patient read, adjudicated and finalised; visit 2 of the same patient being read by one
    of visit 1's readers, who could otherwise look at visit 1's consensus and trend."""
    cast = build_cast("finalised")
    prior = cast.series
    model = ModelVersion.objects.create(task="ggo", threshold=0.5, weights_file="models/x.weights.h5")
    _model_output(prior, model)
    sources = [SourceFile(f"b{i}.dcm", to_bytes(d)) for i, d in enumerate(ct_series(4, seed="follow-up"))]
    report = services.series_import(
        sources=sources, patient_pseudonym=prior.visit.patient.pseudonym, visit_date=date(2031, 5, 6)
    )
    current = Series.objects.get(pk=report.series[0].series_id)
    assert current.visit.patient_id == prior.visit.patient_id and current.visit_id != prior.visit_id
    review_services.review_assign(
        series=current, reader_1=cast.users["reader_1"], reader_2=cast.users["unrelated_reader"],
        adjudicator=cast.users["adjudicator"], by=cast.users["admin"],
    )  # fmt: skip
    return cast, prior, current, model


def _what_the_reader_sees(client, prior, model) -> dict:
    trend = client.get(f"/api/v1/patients/{prior.visit.patient_id}/involvement/").json()
    prior_readings = list(prior.review.readings.order_by("role"))
    return {
        "readings_listed": len(client.get(f"/api/v1/series/{prior.pk}/readings/").json()),
        "prior_masks": [
            client.get(f"/api/v1/readings/{reading.pk}/slices/1/mask").status_code
            for reading in prior_readings
            if reading.role != "adjudicator"
        ],  # fmt: skip
        "consensus": client.get(f"/api/v1/series/{prior.pk}/consensus/").status_code,
        "consensus_mask": client.get(f"/api/v1/series/{prior.pk}/consensus/slices/1/mask").status_code,
        "prediction": client.get(f"/api/v1/series/{prior.pk}/slices/1/predictions/{model.pk}").status_code,
        "listed_predictions": len(client.get(f"/api/v1/series/{prior.pk}/models/").json()["predictions"]),
        "trend_sources": sorted({row["source"] for row in trend}),
    }


def test_a_reader_of_a_follow_up_sees_none_of_the_patients_other_results_until_submitting(follow_up):
    cast, prior, current, model = follow_up
    reader = client_of(cast.users["reader_1"])
    hidden = _what_the_reader_sees(reader, prior, model)
    # Their own reading of the prior visit and the other reader's are refused too.
    assert hidden == {"readings_listed": 0, "prior_masks": [403, 403], "consensus": 403, "consensus_mask": 403,
                      "prediction": 403, "listed_predictions": 0, "trend_sources": []}  # fmt: skip
    denied = reader.get(f"/api/v1/series/{prior.pk}/consensus/").json()["detail"]
    assert "hidden while your reading" in denied
    # The other reader of the prior visit, who is not reading this patient now, still sees it all.
    other = _what_the_reader_sees(client_of(cast.users["reader_2"]), prior, model)
    assert other["consensus"] == 200 and other["prediction"] == 200 and "consensus" in other["trend_sources"]

    reading = current.review.readings.get(user=cast.users["reader_1"])
    review_services.reading_submit(reading=reading, user=cast.users["reader_1"])
    shown = _what_the_reader_sees(reader, prior, model)
    assert shown["readings_listed"] == 3 and shown["prior_masks"] == [200, 200]
    assert shown["consensus"] == 200 and shown["prediction"] == 200 and shown["listed_predictions"] == 1
    assert {"consensus", model.source} <= set(shown["trend_sources"])


def test_blinding_to_priors_is_a_per_review_setting_switched_by_admins_and_audited(follow_up):
    cast, prior, current, model = follow_up
    assert Review.objects.get(series=current).blind_to_priors, "on by default"
    path = f"/api/v1/series/{current.pk}/review/"
    assert client_of(cast.users["reader_1"]).patch(path, {"blind_to_priors": False}, format="json").status_code == 403
    admin = client_of(cast.users["admin"])
    assert admin.patch(path, {}, format="json").status_code == 400
    switched = admin.patch(path, {"blind_to_priors": False}, format="json")
    assert switched.status_code == 200 and switched.json()["blind_to_priors"] is False
    assert admin.get(path).json()["blind_to_priors"] is False
    assert AuditEvent.objects.filter(action="blind_to_priors", series=current, detail__enabled=False).exists()
    seen = _what_the_reader_sees(client_of(cast.users["reader_1"]), prior, model)
    assert seen["consensus"] == 200 and seen["prediction"] == 200


def test_a_reader_meets_no_model_output_on_the_series_they_are_reading(follow_up):
    cast, prior, current, model = follow_up
    Review.objects.filter(series=current).update(blind_to_priors=False)  # this rule holds either way
    _model_output(current, model)
    reader_user = cast.users["unrelated_reader"]  # reader 2 of the follow-up, never of the prior
    reader_user.groups.add(Group.objects.get(name="adjudicator"))  # a second role does not lift the rule
    reader = client_of(reader_user)
    path = f"/api/v1/series/{current.pk}/slices/1/predictions/{model.pk}"
    assert reader.get(path).status_code == 403
    assert reader.get(f"/api/v1/series/{current.pk}/models/").json()["predictions"] == []
    trend = reader.get(f"/api/v1/patients/{current.visit.patient_id}/involvement/").json()
    assert model.source not in {row["source"] for row in trend if row["series_id"] == current.pk}
    refused = reader.post(f"/api/v1/series/{current.pk}/inference/", {"task": "ggo"}, format="json")
    assert refused.status_code == 403 and "until you submit" in refused.json()["detail"]
    # Another user of the same roles who is not reading it sees the model's output.
    assert client_of(cast.users["adjudicator"]).get(path).status_code == 200
