"""What the axial viewer shows around the image (position and thickness, orientation letters, HU under
the pointer, lengths in mm, brush size in mm), Ctrl+wheel zoom, and the reader's place kept across a
reload. Expected values come from the stored DICOM files read with pydicom, never from the viewer."""

from __future__ import annotations

import io
import re

import numpy as np
import pydicom
import pytest
from PIL import Image

from . import test_reader_workspace as workspace
from .helpers import (
    AXIAL,
    api_get,
    go_to_slice,
    label_colour,
    mask_versions,
    open_reading,
    overlay_pixels,
    page_point,
    painted,
    probe_at,
    probe_pixels,
    probe_text,
    stored_hu,
    stroke,
    wait_saved,
    wait_viewer,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]

# The reader workspace's fixture: reader 1's reading of a 4-slice phantom series.
reading = workspace.reading
PASSWORD = workspace.PASSWORD
SLICES = 4
# DICOM LPS: the letter each patient axis points to, negative then positive.
AXIS_LETTERS = (("R", "L"), ("A", "P"), ("F", "H"))


def stored_slice(page, reading, z: int) -> pydicom.Dataset:
    """Slice z's DICOM file as the server stores and serves it."""
    body = api_get(page, f"series/{reading.review.series_id}/slices/{z}/dicom").body()
    return pydicom.dcmread(io.BytesIO(body))


def mm_after(text: str, prefix: str, suffix: str) -> float:
    """The number written between prefix and suffix, a typographic minus read as one."""
    match = re.search(rf"{prefix}([−-]?\d+(?:\.\d+)?) {suffix}", text)
    assert match, f"no '{prefix}… {suffix}' in {text!r}"
    return float(match.group(1).replace("−", "-"))


def direction_letter(vector) -> str:
    axis = int(np.argmax(np.abs(vector)))
    return AXIS_LETTERS[axis][int(vector[axis] > 0)]


def wait_info(page, starts: str) -> str:
    page.wait_for_function(
        "([frame, starts]) => document.querySelector(`${frame} .viewport-info`).textContent.startsWith(starts)",
        arg=[AXIAL, starts],
    )
    return page.locator(AXIAL).locator(".viewport-info").inner_text()


def body_width(page) -> float:
    """Width in screen pixels of the body in a row through the chest, above the orientation letters: in
    the lung window the body wall (HU above -600) is bright, the lungs and the air around are dark."""
    screenshot = np.asarray(Image.open(io.BytesIO(page.locator(AXIAL).screenshot())).convert("L"))
    row = screenshot[int(screenshot.shape[0] * 0.4), :]
    columns = np.nonzero(row > 128)[0]
    return float(columns.max() - columns.min() + 1)


def test_info_line_and_orientation_letters_come_from_the_slice_header(reading, open_session, live_server):
    page = open_session("r1", PASSWORD)
    open_reading(page, live_server, reading)
    go_to_slice(page, 2)
    header = stored_slice(page, reading, 2)
    text = wait_info(page, "Slice 3 /")
    assert mm_after(text, "z ", "mm") == pytest.approx(float(header.ImagePositionPatient[2]), abs=0.006)
    assert mm_after(text, "· ", "mm thick") == pytest.approx(float(header.SliceThickness), abs=0.006)
    assert "W1500 L-600" in text
    # Another slice, another position: the line follows the slice on screen.
    go_to_slice(page, 3)
    assert mm_after(wait_info(page, "Slice 4 /"), "z ", "mm") == pytest.approx(
        float(stored_slice(page, reading, 3).ImagePositionPatient[2]), abs=0.006
    )

    row_cosines = np.array(header.ImageOrientationPatient[:3], dtype=float)
    column_cosines = np.array(header.ImageOrientationPatient[3:], dtype=float)
    expected = {
        "left": direction_letter(-row_cosines),
        "right": direction_letter(row_cosines),
        "top": direction_letter(-column_cosines),
        "bottom": direction_letter(column_cosines),
    }
    assert expected == {"left": "R", "right": "L", "top": "A", "bottom": "P"}  # a standard axial phantom
    for edge, letter in expected.items():
        marker = page.locator(AXIAL).get_by_test_id(f"orientation-{edge}")
        assert marker.inner_text() == letter, edge
        assert marker.evaluate("(node) => getComputedStyle(node).pointerEvents") == "none"
    # Each letter sits at its own edge of the viewport.
    frame = page.locator(AXIAL).bounding_box()
    left, right, top, bottom = (
        page.locator(AXIAL).get_by_test_id(f"orientation-{edge}").bounding_box()
        for edge in ("left", "right", "top", "bottom")
    )
    assert left["x"] - frame["x"] < 20 and frame["x"] + frame["width"] - (right["x"] + right["width"]) < 20
    assert frame["y"] + frame["height"] - (bottom["y"] + bottom["height"]) < 20
    # The top letter sits just below the info line, which runs along the top edge: they never overlap.
    info = page.locator(AXIAL).locator(".viewport-info").bounding_box()
    assert info["y"] + info["height"] <= top["y"] < frame["y"] + 40


def test_hu_probe_shows_the_stored_hu_and_position_of_the_pixel_under_the_pointer(reading, open_session, live_server):
    page = open_session("r1", PASSWORD)
    open_reading(page, live_server, reading)
    go_to_slice(page, 3)
    hu = stored_hu(stored_slice(page, reading, 3))
    # From air to soft tissue, pixels a probe one pixel off would read differently.
    chosen = probe_pixels(hu)
    for column, row in chosen:
        text = probe_at(page, column, row)
        assert text == f"({column}, {row}) {round(float(hu[row, column]))} HU"
    page.mouse.move(0, 0)
    page.locator(AXIAL).get_by_test_id("hu-probe").wait_for(state="hidden")


def test_length_tool_measures_millimetres_and_paints_nothing(reading, open_session, live_server):
    page = open_session("r1", PASSWORD)
    open_reading(page, live_server, reading)
    go_to_slice(page, 2, showing="mask")
    column_spacing = float(stored_slice(page, reading, 2).PixelSpacing[1])
    page.keyboard.press("d")
    assert page.get_by_test_id("tool-length").get_attribute("aria-pressed") == "true"
    start, end = (150, 256), (350, 256)
    page.mouse.move(*page_point(page, *start))
    page.mouse.down()
    page.mouse.move(*page_point(page, *end), steps=8)
    page.mouse.up()
    page.mouse.move(0, 0)
    page.wait_for_timeout(400)  # Cornerstone updates the length at most every 100 ms, the last one after
    length_text = page.locator("[data-testid=viewport] svg text", has_text=" mm")
    length_text.first.wait_for()
    measured = mm_after(length_text.first.text_content(), "", "mm")
    assert measured == pytest.approx((end[0] - start[0]) * column_spacing, abs=column_spacing)
    # Nothing painted, nothing to save.
    assert not painted(overlay_pixels(page), label_colour(page, "patterns", 1)).any()
    assert page.get_by_test_id("save-status").get_attribute("data-state") == "saved"
    assert mask_versions(page, reading.pk, 2) == 0
    # Back to the brush, the left button paints again.
    page.keyboard.press("b")
    stroke(page, [(250, 300), (262, 300)])
    wait_saved(page)
    assert mask_versions(page, reading.pk, 2) == 1


def test_ctrl_wheel_zooms_around_the_pointer_and_plain_wheel_scrolls(reading, open_session, live_server):
    page = open_session("r1", PASSWORD)
    open_reading(page, live_server, reading)
    go_to_slice(page, 2)
    viewport = page.get_by_test_id("viewport")

    def ctrl_wheel(delta_y: float) -> None:
        page.keyboard.down("Control")
        page.mouse.wheel(0, delta_y)
        page.keyboard.up("Control")
        page.wait_for_timeout(400)

    def pixel_under_pointer() -> tuple[int, int]:
        column, row = re.match(r"\((\d+), (\d+)\)", probe_text(page)).groups()
        return int(column), int(row)

    before = body_width(page)
    probe_at(page, 200, 300)  # off centre
    ctrl_wheel(-100)
    assert viewport.get_attribute("data-slice") == "2", "Ctrl+wheel does not scroll"
    column, row = pixel_under_pointer()
    assert abs(column - 200) <= 1 and abs(row - 300) <= 1, f"the pixel under the pointer stays: {probe_text(page)}"
    ctrl_wheel(100)
    assert body_width(page) == pytest.approx(before, rel=0.02), "back to the whole slice"
    ctrl_wheel(100)  # out again: the whole body stays in view, whatever the layout
    assert body_width(page) == pytest.approx(before / 1.2, rel=0.03), "the image is shown smaller"
    column, row = pixel_under_pointer()

    page.mouse.wheel(0, 100)
    page.wait_for_selector("[data-testid=viewport][data-slice='3']")
    page.wait_for_timeout(400)
    assert pixel_under_pointer() == (column, row), "a plain wheel does not zoom"


def test_brush_size_reads_in_millimetres(reading, open_session, live_server):
    page = open_session("r1", PASSWORD)
    open_reading(page, live_server, reading)
    column_spacing = float(stored_slice(page, reading, 0).PixelSpacing[1])
    readout = page.get_by_test_id("brush-readout")
    for key in ("]", "]", "["):
        page.keyboard.press(key)
    radius = int(page.get_by_test_id("brush-size").input_value())
    assert readout.inner_text() == f"{2 * radius * column_spacing:.1f} mm ({radius} px)"
    assert (
        page.get_by_test_id("brush-size")
        .get_attribute("aria-valuetext")
        .startswith(f"{2 * radius * column_spacing:.1f} mm")
    )


def test_reload_restores_the_slice_and_the_brush(reading, open_session, live_server):
    page = open_session("r1", PASSWORD)
    open_reading(page, live_server, reading)
    go_to_slice(page, 2)
    page.keyboard.press("e")
    page.keyboard.press("2")
    for _ in range(3):
        page.keyboard.press("]")
    page.reload()
    wait_viewer(page)
    assert page.get_by_test_id("viewport").get_attribute("data-slice") == "2"
    assert page.get_by_test_id("tool-eraser").get_attribute("aria-pressed") == "true"
    assert page.get_by_test_id("label-2").get_attribute("aria-pressed") == "true"
    assert page.get_by_test_id("brush-size").input_value() == "9"

    # A stored slice past the end is clamped to the last; a corrupt one is ignored.
    for stored, shown in (("99", SLICES - 1), ("{oops", 0)):
        page.evaluate(
            """(value) => Object.keys(localStorage)
                .filter((key) => key.includes(location.pathname) && key.endsWith(':slice'))
                .forEach((key) => localStorage.setItem(key, value))""",
            stored,
        )
        page.reload()
        wait_viewer(page)
        assert page.get_by_test_id("viewport").get_attribute("data-slice") == str(shown), stored
