"""What a change means: reader noise (MDC95 with its CI, inter-reader Bland-Altman) and Goh-Wells staging,
checked against computations of our own from the definitions (stdlib statistics, tabulated chi-square
quantiles), never against the code's own output."""

from __future__ import annotations

import datetime
import math
import statistics as stdlib

import numpy as np
import pytest

from ildplatform.models import Patient, Series, Visit
from inference import statistics
from inference.models import Involvement
from inference.staging import goh_wells_stage

# chi-square quantiles with 39 degrees of freedom, from a printed table (Abramowitz & Stegun 26.8)
CHI2_39_0975, CHI2_39_0025 = 58.120, 23.654


def test_mdc95_and_its_interval_follow_the_definition():
    rng = np.random.default_rng(7)
    reader_1 = rng.uniform(2, 40, 40)
    reader_2 = reader_1 - rng.normal(0.4, 1.5, 40)
    differences = [a - b for a, b in zip(reader_1, reader_2, strict=True)]
    sd = stdlib.stdev(differences)
    found = statistics.minimal_detectable_change(reader_1, reader_2)
    assert found["n"] == 40
    assert found["sd"] == pytest.approx(sd, rel=1e-12)
    assert found["sem"] == pytest.approx(sd / math.sqrt(2), rel=1e-12)
    assert found["mdc95"] == pytest.approx(1.96 * sd, rel=1e-12)
    assert found["mdc95_ci_low"] == pytest.approx(1.96 * sd * math.sqrt(39 / CHI2_39_0975), rel=1e-4)
    assert found["mdc95_ci_high"] == pytest.approx(1.96 * sd * math.sqrt(39 / CHI2_39_0025), rel=1e-4)
    bias, low, high = statistics.bland_altman(reader_1, reader_2)
    assert (bias, low, high) == pytest.approx((stdlib.mean(differences), stdlib.mean(differences) - 1.96 * sd,
                                               stdlib.mean(differences) + 1.96 * sd), rel=1e-12)  # fmt: skip


@pytest.mark.parametrize(
    ("extent", "fvc", "stage"),
    [
        (9.9, 69, "limited"), (9.9, 70, "limited"), (9.9, 71, "limited"),
        (10, 69, "extensive"), (10, 70, "limited"), (10, 71, "limited"),
        (20, 69, "extensive"), (20, 70, "limited"), (20, 71, "limited"),
        (20.1, 69, "extensive"), (20.1, 70, "limited"), (20.1, 71, "limited"),
        (30, 69, "extensive"), (30, 70, "limited"), (30, 71, "limited"),
        (30.1, 69, "extensive"), (30.1, 70, "extensive"), (30.1, 71, "extensive"),
        (15, None, "limited"), (20, None, "limited"), (20.1, None, "extensive"),
    ],
)  # fmt: skip
def test_goh_wells_stage_at_its_boundaries(extent, fvc, stage):
    found = goh_wells_stage(extent, fvc)
    assert found.stage == stage
    indeterminate = 10 <= extent <= 30
    assert ("indeterminate" in found.rule) == indeterminate
    assert ("FVC" in found.rule) == (indeterminate and fvc is not None) or "no FVC" in found.rule


def test_the_ratio_of_medians_covers_the_true_ratio():
    rng = np.random.default_rng(3)
    true_ratio = 1 / 2.8  # editing AI labels about 2.8x faster than drawing (Front Radiol 2023)
    with_ai = 100 * true_ratio * rng.lognormal(0, 0.25, 60)
    without_ai = 100 * rng.lognormal(0, 0.25, 60)
    found = statistics.median_ratio_with_bootstrap_ci(with_ai, without_ai, seed=1)
    assert found["ratio"] == pytest.approx(stdlib.median(with_ai) / stdlib.median(without_ai), rel=1e-12)
    assert found["ci_low"] < true_ratio < found["ci_high"]
    assert found["ci_low"] < found["ratio"] < found["ci_high"] and found["ci_high"] - found["ci_low"] < 0.15
    assert (found["n_numerator"], found["n_denominator"]) == (60, 60)


# ---------------------------------------------------------------- through the API


def make_series(patient: Patient, date: datetime.date, index: int, fvc: float | None = None, kernel: str = "B70f"):
    visit = Visit.objects.create(patient=patient, date=date, fvc_pct_pred=fvc)
    return Series.objects.create(
        visit=visit, study_uid=f"1.2.{index}", series_uid=f"1.2.{index}.1", rows=8, columns=8,
        pixel_spacing_row=1, pixel_spacing_column=1, slice_spacing=1, kernel=kernel, slice_count=1,
    )  # fmt: skip


def involvement(series: Series, source: str, reticulation: float, ggo: float) -> Involvement:
    return Involvement.objects.create(
        visit=series.visit, series=series, source=source, reticulation_pct=reticulation, ggo_pct=ggo,
        total_pct=reticulation + ggo, lung_volume_ml=4000, abnormal_ml=40 * (reticulation + ggo), qc_missed_fraction=0,
    )  # fmt: skip


@pytest.fixture
def read_twice(db):
    """12 series read by both readers with known differences (and 2 of another kernel)."""
    rng = np.random.default_rng(11)
    pairs = []
    for index in range(14):
        series = make_series(Patient.objects.create(pseudonym=f"N{index}"), datetime.date(2024, 1, 1), index,
                             kernel="B70f" if index < 12 else "STANDARD")  # fmt: skip
        reticulation, ggo = rng.uniform(1, 15), rng.uniform(1, 15)
        shift = rng.normal(0.3, 1.0, 2)
        involvement(series, "reader_1", reticulation, ggo)
        involvement(series, "reader_2", reticulation - shift[0], ggo - shift[1])
        pairs.append((reticulation, ggo, *shift))
    return pairs


def test_reader_noise_api_equals_the_definition(read_twice, make_user, client_for, settings):
    settings.READER_NOISE_MIN_SERIES = 10
    client = client_for(make_user("clinician"))
    answer = client.get("/api/v1/statistics/reader-noise/").json()
    ret_d = [p[2] for p in read_twice]
    ggo_d = [p[3] for p in read_twice]
    total_d = [a + b for a, b in zip(ret_d, ggo_d, strict=True)]
    for measure, differences in (("reticulation", ret_d), ("ggo", ggo_d), ("total", total_d)):
        band = answer["measures"][measure]
        assert band["n"] == 14 and band["estimable"]
        assert band["mdc95"] == pytest.approx(1.96 * stdlib.stdev(differences), rel=1e-9)
        assert band["bias"] == pytest.approx(stdlib.mean(differences), rel=1e-9)
        assert band["limit_high"] == pytest.approx(stdlib.mean(differences) + 1.96 * stdlib.stdev(differences))

    one_kernel = client.get("/api/v1/statistics/reader-noise/", {"kernel": "B70f"}).json()
    assert one_kernel["measures"]["ggo"]["n"] == 12
    assert one_kernel["measures"]["ggo"]["mdc95"] == pytest.approx(1.96 * stdlib.stdev(ggo_d[:12]), rel=1e-9)
    too_few = client.get("/api/v1/statistics/reader-noise/", {"kernel": "STANDARD"}).json()
    assert too_few["measures"]["total"] == {"n": 2, "estimable": False}


def test_a_patients_changes_are_marked_against_reader_noise_and_visits_staged(read_twice, make_user, client_for,
                                                                              settings):  # fmt: skip
    settings.READER_NOISE_MIN_SERIES = 10
    mdc95_total = 1.96 * stdlib.stdev([p[2] + p[3] for p in read_twice])
    patient = Patient.objects.create(pseudonym="FOLLOWED")
    visits = [make_series(patient, datetime.date(2024 + n, 3, 1), 100 + n, fvc=fvc) for n, fvc in
              enumerate([85, 68, None])]  # fmt: skip
    totals = [12.0, 12.0 + mdc95_total * 0.5, 12.0 + mdc95_total * 0.5 + mdc95_total * 1.5]
    assert 10 < totals[1] < totals[2] < 20  # all indeterminate: FVC decides, or the 20 % threshold without one
    for series, total in zip(visits, totals, strict=True):
        involvement(series, "consensus", total / 2, total / 2)
    client = client_for(make_user("clinician"))
    answer = client.get(f"/api/v1/patients/{patient.pk}/changes/").json()
    total_changes = [c for c in answer["changes"] if c["measure"] == "total" and c["source"] == "consensus"]
    assert [c["beyond_noise"] for c in total_changes] == [False, True]
    assert total_changes[1]["change_pct_points"] == pytest.approx(mdc95_total * 1.5)
    assert total_changes[0]["mdc95"] == pytest.approx(mdc95_total) and total_changes[0]["noise_n"] == 14

    settings.READER_NOISE_MIN_SERIES = 20
    answer = client.get(f"/api/v1/patients/{patient.pk}/changes/").json()
    assert {c["beyond_noise"] for c in answer["changes"]} == {None}
    assert not answer["noise"]["total"]["estimable"] and "mdc95" not in answer["noise"]["total"]

    staged = client.get(f"/api/v1/patients/{patient.pk}/staging/").json()
    assert [s["stage"] for s in staged] == ["limited", "extensive", "limited"]
    assert [s["fvc_pct_pred"] for s in staged] == [85, 68, None] and {s["source"] for s in staged} == {"consensus"}
    assert "quantitative" in staged[0]["note"]
    assert client.get("/api/v1/patients/999999/staging/").status_code == 404
