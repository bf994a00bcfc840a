"""The lungs' method and QC where people read the numbers: the series page's Lungs panel and the patient
page's visit table, chart marker and table of all figures.

Three phantom visits; the real worker computes their lung masks (lung3d, the default); an admin
recomputes the first visit with mader2d through the API. What the pages show is held against the
API's own figures. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import re

import pytest

from ildplatform import services
from inference import services as inference_services
from inference.models import LungMask
from tests.review_fixtures import wait_for_series_jobs

from .conftest import import_phantom_patient
from .helpers import api_get, api_post, go_to_slice, label_colour, overlay_pixels, painted, wait_viewer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(600)]

PASSWORD = "pass-word-1"
SLICES = 8


@pytest.fixture
def patient(tmp_path):
    """Admin and clinician; three visits, the first recomputed with mader2d, reader 1's involvement on each."""
    users = {
        "boss": services.user_create(username="boss", role="admin", password=PASSWORD),
        "clin": services.user_create(username="clin", role="clinician", password=PASSWORD),
    }
    visits = import_phantom_patient(tmp_path / "phantoms", visits=3, slices=SLICES)
    for series, _, _ in visits:
        wait_for_series_jobs(series)
    return users, visits


def store_reader_involvement(visits) -> None:
    for series, truth, _ in visits:
        row = inference_services.involvement_store(series=series, source="reader_1", labels=truth)
        assert row is not None, f"series {series.pk} has no complete lung mask"


def shown_ml(text: str) -> tuple[float, float]:
    """The figure of a '123.4 mL' text and half its last shown digit (what rounding may move)."""
    match = re.search(r"(\d+(?:\.(\d+))?) mL", text)
    assert match, f"no mL figure in {text!r}"
    return float(match.group(1)), 0.5 * 10 ** -len(match.group(2) or "")


def open_lungs(page, live_server, series, state: str = "ready"):
    page.goto(f"{live_server.url}/series/{series.pk}/")
    wait_viewer(page)
    return page.wait_for_selector(f"[data-testid=lung-panel][data-state='{state}']")


def assert_panel_matches_api(page, series) -> dict:
    summary = api_get(page, f"series/{series.pk}/lung/").json()
    panel = page.get_by_test_id("lung-panel")
    assert panel.get_attribute("data-method") == summary["method"]
    assert panel.get_by_test_id("lung-method").inner_text() == summary["method"]
    for testid, field in (("lung-right_lung", "right_lung_ml"), ("lung-left_lung", "left_lung_ml"),
                          ("lung-total", "lung_volume_ml")):  # fmt: skip
        value, rounding = shown_ml(panel.get_by_test_id(testid).inner_text())
        assert summary[field] > 0 and abs(value - summary[field]) <= rounding + 1e-9, (testid, value, summary[field])
    low, high = summary["lung_slices"]
    extent = panel.get_by_test_id("lung-extent").inner_text()
    assert re.sub(r"\s", "", extent) == f"slices{low + 1}–{high + 1}of{SLICES}", extent
    missed = panel.get_by_test_id("lung-dense-missed").inner_text()
    assert f"({summary['dense_missed_fraction'] * 100:.1f} %)" in missed
    alert = panel.get_by_test_id("lung-qc-alert")
    if summary["qc_flag"]:
        assert "⚠" in missed and alert.is_visible() and "⚠" in alert.inner_text()
        assert "Check the lung mask" in alert.inner_text()
    else:
        assert "⚠" not in missed and alert.count() == 0
    assert_readable_in(panel, ["lung-right_lung", "lung-left_lung", "lung-total", "lung-extent", "lung-dense-missed"])
    return summary


def assert_readable_in(panel, testids) -> None:
    """At 1366x768 each figure is drawn inside the panel, not cut off by its edge."""
    box = panel.bounding_box()
    for testid in testids:
        cell = panel.get_by_test_id(testid).bounding_box()
        assert box["x"] <= cell["x"] and cell["x"] + cell["width"] <= box["x"] + box["width"] + 0.5, testid


def test_lung_method_and_qc_on_series_and_patient_pages(patient, open_session, live_server, artifacts, settings):
    users, visits = patient
    (first, _, _), (second, _, _), (third, _, _) = visits
    admin = open_session("boss", PASSWORD)

    # -- the admin recomputes the first visit with the paper's mader2d; the worker runs the job
    job = api_post(admin, f"series/{first.pk}/lung/", {"method": "mader2d"}).json()
    assert job["kind"] == "lung_masks"
    wait_for_series_jobs(first)

    # -- masks still being computed: the panel says so, and follows the job until they are complete
    LungMask.objects.filter(slice__series=third, slice__z_index=0).delete()
    open_lungs(admin, live_server, third, state="computing")
    assert "still being computed (7 of 8 slices)" in admin.get_by_test_id("lung-computing").inner_text()
    admin.screenshot(path=str(artifacts / "series-lungs-computing.png"))
    admin.get_by_test_id("show-lung").check()
    with admin.expect_response(lambda response: response.url.endswith("/slices/0/lung-mask")) as missing:
        go_to_slice(admin, 0)
    assert missing.value.status == 404
    api_post(admin, f"series/{third.pk}/lung/", {"method": "lung3d"})
    wait_for_series_jobs(third)
    admin.wait_for_selector("[data-testid=lung-panel][data-state='ready'][data-method='lung3d']")
    # The lung overlay is fetched again once the masks are complete: slice 0 now shows its lung.
    assert api_get(admin, f"series/{third.pk}/lung/").json()["lung_slices"][0] == 0
    admin.wait_for_selector("canvas.overlay[data-z='0'][data-layers~='lung']")
    assert painted(overlay_pixels(admin), label_colour(admin, "lung", 1)).sum() > 100
    store_reader_involvement(visits)

    # -- QC limit between the two methods' figures: mader2d leaves dense pathology out, lung3d takes it in
    missed = {s.pk: api_get(admin, f"series/{s.pk}/lung/").json()["dense_missed_fraction"] for s in (first, second)}
    assert missed[first.pk] > missed[second.pk], missed
    settings.LUNG_QC_DENSE_MISSED_LIMIT = (missed[first.pk] + missed[second.pk]) / 2

    # -- series pages: method, volumes, apex-base slices and dense lung left out, as the API has them
    open_lungs(admin, live_server, second)
    summary = assert_panel_matches_api(admin, second)
    assert summary["method"] == "lung3d" and not summary["qc_flag"]
    assert "3-D, includes dense pathology" in admin.get_by_test_id("lung-panel").inner_text()
    admin.screenshot(path=str(artifacts / "series-lungs-lung3d.png"))
    open_lungs(admin, live_server, first)
    summary = assert_panel_matches_api(admin, first)
    assert summary["method"] == "mader2d" and summary["qc_flag"]
    assert "the paper's 2-D mask" in admin.get_by_test_id("lung-panel").inner_text()
    admin.screenshot(path=str(artifacts / "series-lungs-mader2d-flagged.png"))

    # -- the clinician's patient page: method and QC per visit, the method change marked on the charts
    clinician = open_session("clin", PASSWORD)
    clinician.goto(f"{live_server.url}/patients/{first.visit.patient_id}/")
    clinician.wait_for_selector("#app[data-ready='1']")
    expected = {first: ("mader2d", True), second: ("lung3d", False), third: ("lung3d", False)}
    for series, (method, flagged) in expected.items():
        row = clinician.locator(f"[data-testid=visits] tr[data-visit='{series.visit_id}']")
        cell = row.get_by_test_id("visit-lung")
        assert cell.get_by_test_id("lung-method").inner_text() == method
        dense = cell.get_by_test_id("dense-missed")
        assert dense.get_attribute("data-flag") == ("1" if flagged else "0")
        assert ("⚠" in dense.inner_text()) == flagged and ("check mask" in dense.inner_text()) == flagged
    assert_method_change_marked(clinician, first, second)
    clinician.locator("details summary", has_text="All involvement figures").click()
    methods = clinician.locator("[data-testid=all-figures] [data-testid=figure-lung-method]").all_inner_texts()
    assert sorted(methods) == ["lung3d", "lung3d", "mader2d"]
    clinician.screenshot(path=str(artifacts / "patient-lung-qc.png"), full_page=True)


def assert_method_change_marked(page, before, after) -> None:
    """One marker per involvement chart, between the two visits' points, labelled and with a tooltip."""
    charts = page.locator("svg[data-testid^='chart-']:not([data-testid='chart-pft'])")
    assert charts.count() >= 1
    for index in range(charts.count()):
        chart = charts.nth(index)
        markers = chart.locator("[data-testid=lung-method-change]")
        assert markers.count() == 1, f"chart {chart.get_attribute('data-testid')}: {markers.count()} markers"
        marker = markers.first
        assert (marker.get_attribute("data-from"), marker.get_attribute("data-to")) == ("mader2d", "lung3d")
        assert marker.locator("text").text_content() == "lung method: mader2d → lung3d"
        tooltip = marker.locator("title").text_content()
        assert f"mader2d ({before.visit.date})" in tooltip and f"lung3d ({after.visit.date})" in tooltip, tooltip
        xs = sorted(float(point.split(",")[0]) for point in
                    chart.locator("polyline[data-source='reader_1']").get_attribute("points").split())  # fmt: skip
        assert xs[0] < float(marker.locator("line").get_attribute("x1")) < xs[1]
    assert page.locator("svg[data-testid='chart-pft'] [data-testid=lung-method-change]").count() == 0
