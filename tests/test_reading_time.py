"""Reading time: increments of active time per slice from the reader workspace, counted once per batch, only
on the reader's own open reading; bad batches refused whole with the reason; the summary seen only by those
who may see the reading."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from annotations import services as review_services
from annotations.models import ReadingTimeBatch, SliceReadingTime
from ildplatform import labelmaps

from .review_fixtures import build_cast, client_of

pytestmark = pytest.mark.django_db


def time_url(reading) -> str:
    return f"/api/v1/readings/{reading.pk}/time/"


def batch(*slices: tuple[int, int, int], batch_id: str | None = None) -> dict:
    return {"batch_id": batch_id or str(uuid.uuid4()),
            "slices": [{"z_index": z, "active_ms": ms, "visits": visits} for z, ms, visits in slices]}  # fmt: skip


def stored(reading) -> dict[int, tuple[int, int]]:
    rows = SliceReadingTime.objects.filter(reading=reading).values_list("slice__z_index", "active_ms", "visits")
    return {z: (ms, visits) for z, ms, visits in rows}


@pytest.fixture
def cast():
    return build_cast("assigned")


def test_increments_add_up_per_slice_and_the_summary_reports_annotated_slices(cast):
    reader = client_of(cast.r1.user)
    for body in (batch((0, 1000, 1), (1, 2000, 1)), batch((1, 1000, 0), (2, 5000, 2)), batch((3, 0, 1))):
        answer = reader.post(time_url(cast.r1), body, format="json")
        assert answer.status_code == 200, answer.json()
        assert answer.json() == {"batch_id": body["batch_id"], "counted": True}
    assert stored(cast.r1) == {0: (1000, 1), 1: (3000, 1), 2: (5000, 2), 3: (0, 1)}
    summary = reader.get(time_url(cast.r1)).json()
    # The cast's reader 1 painted slices 1 and 2; slice 3 came on screen but was never looked at actively.
    assert summary["total_active_ms"] == 9000 and summary["slices_visited"] == 3
    assert summary["annotated_slices"] == [1, 2]
    assert summary["active_ms_on_annotated_slices"] == 8000
    assert summary["mean_active_ms_per_annotated_slice"] == 4000
    assert summary["slices"][1] == {"z_index": 1, "active_ms": 3000, "visits": 1}


def test_a_retried_batch_is_counted_once(cast):
    reader = client_of(cast.r1.user)
    body = batch((0, 1500, 1))
    assert reader.post(time_url(cast.r1), body, format="json").json()["counted"] is True
    again = reader.post(time_url(cast.r1), body, format="json")
    assert again.status_code == 200 and again.json()["counted"] is False
    assert stored(cast.r1) == {0: (1500, 1)}
    # The same id on another reading is another batch.
    other = client_of(cast.r2.user).post(time_url(cast.r2), body, format="json")
    assert other.json()["counted"] is True and stored(cast.r2) == {0: (1500, 1)}


def test_a_slice_saved_empty_again_is_not_annotated(cast):
    empty = labelmaps.encode_png(np.zeros((64, 64), dtype=np.uint8))
    review_services.mask_save(reading=cast.r1, z_index=2, png=empty, if_match=1, user=cast.r1.user)
    summary = client_of(cast.r1.user).get(time_url(cast.r1)).json()
    assert summary["annotated_slices"] == [1]
    assert summary["total_active_ms"] == 0 and summary["mean_active_ms_per_annotated_slice"] == 0


CAP = review_services.READING_TIME_BATCH_MAX_MS
# name: (body, status, a fragment of the answer that names what is wrong)
BAD_BATCHES = {
    "slice outside the series": (batch((0, 10, 1), (4, 10, 1)), 400, "no slice with z index 4"),
    "negative time": (batch((0, -1, 1)), 400, "greater than or equal to 0"),
    "time as text": (batch(("0", "10", 1)), 400, "whole number"),
    "fractional time": ({**batch(), "slices": [{"z_index": 0, "active_ms": 1.5, "visits": 1}]}, 400, "whole number"),
    "one slice over the cap": (batch((0, CAP + 1, 1)), 400, f"less than or equal to {CAP}"),
    "batch over the cap": (batch((0, CAP, 1), (1, 1, 1)), 400, f"at most {CAP} ms"),
    "slice twice": (batch((1, 10, 1), (1, 10, 1)), 400, "z index 1 appears more than once"),
    "no slices": (batch(), 400, "at least one slice"),
    "batch id not a uuid": (batch((0, 10, 1), batch_id="batch-1"), 400, "UUID"),
    "batch id a number": ({**batch((0, 10, 1)), "batch_id": 5}, 400, "UUID as text"),
    "no batch id": ({"slices": [{"z_index": 0, "active_ms": 10, "visits": 1}]}, 400, "batch_id"),
    "visits missing": ({**batch(), "slices": [{"z_index": 0, "active_ms": 10}]}, 400, "visits"),
    "slices not a list": ({**batch(), "slices": {"z_index": 0}}, 400, "list"),
}


@pytest.mark.parametrize("name", BAD_BATCHES)
def test_a_bad_batch_is_refused_whole_with_the_reason(cast, name):
    body, status, fragment = BAD_BATCHES[name]
    answer = client_of(cast.r1.user).post(time_url(cast.r1), body, format="json")
    assert answer.status_code == status, answer.json()
    assert fragment in str(answer.json()), answer.json()
    assert not SliceReadingTime.objects.exists() and not ReadingTimeBatch.objects.exists()


def test_a_submitted_reading_takes_no_more_time():
    cast = build_cast("one_submitted")
    answer = client_of(cast.r1.user).post(time_url(cast.r1), batch((0, 10, 1)), format="json")
    assert answer.status_code == 409 and "submitted" in answer.json()["detail"]
    assert not SliceReadingTime.objects.exists()


@pytest.mark.parametrize(("who", "status"), [("reader_2", 404), ("unrelated_reader", 404), ("clinician", 404),
                                             ("adjudicator", 403), ("admin", 403)])  # fmt: skip
def test_only_the_reader_records_time_on_their_reading(cast, who, status):
    answer = client_of(cast.users[who]).post(time_url(cast.r1), batch((0, 10, 1)), format="json")
    assert answer.status_code == status, answer.json()
    assert not SliceReadingTime.objects.exists()


def test_the_adjudicator_reading_records_no_time(cast):
    adjudicator = cast.review.readings.get(role="adjudicator")
    answer = client_of(adjudicator.user).post(time_url(adjudicator), batch((0, 10, 1)), format="json")
    assert answer.status_code == 403


def test_unauthenticated_requests_are_refused(cast):
    from rest_framework.test import APIClient

    assert APIClient().post(time_url(cast.r1), batch((0, 10, 1)), format="json").status_code == 401
    assert APIClient().get(time_url(cast.r1)).status_code == 401


def record(cast) -> None:
    client_of(cast.r1.user).post(time_url(cast.r1), batch((0, 1000, 1)), format="json")
    client_of(cast.r2.user).post(time_url(cast.r2), batch((0, 2000, 1)), format="json")


@pytest.mark.parametrize(("who", "status"), [("reader_1", 200), ("reader_2", 404), ("adjudicator", 403),
                                             ("clinician", 404), ("admin", 200)])  # fmt: skip
def test_a_readers_time_is_hidden_from_the_other_reader_until_both_submitted(cast, who, status):
    record(cast)
    answer = client_of(cast.users[who]).get(time_url(cast.r1))
    assert answer.status_code == status
    assert (answer.json().get("total_active_ms") == 1000) == (status == 200)


@pytest.mark.parametrize(("who", "seen"), [("reader_1", ["reader_1"]), ("reader_2", ["reader_2"]), ("adjudicator", []),
                                           ("clinician", []), ("admin", ["reader_1", "reader_2"])])  # fmt: skip
def test_the_series_summary_shows_only_the_readings_the_user_may_see(cast, who, seen):
    record(cast)
    answer = client_of(cast.users[who]).get(f"/api/v1/series/{cast.series.pk}/reading-time/")
    assert answer.status_code == 200
    assert [entry["role"] for entry in answer.json()] == seen


def test_after_both_submitted_the_adjudicator_sees_both_readers_times(cast):
    record(cast)
    for reading in (cast.r1, cast.r2):
        review_services.reading_submit(reading=reading, user=reading.user)
    answer = client_of(cast.users["adjudicator"]).get(f"/api/v1/series/{cast.series.pk}/reading-time/")
    assert [(entry["role"], entry["total_active_ms"]) for entry in answer.json()] == [("reader_1", 1000),
                                                                                     ("reader_2", 2000)]  # fmt: skip
