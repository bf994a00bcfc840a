"""Reader workspace details: a save conflict keeps the reader's strokes; windows and help on the keyboard."""

from __future__ import annotations

import numpy as np
import pytest

from annotations import services as review_services
from ildplatform import labelmaps, services
from tests.review_fixtures import wait_for_series_jobs

from .conftest import import_phantom_patient
from .helpers import go_to_slice, latest_labels, stroke, versions, wait_saved, wait_viewer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]

PASSWORD = "pass-word-1"


@pytest.fixture
def reading(tmp_path):
    admin = services.user_create(username="boss", role="admin", password=PASSWORD)
    r1 = services.user_create(username="r1", role="reader", password=PASSWORD)
    r2 = services.user_create(username="r2", role="reader", password=PASSWORD)
    adj = services.user_create(username="adj", role="adjudicator", password=PASSWORD)
    [(series, _, _)] = import_phantom_patient(tmp_path / "phantoms", visits=1, slices=4)
    wait_for_series_jobs(series)
    review = review_services.review_assign(series=series, reader_1=r1, reader_2=r2, adjudicator=adj, by=admin)
    return review.readings.get(role="reader_1")


def test_conflicting_save_shows_a_message_and_keeps_the_readers_strokes(reading, open_session, live_server, artifacts):
    page = open_session("r1", PASSWORD)
    page.goto(f"{live_server.url}/read/{reading.pk}/")
    wait_viewer(page)
    go_to_slice(page, 2)
    # Meanwhile the same slice is saved elsewhere (another tab): the page still holds version 0.
    elsewhere = np.zeros((reading.review.series.rows, reading.review.series.columns), dtype=np.uint8)
    elsewhere[10:20, 10:20] = 2
    review_services.mask_save(reading=reading, z_index=2, png=labelmaps.encode_png(elsewhere), if_match=0,
                              user=reading.user)  # fmt: skip
    stroke(page, [(200, 250), (260, 250)])
    conflict = page.get_by_test_id("conflict")
    conflict.wait_for(state="visible")
    assert "changed elsewhere" in conflict.inner_text()
    painted_on_page = page.evaluate("() => ildViewer.masks.slices.get(2).labels.reduce((n, v) => n + (v === 1), 0)")
    assert painted_on_page > 100, "the reader's strokes are kept on screen"
    assert versions(reading, 2) == 1 and (latest_labels(reading, 2) == elsewhere).all()
    page.screenshot(path=str(artifacts / "reader-conflict.png"))

    page.get_by_test_id("keep-mine").click()
    wait_saved(page)
    assert conflict.is_hidden()
    assert versions(reading, 2) == 2
    saved = latest_labels(reading, 2)
    assert (saved == 1).sum() == painted_on_page and not (saved == 2).any()


def test_windows_and_shortcut_help_work_from_the_keyboard(reading, open_session, live_server):
    page = open_session("r1", PASSWORD)
    page.goto(f"{live_server.url}/read/{reading.pk}/")
    wait_viewer(page)
    info = page.locator(".viewport-info")
    assert "W1500 L-600" in info.inner_text()  # lung window by default
    page.keyboard.press("m")
    page.wait_for_function("() => document.querySelector('.viewport-info').textContent.includes('W350 L40')")
    page.keyboard.press("l")
    page.wait_for_function("() => document.querySelector('.viewport-info').textContent.includes('W1500 L-600')")
    page.keyboard.press("c")  # a custom window, typed
    page.keyboard.press("Control+a")
    page.keyboard.type("400")
    page.keyboard.press("Tab")
    page.keyboard.press("Control+a")
    page.keyboard.type("50")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelector('.viewport-info').textContent.includes('Custom W400 L50')")
    page.keyboard.press("?")
    help_panel = page.get_by_test_id("help")
    help_panel.wait_for(state="visible")
    assert "HU-threshold brush" in help_panel.inner_text() and "Ctrl+Z" in help_panel.inner_text()
    page.keyboard.press("Escape")
    help_panel.wait_for(state="hidden")
    page.keyboard.press("]")
    page.keyboard.press("]")
    assert page.locator("output[for=brush-size]").inner_text() == "8 px"


@pytest.mark.parametrize("render", ["gpu", "cpu"])
def test_both_rendering_paths_show_the_slice_and_the_mask_in_the_same_place(reading, open_session, live_server, render):
    """WebGL (SwiftShader here) and Cornerstone's CPU path: the overlay follows the image on both."""
    page = open_session("r1", PASSWORD)
    page.goto(f"{live_server.url}/read/{reading.pk}/?render={render}")
    wait_viewer(page)
    page.wait_for_selector("[data-testid=viewport][data-first-render-ms]")
    transform = page.evaluate("() => ildViewer.viewer.imageTransform()")
    box = page.locator("[data-testid=viewport]").bounding_box()
    # The 512-pixel image is fitted to the viewport's height and centred across its width.
    assert transform["a"] == pytest.approx(box["height"] / 512, rel=0.02)
    assert transform["e"] + 256 * transform["a"] == pytest.approx(box["width"] / 2, abs=2)
    go_to_slice(page, 1)
    stroke(page, [(250, 250), (262, 250)])
    wait_saved(page)
    saved = latest_labels(reading, 1)
    rows, columns = np.nonzero(saved)
    assert abs(np.median(columns) - 256) <= 2 and abs(np.median(rows) - 250.5) <= 2
