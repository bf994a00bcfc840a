"""The clinician's trend says what a change means: each consensus change marked beyond or within reader
noise (MDC95 and its n in the tooltip), 'not yet estimable' below the minimum n, and a Goh-Wells stage per
visit with its inputs. The figures come from seeded series with known reader differences."""

from __future__ import annotations

import datetime
import statistics as stdlib

import pytest

from ildplatform import services
from ildplatform.models import Patient
from tests.test_reader_noise import involvement, make_series

PASSWORD = "pass-word-1"


@pytest.fixture
def followed_patient(transactional_db):
    services.user_create(username="clin", role="clinician", password=PASSWORD)
    differences = [0.4, -0.9, 1.6, 0.2, -0.3, 1.1, -1.4, 0.8, 0.0, 2.1, -0.6, 0.5]
    for index, difference in enumerate(differences):
        series = make_series(Patient.objects.create(pseudonym=f"N{index}"), datetime.date(2024, 1, 1), index)
        involvement(series, "reader_1", 6.0 + index, 4.0)
        involvement(series, "reader_2", 6.0 + index - difference, 4.0)
    mdc95 = 1.96 * stdlib.stdev(differences)
    patient = Patient.objects.create(pseudonym="FOLLOWED")
    totals = [12.0, 12.0 + 0.5 * mdc95, 12.0 + 2.0 * mdc95]
    visits = [make_series(patient, datetime.date(2022 + n, 3, 1), 100 + n, fvc=fvc).visit
              for n, fvc in enumerate([85, 68, 90])]  # fmt: skip
    for visit, total in zip(visits, totals, strict=True):
        involvement(visit.series.get(), "consensus", total / 2, total / 2)
    return patient, visits, mdc95


def test_trend_marks_changes_against_reader_noise_and_stages_each_visit(followed_patient, open_session, live_server,
                                                                        artifacts, settings):  # fmt: skip
    patient, visits, mdc95 = followed_patient
    settings.READER_NOISE_MIN_SERIES = 10
    page = open_session("clin", PASSWORD)
    page.goto(f"{live_server.url}/patients/{patient.pk}/")
    page.wait_for_selector("#app[data-ready='1']")
    total_chart = page.get_by_test_id("chart-total_pct")
    markers = total_chart.get_by_test_id("noise-marker")
    assert markers.count() == 2
    assert [markers.nth(i).get_attribute("data-beyond") for i in range(2)] == ["false", "true"]
    tooltip = markers.nth(1).locator("title").text_content()
    assert "beyond reader noise" in tooltip and f"MDC95 {mdc95:.1f} pp from 12 series" in tooltip
    assert f"+{1.5 * mdc95:.1f} pp" in tooltip
    assert f"MDC95 of the total {mdc95:.1f} pp" in page.get_by_test_id("noise-legend").inner_text()
    stages = [page.get_by_test_id(f"stage-{visit.pk}") for visit in visits]
    assert [stage.inner_text() for stage in stages] == ["limited", "extensive", "limited"]
    assert "FVC 68" in stages[1].get_attribute("title") and "quantitative" in stages[1].get_attribute("title")
    page.screenshot(path=str(artifacts / "patient-reader-noise.png"), full_page=True)

    settings.READER_NOISE_MIN_SERIES = 20
    page.reload()
    page.wait_for_selector("#app[data-ready='1']")
    assert page.get_by_test_id("noise-marker").count() == 0
    assert "not yet estimable: 12 of 20" in page.get_by_test_id("noise-legend").inner_text()
