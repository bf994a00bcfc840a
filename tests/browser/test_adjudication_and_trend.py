"""The reading room (issue 12), the adjudicator's and the clinician's side, at 1366x768.

Adjudication: the disagreement legend is the server's label table and the map drawn for a known pair of
reader masks is the server's; in edit mode the slice list and Finalise stay on screen and the
disagreement layer is off. Patient: the y ticks are nice numbers, a chart point opens its visit's series
with the source's overlay; that series page shows the visit's involvement and compares with the
previous visit side by side. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from annotations import services as review_services
from annotations.agreement import disagreement_map
from ildplatform import labelmaps, services
from ildplatform.dicom_import import SourceFile
from ildplatform.models import Series
from inference.models import Involvement
from tests.dicom_factory import ct_series, to_bytes
from tests.review_fixtures import reader_1_labels, reader_2_labels, wait_for_series_jobs

from .conftest import import_phantom_patient
from .helpers import AXIAL, api_get, bounding_box, on_screen, overlay_pixels, painted, wait_viewer
from .test_review_journey import finish_review_by_services

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(600)]

PASSWORD = "pass-word-1"
DISAGREEING_SLICE = 1
NICE_MANTISSAS = (1, 2, 2.5, 5)


def make_users() -> dict:
    roles = {"boss": "admin", "r1": "reader", "r2": "reader", "adj": "adjudicator", "clin": "clinician"}
    return {name: services.user_create(username=name, role=role, password=PASSWORD) for name, role in roles.items()}


@pytest.fixture
def submitted_review():
    return submitted_series(make_users())


def submitted_series(users: dict) -> Series:
    """A 4-slice series both readers submitted: reader 1's reticulation and reader 2's GGO on slice 1."""
    sources = [SourceFile(f"s{i}.dcm", to_bytes(d)) for i, d in enumerate(ct_series(4, seed="adjudication"))]
    series = Series.objects.get(pk=services.series_import(sources=sources).series[0].series_id)
    wait_for_series_jobs(series)
    review = review_services.review_assign(series=series, reader_1=users["r1"], reader_2=users["r2"],
                                           adjudicator=users["adj"], by=users["boss"])  # fmt: skip
    for role, labels in (("reader_1", reader_1_labels()), ("reader_2", reader_2_labels())):
        reading = review.readings.get(role=role)
        review_services.mask_save(reading=reading, z_index=DISAGREEING_SLICE, png=labelmaps.encode_png(labels),
                                  if_match=0, user=reading.user)  # fmt: skip
        review_services.reading_submit(reading=reading, user=reading.user)
    wait_for_series_jobs(series)  # the agreement
    return series


def open_adjudication(open_session, live_server, series):
    page = open_session("adj", PASSWORD)
    page.goto(f"{live_server.url}/adjudicate/{series.pk}/")
    wait_viewer(page)
    page.wait_for_selector("[data-testid=slice-list] li")
    page.locator(f"[data-testid=slice-list] button[data-z='{DISAGREEING_SLICE}']").click()
    page.wait_for_selector(f"{AXIAL} canvas.overlay[data-z='{DISAGREEING_SLICE}'][data-layers~='disagreement']")
    return page


def test_disagreement_legend_and_map_are_the_servers(submitted_review, open_session, live_server):
    page = open_adjudication(open_session, live_server, submitted_review)
    table = api_get(page, "labels/").json()["disagreement"]
    assert [label["value"] for label in table] == [1, 2, 3, 4, 5]
    entries = page.locator("[data-legend=disagreement] [data-value]")
    assert entries.count() == len(table)
    for index, label in enumerate(table):
        entry = entries.nth(index)
        assert entry.get_attribute("data-value") == str(label["value"])
        assert entry.inner_text().strip() == label["name"]
        colour = entry.locator(".swatch").evaluate("node => getComputedStyle(node).backgroundColor")
        assert colour == "rgb({}, {}, {})".format(*(int(label["colour"][i : i + 2], 16) for i in (1, 3, 5)))
        box = entry.bounding_box()
        panel = page.locator("aside.panel").bounding_box()
        assert box["x"] >= panel["x"] and box["x"] + box["width"] <= panel["x"] + panel["width"], label["name"]
    # The map drawn on slice 1: each value where the definition puts it, in the table's colour.
    rgba = overlay_pixels(page)
    expected = disagreement_map(reader_1_labels(), reader_2_labels())  # the server's definition
    assert set(np.unique(expected)) == {0, 1, 2, 3}
    for label in table:
        colour = tuple(int(label["colour"][i : i + 2], 16) for i in (1, 3, 5))
        shown = painted(rgba, colour)
        if not (expected == label["value"]).any():
            assert not shown.any(), label["name"]
            continue
        want = on_screen(page, bounding_box(expected == label["value"]))
        got = bounding_box(shown)
        assert all(abs(a - b) <= 2 for a, b in zip(got, want, strict=True)), (label["name"], got, want)
    # Areas in cm² from the series' pixel spacing.
    geometry = api_get(page, f"series/{submitted_review.pk}/").json()
    cm2 = int((expected > 0).sum()) * geometry["pixel_spacing_row"] * geometry["pixel_spacing_column"] / 100
    row = page.locator(f"[data-testid=slice-list] button[data-z='{DISAGREEING_SLICE}']").inner_text()
    assert f"{cm2:.2f} cm²" in row and " px" not in row, row
    explained = (page.get_by_test_id("agreement-figures").get_attribute("title") or "").replace(" ", "")
    assert "Dice=2|A∩B|/(|A|+|B|)" in explained and "kappa" in explained.lower()


def test_edit_mode_fits_the_screen_and_hides_the_disagreement(submitted_review, open_session, live_server, artifacts):
    page = open_adjudication(open_session, live_server, submitted_review)
    edit_key = page.get_by_test_id("decide-edited").locator("kbd").inner_text()
    assert edit_key.lower() != "e", "E is the eraser for the readers"
    page.get_by_test_id("viewport").focus()
    page.keyboard.press(edit_key.lower())
    page.wait_for_selector(f"{AXIAL} canvas.overlay[data-z='{DISAGREEING_SLICE}'][data-layers~='edit']")
    layers = page.locator(f"{AXIAL} canvas.overlay").get_attribute("data-layers").split()
    assert "disagreement" not in layers, layers
    page.screenshot(path=str(artifacts / "adjudication-edit.png"))
    height = page.viewport_size["height"]
    for testid in ("finalise", "slice-list", "save-edit"):
        box = page.get_by_test_id(testid).bounding_box()
        assert box and box["y"] >= 0 and box["y"] + box["height"] <= height, (testid, box)
    # The help says the same key.
    page.keyboard.press("Escape")
    page.wait_for_selector(f"{AXIAL} canvas.overlay[data-layers~='disagreement']")
    page.keyboard.press("?")
    assert page.get_by_test_id("help").locator(f"kbd:text-is('{edit_key}')").count() == 1


# --- the clinician -------------------------------------------------------------------------------------


@pytest.fixture
def two_visits(tmp_path):
    """A patient with two visits, each read, adjudicated and finalised (consensus involvement)."""
    users = make_users()
    visits = import_phantom_patient(tmp_path / "phantoms", visits=2, slices=8)
    for series, truth, _ in visits:
        wait_for_series_jobs(series)
        finish_review_by_services(series, truth, users)
    return [series for series, _, _ in visits]


def is_nice(step: float) -> bool:
    exponent = np.floor(np.log10(step))
    return any(abs(step / 10**exponent - m) < 1e-6 for m in NICE_MANTISSAS)


def test_trend_ticks_points_and_comparison(two_visits, open_session, live_server, artifacts):
    first, second = two_visits
    page = open_session("clin", PASSWORD)
    page.goto(f"{live_server.url}/patients/{first.visit.patient_id}/")
    page.wait_for_selector("#app[data-ready='1']")
    for chart in ("chart-total_pct", "chart-pft"):
        ticks = [float(t) for t in page.locator(f"[data-testid={chart}] [data-tick]").all_text_contents()]
        assert len(ticks) >= 3 and ticks[0] == 0, (chart, ticks)
        steps = np.diff(ticks)
        assert np.allclose(steps, steps[0]) and is_nice(steps[0]), (chart, ticks)
    page.screenshot(path=str(artifacts / "patient-trend-ticks.png"), full_page=True)
    # The consensus point of the second visit, by keyboard: its series with the consensus overlay.
    point = page.locator(f"[data-testid=chart-total_pct] [data-testid='point-consensus-{second.visit_id}']")
    point.focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf"/series/{second.pk}/\?overlay=consensus$"))
    wait_viewer(page)
    page.wait_for_selector(f"{AXIAL} canvas.overlay[data-layers~='consensus']")
    # The visit's involvement in the side panel, as stored.
    stored = Involvement.objects.get(visit=second.visit, source="consensus")
    figures = page.get_by_test_id("visit-involvement")
    figures.locator("[data-source=consensus]").wait_for()
    assert f"{stored.total_pct:.1f}" in figures.locator("[data-source=consensus]").inner_text()
    # Side by side with the previous visit, at the same relative slice, following the scrolling.
    page.get_by_test_id("compare-previous").check()
    compare = page.locator("[data-testid=compare] [data-testid=viewport][data-ready='1']")
    compare.wait_for()
    assert page.get_by_test_id("compare").get_attribute("data-series") == str(first.pk)
    main = page.locator(".stage-main [data-testid=viewport]")
    main.focus()
    for _ in range(2):
        page.keyboard.press("ArrowDown")
    z = int(main.get_attribute("data-slice"))
    want = round(z / (second.slice_count - 1) * (first.slice_count - 1))
    page.wait_for_selector(f"[data-testid=compare] [data-testid=viewport][data-slice='{want}']")
    page.wait_for_selector(f"[data-testid=compare] canvas.overlay[data-z='{want}'][data-layers~='consensus']")
    page.screenshot(path=str(artifacts / "series-compare.png"))
