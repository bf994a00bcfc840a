"""Coronal and sagittal reformats beside the axial in the reader workspace: the reader's mask is drawn on
the rows of the slices it was painted on, the line marks the axial slice, and a click on a reformat shows
that slice. Where each slice lies is computed here from the stored DICOM headers (ImagePositionPatient,
PixelSpacing), never taken from the viewer."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

from .conftest import assigned_reading
from .helpers import go_to_slice, label_colour, overlay_pixels, painted, saved_mask, stroke, wait_saved, wait_viewer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]

PASSWORD = "pass-word-1"
CORONAL = ".reformat-stage:nth-of-type(1) .viewport-frame"


@pytest.fixture
def reading(tmp_path):
    return assigned_reading(tmp_path / "phantoms", slices=8, password=PASSWORD)


def coronal_layout(series) -> tuple[list[int], float, float]:
    """(slice on each display row, head first; mm between rows; mm between columns) from the headers."""
    headers = [pydicom.dcmread(s.dicom_file.path, stop_before_pixels=True) for s in series.slices.order_by("z_index")]
    heights = [float(h.ImagePositionPatient[2]) for h in headers]
    order = sorted(range(len(headers)), key=lambda z: -heights[z])
    return order, abs(heights[1] - heights[0]), float(headers[0].PixelSpacing[1])


def coronal_rows_on_canvas(canvas_size, columns: int, rows: int, row_mm: float, column_mm: float):
    """Canvas y at which each display row starts (rows + 1 edges): the plane fitted whole and centred."""
    width, height = canvas_size
    scale = min(width / (columns * column_mm), height / (rows * row_mm))
    top = (height - rows * row_mm * scale) / 2
    return top + np.arange(rows + 1) * row_mm * scale


def set_plane(page, frame: str, index: int) -> None:
    """Drag the reformat's plane slider to `index`, as a user does."""
    page.evaluate(
        """([frame, index]) => {
            const slider = document.querySelector(frame).parentElement.querySelector('.slice-slider');
            slider.value = String(index);
            slider.dispatchEvent(new Event('input'));
        }""",
        [frame, index],
    )
    page.wait_for_selector(f"{frame} [data-slice='{index}']")


def test_coronal_shows_the_readers_mask_on_the_rows_of_its_slices(reading, open_session, live_server, artifacts):
    series = reading.review.series
    order, row_mm, column_mm = coronal_layout(series)
    page = open_session("r1", PASSWORD)
    page.goto(f"{live_server.url}/read/{reading.pk}/")
    wait_viewer(page)
    page.wait_for_selector("[data-testid=reformat-coronal][data-ready='1']")
    page.wait_for_selector("[data-testid=reformat-sagittal][data-ready='1']")

    painted_z, painted_row = 2, 300  # a slice away from the middle: a flipped order puts it elsewhere
    go_to_slice(page, painted_z, showing="mask")
    stroke(page, [(180, painted_row), (330, painted_row)])
    wait_saved(page)
    assert (saved_mask(page, reading.pk, painted_z)[painted_row, 180:330] == 1).all()

    set_plane(page, CORONAL, painted_row)
    page.wait_for_selector(f"{CORONAL} canvas.overlay[data-z='{painted_row}'][data-layers~='mask']")
    overlay = overlay_pixels(page, CORONAL)
    shown = painted(overlay, label_colour(page, "patterns", 1))
    edges = coronal_rows_on_canvas(overlay.shape[1::-1], series.columns, series.slice_count, row_mm, column_mm)
    k = order.index(painted_z)
    ys = np.nonzero(shown.any(axis=1))[0]
    assert ys.size, "the painted row shows on the coronal"
    assert edges[k] - 1 <= ys.min() and ys.max() <= edges[k + 1] + 1, (ys.min(), ys.max(), edges[k], edges[k + 1])
    # ... and nowhere else: the other slices of that plane are empty.
    assert shown[: int(edges[k]) - 1].sum() == 0 and shown[int(edges[k + 1]) + 2 :].sum() == 0
    line = page.get_by_test_id("axial-line-coronal").bounding_box()
    frame = page.locator(CORONAL).bounding_box()
    assert edges[k] <= line["y"] - frame["y"] <= edges[k + 1], "the dashed line marks the axial slice on screen"
    page.screenshot(path=str(artifacts / "reader-reformats.png"))

    # A click on another row of the coronal shows that row's slice in the axial viewer.
    target = order[1]
    y = frame["y"] + (edges[1] + edges[2]) / 2
    page.mouse.click(frame["x"] + frame["width"] / 2, y)
    page.wait_for_selector(f"[data-testid=viewport][data-slice='{target}']")
