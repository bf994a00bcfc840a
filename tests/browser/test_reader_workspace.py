"""Reader workspace details: a save conflict keeps the reader's strokes; windows and help on the keyboard."""

from __future__ import annotations

import numpy as np
import pytest

from annotations import services as review_services
from ildplatform import labelmaps

from .conftest import assigned_reading
from .helpers import (
    AXIAL,
    api_get,
    bounding_box,
    centre_of,
    centre_on_screen,
    go_to_slice,
    image_box,
    label_colour,
    mask_versions,
    on_screen,
    overlay_pixels,
    painted,
    saved_mask,
    stroke,
    viewport_screenshot,
    wait_saved,
    wait_viewer,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]

PASSWORD = "pass-word-1"


@pytest.fixture
def reading(tmp_path):
    return assigned_reading(tmp_path / "phantoms", slices=4, password=PASSWORD)


def assert_same_span(shown, expected, tolerance: float = 2.0) -> None:
    assert np.allclose(shown, expected, atol=tolerance), f"shown at {shown}, expected at {expected}"


def test_conflicting_save_shows_a_message_and_keeps_the_readers_strokes(reading, open_session, live_server, artifacts):
    page = open_session("r1", PASSWORD)
    page.goto(f"{live_server.url}/read/{reading.pk}/")
    wait_viewer(page)
    go_to_slice(page, 2, showing="mask")
    # Meanwhile the same slice is saved elsewhere (another tab): the page still holds version 0.
    elsewhere = np.zeros((reading.review.series.rows, reading.review.series.columns), dtype=np.uint8)
    elsewhere[10:20, 10:20] = 2
    review_services.mask_save(reading=reading, z_index=2, png=labelmaps.encode_png(elsewhere), if_match=0,
                              user=reading.user)  # fmt: skip
    stroke(page, [(200, 250), (260, 250)])
    conflict = page.get_by_test_id("conflict")
    conflict.wait_for(state="visible")
    assert "changed elsewhere" in conflict.inner_text()
    assert page.get_by_test_id("save-status").get_attribute("data-state") == "dirty"
    # The reader's strokes stay on screen (reticulation's colour), the other version is not shown.
    overlay = overlay_pixels(page)
    strokes_on_screen = painted(overlay, label_colour(page, "patterns", 1))
    assert strokes_on_screen.sum() > 100, "the reader's strokes are kept on screen"
    assert not painted(overlay, label_colour(page, "patterns", 2)).any(), "the server's newer version is not drawn"
    assert mask_versions(page, reading.pk, 2) == 1 and (saved_mask(page, reading.pk, 2) == elsewhere).all()
    page.screenshot(path=str(artifacts / "reader-conflict.png"))

    page.get_by_test_id("keep-mine").click()
    wait_saved(page)
    assert conflict.is_hidden()
    assert mask_versions(page, reading.pk, 2) == 2
    saved = saved_mask(page, reading.pk, 2)
    assert (saved == 1).sum() > 100 and not (saved == 2).any()
    # What is stored is what was on screen: the same pixels, in the same place.
    assert_same_span(bounding_box(strokes_on_screen), on_screen(page, bounding_box(saved == 1)))


def test_windows_and_shortcut_help_work_from_the_keyboard(reading, open_session, live_server):
    page = open_session("r1", PASSWORD)
    page.goto(f"{live_server.url}/read/{reading.pk}/")
    wait_viewer(page)
    info = page.locator(f"{AXIAL} .viewport-info")
    assert "W1500 L-600" in info.inner_text()  # lung window by default
    page.keyboard.press("m")
    page.wait_for_function(
        f"(text) => document.querySelector('{AXIAL} .viewport-info').textContent.includes(text)", arg="W350 L40"
    )
    page.keyboard.press("l")
    page.wait_for_function(
        f"(text) => document.querySelector('{AXIAL} .viewport-info').textContent.includes(text)", arg="W1500 L-600"
    )
    page.keyboard.press("c")  # a custom window, typed
    page.keyboard.press("Control+a")
    page.keyboard.type("400")
    page.keyboard.press("Tab")
    page.keyboard.press("Control+a")
    page.keyboard.type("50")
    page.keyboard.press("Enter")
    page.wait_for_function(
        f"(text) => document.querySelector('{AXIAL} .viewport-info').textContent.includes(text)", arg="Custom W400 L50"
    )
    page.keyboard.press("?")
    help_panel = page.get_by_test_id("help")
    help_panel.wait_for(state="visible")
    assert "HU-threshold brush" in help_panel.inner_text() and "Ctrl+Z" in help_panel.inner_text()
    page.keyboard.press("Escape")
    help_panel.wait_for(state="hidden")
    page.keyboard.press("]")
    page.keyboard.press("]")
    assert page.locator("output[for=brush-size]").inner_text() == "8 px"
    # Pattern buttons and their shortcuts come from the server's label table.
    for label in api_get(page, "labels/").json()["patterns"]:
        page.keyboard.press(str(label["value"]))
        pressed = page.get_by_test_id(f"label-{label['value']}")
        assert pressed.get_attribute("aria-pressed") == "true" and label["name"] in pressed.inner_text()


@pytest.mark.parametrize("render", ["gpu", "cpu"])
def test_both_rendering_paths_show_the_slice_and_the_mask_in_the_same_place(reading, open_session, live_server, render):
    """WebGL (SwiftShader here) and Cornerstone's CPU path: the overlay follows the image on both."""
    page = open_session("r1", PASSWORD)
    page.goto(f"{live_server.url}/read/{reading.pk}/?render={render}")
    wait_viewer(page)
    page.wait_for_selector("[data-testid=viewport][data-first-render-ms]")
    # The axial alone across the stage (the reformats switched off), so that it is wider than tall: the
    # 512-pixel slice is fitted to the viewport's height and centred, black on either side; the lung window
    # shows the air around the body as dark grey, so the image's edges can be read off along a row.
    page.get_by_test_id("show-reformats").uncheck()
    page.reload()  # the switch is remembered; the viewer starts on the wide stage
    wait_viewer(page)
    page.wait_for_selector("[data-testid=viewport][data-first-render-ms]")
    go_to_slice(page, 1, showing="mask")
    left, top, scale = image_box(page)
    frame = page.locator(AXIAL).bounding_box()
    page.keyboard.press("o")  # masks off, to see the image alone
    across = viewport_screenshot(page)[int(frame["height"] // 2), :, 0].astype(float)
    page.keyboard.press("o")
    inside = np.nonzero(across > 24)[0]
    grey = np.median(np.r_[across[inside.min() + 2 : inside.min() + 12], across[inside.max() - 11 : inside.max() - 1]])
    covered = np.clip(across / grey, 0, 1)  # an edge pixel half covered by the image reads half the air's grey
    image_columns = np.nonzero(covered > 0.1)[0]
    image_left = image_columns.min() + 1 - covered[image_columns.min()]
    image_right = image_columns.max() + covered[image_columns.max()]
    assert_same_span((image_left, image_right), (left - frame["x"], left - frame["x"] + 512 * scale), tolerance=0.25)
    assert scale == pytest.approx(frame["height"] / 512, rel=0.01)

    stroke(page, [(250, 250), (262, 250)])
    wait_saved(page)
    saved = saved_mask(page, reading.pk, 1)
    assert saved.any(), "the stroke was saved"
    rows, columns = np.nonzero(saved)
    assert abs(np.median(columns) - 256) <= 2 and abs(np.median(rows) - 250.5) <= 2
    # ... and the overlay draws the stored pixels where the image shows them, to a fraction of a pixel.
    shown = painted(overlay_pixels(page), label_colour(page, "patterns", 1))
    assert_same_span(bounding_box(shown), on_screen(page, bounding_box(saved == 1)))
    assert_same_span(centre_of(shown), centre_on_screen(page, saved == 1), tolerance=0.25)
