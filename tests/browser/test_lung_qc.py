"""The lungs' method and QC where people read the numbers: the series page's Lungs panel and the patient
page's visit table, chart marker and table of all figures.

Three phantom visits; the real worker computes their lung masks (lung3d, the default); an admin
recomputes the first visit with mader2d through the API (dense lung left out: flagged), and the third
visit's masks are given 10 % non-lung air (flagged). What the pages show is held against the API's own
figures, each QC figure with its own flag. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import re

import pytest
from django.db.models import F

from ildplatform import services
from ildplatform.models import Job
from inference import services as inference_services
from inference.models import LungMask
from tests.review_fixtures import wait_for_series_jobs

from .conftest import import_phantom_patient
from .helpers import AXIAL, api_get, api_post, go_to_slice, label_colour, overlay_pixels, painted, wait_viewer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(600)]

PASSWORD = "pass-word-1"
SLICES = 8
# The Lungs panel's QC rows: td test id, span test id, the summary's field prefix, the alert sentence's test id.
QC_FIGURES = (
    ("lung-dense-missed", "dense-missed", "dense_missed", "qc-dense-missed"),
    ("lung-non-lung-air", "non-lung-air", "non_lung_air", "qc-non-lung-air"),
)
NOT_COMPUTED = "not computed (recompute the lung masks)"
BEING_COMPUTED = "being computed"


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
    alert = panel.get_by_test_id("lung-qc-alert")
    for testid, figure_id, field, sentence_id in QC_FIGURES:
        cell = panel.get_by_test_id(testid)
        text, flagged = cell.inner_text(), summary[f"{field}_flag"]
        assert cell.get_by_test_id(figure_id).get_attribute("data-flag") == ("1" if flagged else "0"), testid
        assert ("⚠" in text) == flagged, (testid, text)
        assert alert.get_by_test_id(sentence_id).count() == (1 if flagged else 0), sentence_id
        if summary[f"{field}_ml"] is None:  # still being computed, or masks stored before the figure existed
            assert text == (BEING_COMPUTED if summary["masks_computing"] else NOT_COMPUTED), (testid, text)
            assert not flagged, testid
            continue
        value, rounding = shown_ml(text)
        assert abs(value - summary[f"{field}_ml"]) <= rounding + 1e-9, (testid, value, summary[f"{field}_ml"])
        assert f"({summary[f'{field}_fraction'] * 100:.1f} %)" in text, (testid, text)
    assert summary["qc_flag"] == (summary["dense_missed_flag"] or summary["non_lung_air_flag"])
    if summary["qc_flag"]:
        assert alert.is_visible() and "⚠" in alert.inner_text()
        assert "Check the lung mask" in alert.inner_text()
    else:
        assert alert.count() == 0
    assert_readable_in(panel, ["lung-right_lung", "lung-left_lung", "lung-total", "lung-extent",
                               "lung-dense-missed", "lung-non-lung-air"])  # fmt: skip
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
    # Switched on, the overlay is fetched for the slice on screen and (for the reformats) for every slice.
    with admin.expect_response(lambda response: response.url.endswith("/slices/0/lung-mask")) as missing:
        admin.get_by_test_id("show-lung").check()
        go_to_slice(admin, 0)
    assert missing.value.status == 404
    api_post(admin, f"series/{third.pk}/lung/", {"method": "lung3d"})
    wait_for_series_jobs(third)
    admin.wait_for_selector("[data-testid=lung-panel][data-state='ready'][data-method='lung3d']")
    # The lung overlay is fetched again once the masks are complete: slice 0 now shows its lung.
    assert api_get(admin, f"series/{third.pk}/lung/").json()["lung_slices"][0] == 0
    admin.wait_for_selector(f"{AXIAL} canvas.overlay[data-z='0'][data-layers~='lung']")
    assert painted(overlay_pixels(admin), label_colour(admin, "lung", 1)).sum() > 100
    store_reader_involvement(visits)

    # -- QC limit between the two methods' figures: mader2d leaves dense pathology out, lung3d takes it in
    missed = {s.pk: api_get(admin, f"series/{s.pk}/lung/").json()["dense_missed_fraction"] for s in (first, second)}
    assert missed[first.pk] > missed[second.pk], missed
    settings.LUNG_QC_DENSE_MISSED_LIMIT = (missed[first.pk] + missed[second.pk]) / 2
    # -- non-lung air: the third visit's masks get 10 % pure gas pockets (as a mask taking in the stomach would)
    LungMask.objects.filter(slice__series=third).update(gas_pocket_pixels=F("lung_pixels") / 10)

    # -- series pages: method, volumes, apex-base slices and dense lung left out, as the API has them
    open_lungs(admin, live_server, second)
    summary = assert_panel_matches_api(admin, second)
    assert summary["method"] == "lung3d" and not summary["qc_flag"] and summary["non_lung_air_ml"] is not None
    assert "3-D, includes dense pathology" in admin.get_by_test_id("lung-panel").inner_text()
    admin.screenshot(path=str(artifacts / "series-lungs-lung3d.png"))
    open_lungs(admin, live_server, first)
    summary = assert_panel_matches_api(admin, first)
    assert summary["method"] == "mader2d" and summary["dense_missed_flag"] and summary["qc_flag"]
    assert "the paper's 2-D mask" in admin.get_by_test_id("lung-panel").inner_text()
    assert "dense lung (-750 to -100 HU)" in admin.get_by_test_id("lung-qc-alert").inner_text()
    admin.screenshot(path=str(artifacts / "series-lungs-mader2d-flagged.png"))
    open_lungs(admin, live_server, third)
    summary = assert_panel_matches_api(admin, third)
    assert summary["non_lung_air_flag"] and not summary["dense_missed_flag"], summary
    assert 0.09 < summary["non_lung_air_fraction"] <= 0.1, summary
    panel = admin.get_by_test_id("lung-panel")
    assert panel.get_by_test_id("lung-non-lung-air").get_by_test_id("non-lung-air").get_attribute("data-flag") == "1"
    assert panel.get_by_test_id("lung-dense-missed").get_by_test_id("dense-missed").get_attribute("data-flag") == "0"
    air_sentence = panel.get_by_test_id("lung-qc-alert").get_by_test_id("qc-non-lung-air").inner_text()
    assert "non-lung air" in air_sentence and f"{summary['non_lung_air_fraction'] * 100:.1f} %" in air_sentence
    admin.screenshot(path=str(artifacts / "series-lungs-non-lung-air-flagged.png"))

    # -- the clinician's patient page: method and QC per visit, the method change marked on the charts
    clinician = open_session("clin", PASSWORD)
    clinician.goto(f"{live_server.url}/patients/{first.visit.patient_id}/")
    clinician.wait_for_selector("#app[data-ready='1']")
    # (method, dense lung left out flagged, non-lung air flagged)
    expected = {first: ("mader2d", True, False), second: ("lung3d", False, False), third: ("lung3d", False, True)}
    for series, (method, dense_flagged, air_flagged) in expected.items():
        summary = api_get(clinician, f"series/{series.pk}/lung/").json()
        assert (summary["dense_missed_flag"], summary["non_lung_air_flag"]) == (dense_flagged, air_flagged), summary
        cell = visit_lung_cell(clinician, series)
        assert cell.get_by_test_id("lung-method").inner_text() == method
        for testid, flagged, words in (
            ("dense-missed", dense_flagged, "left out"),
            ("non-lung-air", air_flagged, "non-lung air"),
        ):
            figure = cell.get_by_test_id(testid)
            text, fraction = figure.inner_text(), summary[f"{testid.replace('-', '_')}_fraction"]
            assert f"{fraction * 100:.1f} % {words}" in text, (testid, text)
            assert figure.get_attribute("data-flag") == ("1" if flagged else "0"), testid
            assert ("⚠" in text) == flagged and ("check mask" in text) == flagged, (testid, text)
    assert_method_change_marked(clinician, first, second)
    clinician.locator("details summary", has_text="All involvement figures").click()
    methods = clinician.locator("[data-testid=all-figures] [data-testid=figure-lung-method]").all_inner_texts()
    assert sorted(methods) == ["lung3d", "lung3d", "mader2d"]
    clinician.screenshot(path=str(artifacts / "patient-lung-qc.png"), full_page=True)

    # -- masks stored before the non-lung air figure existed: unknown, not zero, and not flagged
    LungMask.objects.filter(slice__series=second, slice__z_index=0).update(gas_pocket_pixels=None)
    open_lungs(admin, live_server, second)
    summary = assert_panel_matches_api(admin, second)
    assert summary["non_lung_air_ml"] is None and summary["non_lung_air_fraction"] is None
    assert admin.get_by_test_id("lung-non-lung-air").inner_text() == NOT_COMPUTED
    admin.screenshot(path=str(artifacts / "series-lungs-non-lung-air-unknown.png"))
    clinician.reload()
    clinician.wait_for_selector("#app[data-ready='1']")
    air = visit_lung_cell(clinician, second).get_by_test_id("non-lung-air")
    assert air.inner_text() == "–" and air.get_attribute("data-flag") == "0"
    assert visit_lung_cell(clinician, third).get_by_test_id("non-lung-air").get_attribute("data-flag") == "1"
    clinician.get_by_test_id("visits").screenshot(path=str(artifacts / "patient-visits-non-lung-air-unknown.png"))

    # -- masks stored, their QC still being computed by the running lung masks job: said so, never as 0
    LungMask.objects.filter(slice__series=second, slice__z_index=1).update(dense_missed_pixels=None)
    # The row alone, as a worker that is running it holds it (no task sent: nothing here may finish it).
    Job.objects.create(kind=inference_services.LUNG_MASKS_JOB, series=second, state=Job.State.RUNNING)
    running = Job.objects.get(series=second, state=Job.State.RUNNING)
    open_lungs(admin, live_server, second, state="computing")
    summary = assert_panel_matches_api(admin, second)
    assert summary["masks_computing"] and summary["dense_missed_fraction"] is None, summary
    assert not summary["dense_missed_flag"] and not summary["non_lung_air_flag"], summary
    for testid in ("lung-dense-missed", "lung-non-lung-air"):
        assert admin.get_by_test_id(testid).inner_text() == BEING_COMPUTED, testid
    admin.screenshot(path=str(artifacts / "series-lungs-qc-being-computed.png"))
    # The job stores the figures and ends: the panel, polling, shows them without a reload.
    LungMask.objects.filter(slice__series=second).update(dense_missed_pixels=0, gas_pocket_pixels=0)
    Job.objects.filter(pk=running.pk).update(state=Job.State.DONE)
    admin.wait_for_selector("[data-testid=lung-panel][data-state='ready']")
    summary = assert_panel_matches_api(admin, second)
    assert summary["dense_missed_fraction"] is not None and summary["non_lung_air_ml"] == 0.0, summary


def visit_lung_cell(page, series):
    return page.locator(f"[data-testid=visits] tr[data-visit='{series.visit_id}']").get_by_test_id("visit-lung")


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
