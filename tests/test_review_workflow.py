"""Review details: worklist, history, reopen, audit trail, AI pre-annotation, agreement pre-decisions."""

import numpy as np
import pytest

from annotations.models import ConsensusDecision
from ildplatform import labelmaps
from inference.models import ModelVersion, Prediction

from .review_fixtures import build_cast, client_of, reader_1_labels, shared_labels


def test_worklist_shows_role_state_and_progress(db):
    cast = build_cast("one_submitted")
    rows = client_of(cast.users["reader_1"]).get("/api/v1/readings/?mine=1").json()
    assert [(r["role"], r["state"], r["slices_annotated"], r["slice_count"]) for r in rows] == [
        ("reader_1", "submitted", 2, 4)
    ]
    assert rows[0]["patient"] == cast.series.visit.patient.pseudonym
    everyone = client_of(cast.users["admin"]).get("/api/v1/readings/").json()
    assert sorted(r["role"] for r in everyone) == ["adjudicator", "reader_1", "reader_2"]


def test_every_version_is_kept_and_can_be_fetched(db):
    cast = build_cast("assigned")
    client = client_of(cast.users["reader_1"])
    url = f"/api/v1/readings/{cast.r1.pk}/slices/1/mask"
    second = np.zeros((64, 64), np.uint8)
    assert (
        client.put(url, labelmaps.encode_png(second), content_type="image/png", HTTP_IF_MATCH='"1"').status_code == 200
    )
    history = client.get(f"{url}/history").json()
    assert [(h["version"], h["author"], h["reticulation_pixels"]) for h in history] == [(1, "r1", 1073), (2, "r1", 0)]
    first = client.get(f"{url}?version=1")
    assert first["ETag"] == '"1"' and np.array_equal(labelmaps.decode_png(first.content), reader_1_labels())
    assert client.get(url)["ETag"] == '"2"'


def test_admin_reopens_with_a_reason_and_it_is_audited(db):
    cast = build_cast("one_submitted")
    admin = client_of(cast.users["admin"])
    reopened = admin.post(f"/api/v1/readings/{cast.r1.pk}/reopen/", {"reason": "slice 3 missed"}, format="json")
    assert reopened.status_code == 200 and reopened.json()["state"] == "in_progress"
    events = admin.get(f"/api/v1/audit/?series={cast.series.pk}").json()
    assert [e["action"] for e in events].count("mask_save") == 4
    reopen = [e for e in events if e["action"] == "reopen"][0]
    assert reopen["user"] == "boss" and reopen["detail"]["reason"] == "slice 3 missed"
    saves = [e for e in events if e["action"] == "mask_save" and e["object_id"] == str(cast.r1.pk)]
    assert {(e["before_version"], e["after_version"]) for e in saves} == {(0, 1)}


def test_slices_the_readers_agree_on_are_pre_decided(db):
    cast = build_cast("both_submitted")
    decided = ConsensusDecision.objects.get(review=cast.review)
    assert (decided.slice.z_index, decided.decision, decided.pre_decided) == (2, "reader_1", True)
    consensus = client_of(cast.users["adjudicator"]).get(f"/api/v1/series/{cast.series.pk}/consensus/").json()
    assert consensus["undecided_slices"] == [1]


def test_ai_preannotation_starts_empty_slices_from_the_active_model(db, tmp_path):
    cast = build_cast("assigned")
    model = ModelVersion.objects.create(task="ggo", threshold=0.5, weights_file="models/x.weights.h5", is_active=True)
    predicted = shared_labels()
    Prediction.objects.create(
        slice=cast.series.slices.get(z_index=3), model_version=model, labels_png=labelmaps.encode_png(predicted),
        reticulation_pixels=0, ggo_pixels=int((predicted == 2).sum()),
    )  # fmt: skip
    reader = client_of(cast.users["reader_2"])
    url = f"/api/v1/readings/{cast.r2.pk}/slices/3/mask"
    assert not labelmaps.decode_png(reader.get(url).content).any(), "off by default"
    admin = client_of(cast.users["admin"])
    assert (
        admin.patch(f"/api/v1/series/{cast.series.pk}/review/", {"ai_preannotation": True}, format="json").status_code
        == 200
    )
    started = reader.get(url)
    assert started["ETag"] == '"0"' and np.array_equal(labelmaps.decode_png(started.content), predicted)
    cast.r2.refresh_from_db()
    assert cast.r2.preannotated_from == [], "looking at a slice records nothing"
    kept = reader.put(url, started.content, content_type="image/png", HTTP_IF_MATCH='"0"')
    assert kept.status_code == 200, kept.content
    cast.r2.refresh_from_db()
    assert cast.r2.preannotated_from == [model.pk], "the saved version started from the model's prediction"
    saved = labelmaps.decode_png(reader.get(f"/api/v1/readings/{cast.r2.pk}/slices/1/mask").content)
    assert saved.any(), "a slice the reader already saved keeps the reader's mask"

    # Its effect, as the admin sees it: on, which model seeds, and which reading it seeded.
    effect = admin.get(f"/api/v1/series/{cast.series.pk}/review/").json()
    assert effect["ai_preannotation"] is True
    assert effect["seeding_models"] == [
        {"model_version_id": model.pk, "task": "ggo", "label": "", "slices_with_predictions": 1}
    ]
    seeded = {row["role"]: row["preannotated_from"] for row in effect["readings"]}
    assert seeded == {"adjudicator": [], "reader_1": [], "reader_2": [model.pk]}
    worklist = {row["id"]: row for row in admin.get("/api/v1/readings/").json()}
    assert worklist[cast.r2.pk]["preannotated_from"] == [model.pk] and worklist[cast.r2.pk]["ai_preannotation"]
    assert reader.get(f"/api/v1/series/{cast.series.pk}/review/").status_code == 403


@pytest.mark.parametrize(
    "state, expected", [("one_submitted", ["reader_2"]), ("both_submitted", ["adjudicator", "reader_1", "reader_2"])]
)
def test_series_readings_list_only_own_reading_until_both_submitted(state, expected, db):
    cast = build_cast(state)
    rows = client_of(cast.users["reader_2"]).get(f"/api/v1/series/{cast.series.pk}/readings/").json()
    assert sorted(r["role"] for r in rows) == expected


def test_the_adjudicators_reading_follows_the_adjudication(db):
    cast = build_cast("both_submitted")
    adjudicator = client_of(cast.users["adjudicator"])

    def adjudicator_state() -> str:
        [row] = adjudicator.get("/api/v1/readings/?mine=1").json()
        return row["state"]

    assert adjudicator_state() == "assigned"
    decided = adjudicator.post(f"/api/v1/series/{cast.series.pk}/consensus/slices/1/", {"decision": "union"},
                               format="json")  # fmt: skip
    assert decided.status_code == 200, decided.content
    assert adjudicator_state() == "in_progress"
    assert adjudicator.post(f"/api/v1/series/{cast.series.pk}/consensus/finalize/").status_code == 200
    assert adjudicator_state() == "submitted", "a finalised adjudication no longer reads 'assigned'"


def test_reviewed_slices_count_as_done_and_the_rest_are_listed_for_the_submit_warning(db):
    cast = build_cast("assigned")  # both readers saved masks on slices 1 and 2 of 4
    reader = client_of(cast.users["reader_1"])
    progress = reader.get(f"/api/v1/readings/{cast.r1.pk}/progress/").json()
    assert (progress["annotated_slices"], progress["reviewed_slices"]) == ([1, 2], [])
    assert progress["unreviewed_slices"] == [0, 3] and progress["slices_done"] == 2
    marked = reader.put(f"/api/v1/readings/{cast.r1.pk}/slices/3/reviewed", {"reviewed": True}, format="json")
    assert marked.status_code == 200 and marked.json()["unreviewed_slices"] == [0]
    [row] = reader.get("/api/v1/readings/?mine=1").json()
    assert (row["slices_annotated"], row["slices_done"]) == (2, 3), "the worklist counts reviewed slices as done"
    unmarked = reader.put(f"/api/v1/readings/{cast.r1.pk}/slices/3/reviewed", {"reviewed": False}, format="json")
    assert unmarked.json()["reviewed_slices"] == []
    for z, body, status in ((9, {"reviewed": True}, 404), (0, {"reviewed": "maybe"}, 400), (0, {}, 400)):
        answer = reader.put(f"/api/v1/readings/{cast.r1.pk}/slices/{z}/reviewed", body, format="json")
        assert answer.status_code == status, (z, body, answer.json())
    other = client_of(cast.users["reader_2"])
    assert other.put(
        f"/api/v1/readings/{cast.r1.pk}/slices/0/reviewed", {"reviewed": True}, format="json"
    ).status_code in (403, 404)
    assert reader.post(f"/api/v1/readings/{cast.r1.pk}/submit/").status_code == 200
    closed = reader.put(f"/api/v1/readings/{cast.r1.pk}/slices/0/reviewed", {"reviewed": True}, format="json")
    assert (
        closed.status_code == 409
        and reader.get(f"/api/v1/readings/{cast.r1.pk}/progress/").json()["reviewed_slices"] == []
    )
