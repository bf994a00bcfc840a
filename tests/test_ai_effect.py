"""What AI pre-annotation changes: reading time and agreement with the consensus, with and without it, as
median ratios with bootstrap CIs on a seeded set whose true ratios are known; each reader's agreement with
the finalised consensus; the CSV export for statisticians. Checked against our own computations."""

from __future__ import annotations

import csv
import datetime
import io
import statistics as stdlib

import numpy as np
import pytest

from annotations.models import ConsensusAgreement, Reading, Review, SliceReadingTime
from annotations.selectors import consensus_labels_volume, reading_labels_volume
from ildplatform import services
from ildplatform.models import Patient, Slice
from inference.models import Involvement

from .review_fixtures import build_cast, client_of
from .test_reader_noise import involvement, make_series

# Seconds of active reading per reading, and Dice with the consensus: medians 40 s against 100 s (true
# time ratio 0.4, editing about 2.5x faster) and 0.8 against 0.7 (true Dice ratio 8/7).
WITH_AI = [(40, 0.80), (38, 0.83), (42, 0.78), (41, 0.81), (36, 0.79), (44, 0.84), (39, 0.77)]
WITHOUT_AI = [(100, 0.70), (95, 0.72), (105, 0.68), (98, 0.71), (110, 0.66), (90, 0.74), (101, 0.69)]


@pytest.fixture
def seeded_readings(db):
    return seed_readings()


def seed_readings() -> list[tuple[Reading, int, float]]:
    """One submitted reader reading per series, WITH_AI seeded by model 7, WITHOUT_AI drawn from scratch."""
    readers = [services.user_create(username=name, role="reader", password="pass-word-1")
               for name in ("alice", "=bob")]  # fmt: skip
    adjudicator = services.user_create(username="adj", role="adjudicator", password="pass-word-1")
    made = []
    for index, ((seconds, dice), preannotated) in enumerate(
        [(entry, True) for entry in WITH_AI] + [(entry, False) for entry in WITHOUT_AI]
    ):
        series = make_series(Patient.objects.create(pseudonym=f"P{index}"), datetime.date(2024, 1, 1), index)
        slice_ = Slice.objects.create(series=series, sop_uid=f"1.9.{index}", z_index=0, z_position=0, dicom_file="x")
        review = Review.objects.create(series=series, ai_preannotation=preannotated)
        reading = Reading.objects.create(review=review, role="reader_1", user=readers[index % 2], state="submitted",
                                         preannotated_from=[7] if preannotated else [])  # fmt: skip
        Reading.objects.create(review=review, role="adjudicator", user=adjudicator, state="submitted")
        SliceReadingTime.objects.create(reading=reading, slice=slice_, active_ms=seconds * 1000, visits=3)
        ConsensusAgreement.objects.create(reading=reading, figures={"dice_combined": dice, "dice_ggo": dice / 2})
        involvement(series, "reader_1", 4.0 + index, 2.0)
        involvement(series, "consensus", 5.0 + index, -2.5)  # GGO negative: numbers are never quoted
        made.append((reading, seconds, dice))
    return made


def test_the_ai_effect_gives_the_ratios_of_medians_with_their_intervals(seeded_readings, admin_client, make_user,
                                                                       client_for):  # fmt: skip
    answer = admin_client.get("/api/v1/statistics/ai-effect/")
    assert answer.status_code == 200, answer.content
    effect = answer.json()
    true_time_ratio = stdlib.median(s for s, _ in WITH_AI) / stdlib.median(s for s, _ in WITHOUT_AI)
    assert true_time_ratio == pytest.approx(0.4)
    assert effect["time_ratio"]["ratio"] == pytest.approx(true_time_ratio, rel=1e-12)
    assert effect["time_ratio"]["ci_low"] < true_time_ratio < effect["time_ratio"]["ci_high"]
    assert effect["time_ratio"]["ci_high"] < 1  # clearly faster with the model's labels
    assert (effect["time_ratio"]["n_numerator"], effect["time_ratio"]["n_denominator"]) == (7, 7)
    true_dice_ratio = stdlib.median(d for _, d in WITH_AI) / stdlib.median(d for _, d in WITHOUT_AI)
    assert effect["dice_ratio"]["ratio"] == pytest.approx(true_dice_ratio, rel=1e-12)
    assert effect["dice_ratio"]["ci_low"] < true_dice_ratio < effect["dice_ratio"]["ci_high"]
    assert effect["with_preannotation"]["median_active_ms"] == 40_000
    assert effect["without_preannotation"] == {"readings": 7, "timed": 7, "median_active_ms": 100_000,
                                               "with_consensus": 7, "median_dice_with_consensus": 0.70}  # fmt: skip
    assert "2.8x" in effect["anchor"]
    for role in ("reader", "clinician", "adjudicator"):
        assert client_for(make_user(role)).get("/api/v1/statistics/ai-effect/").status_code == 403


def test_the_readings_export_is_one_csv_row_per_reading(seeded_readings, admin_client):
    answer = admin_client.get("/api/v1/exports/readings.csv")
    assert answer.status_code == 200 and answer["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.content.decode())))
    assert len(rows) == len(seeded_readings)
    by_series = {int(row["series_id"]): row for row in rows}
    for reading, seconds, dice in seeded_readings:
        row = by_series[reading.review.series_id]
        assert row["role"] == "reader_1" and int(row["total_active_ms"]) == seconds * 1000
        assert row["preannotated"] == ("true" if reading.preannotated_from else "false")
        assert float(row["dice_combined_with_consensus"]) == dice
        own = Involvement.objects.get(series_id=reading.review.series_id, source="reader_1")
        assert float(row["reader_total_pct"]) == own.total_pct
        assert float(row["consensus_ggo_pct"]) == -2.5
        assert row["annotated_slices"] == "0" and row["active_ms_per_annotated_slice"] == ""
    assert {row["reader"] for row in rows} == {"alice", "'=bob"}  # a formula-looking name is kept as text


@pytest.mark.django_db
def test_each_reader_is_compared_with_the_finalised_consensus():
    cast = build_cast("finalised")
    consensus = consensus_labels_volume(cast.review)
    for reading in (cast.r1, cast.r2):
        figures = ConsensusAgreement.objects.get(reading=reading).figures
        labels = reading_labels_volume(reading)
        both = np.logical_and(labels > 0, consensus > 0).sum()
        expected = 2 * both / ((labels > 0).sum() + (consensus > 0).sum())
        assert figures["dice_combined"] == pytest.approx(expected, rel=1e-12)
    response = client_of(cast.users["admin"]).get("/api/v1/statistics/ai-effect/").json()
    assert response["without_preannotation"]["with_consensus"] == 2
