"""Page helpers for the browser tests: reach a slice, paint in label-map pixel coordinates, wait for saves."""

from __future__ import annotations

import numpy as np

from annotations.models import MaskVersion, Reading
from ildplatform import labelmaps


def wait_viewer(page) -> None:
    page.wait_for_selector("[data-testid=viewport][data-ready='1']")
    page.wait_for_function("() => window.ildViewer && window.ildViewer.viewer.image !== null")


def go_to_slice(page, z: int) -> None:
    page.locator("[data-testid=viewport]").focus()
    page.keyboard.press("Home")
    for _ in range(z):
        page.keyboard.press("ArrowDown")
    page.wait_for_selector(f"[data-testid=viewport][data-slice='{z}']")
    # The slice's own mask must have arrived before painting (the editor ignores strokes until then).
    page.wait_for_function("z => !window.ildViewer.masks || (window.ildViewer.masks.slices.has(z))", arg=z)


def page_point(page, column: float, row: float) -> tuple[float, float]:
    """Where on the page the centre of label-map pixel (column, row) is drawn."""
    return page.evaluate(
        """([column, row]) => {
            const viewer = window.ildViewer.viewer;
            const t = viewer.imageTransform();
            const box = viewer.element.getBoundingClientRect();
            const u = column + 0.5, v = row + 0.5;
            return [box.left + t.a * u + t.c * v + t.e, box.top + t.b * u + t.d * v + t.f];
        }""",
        [column, row],
    )


def stroke(page, pixels: list[tuple[int, int]]) -> None:
    """Drag the left button through the given (column, row) label-map pixels."""
    first = page_point(page, *pixels[0])
    page.mouse.move(*first)
    page.mouse.down()
    for column, row in pixels[1:]:
        page.mouse.move(*page_point(page, column, row), steps=4)
    page.mouse.up()


def wait_saved(page) -> None:
    page.wait_for_selector("[data-testid=save-status][data-state='saved']", timeout=20_000)


def latest_labels(reading: Reading, z: int) -> np.ndarray | None:
    version = MaskVersion.objects.filter(reading=reading, slice__z_index=z).order_by("-version").first()
    if version is None:
        return None
    return labelmaps.decode_png(bytes(version.labels_png))


def versions(reading: Reading, z: int) -> int:
    return MaskVersion.objects.filter(reading=reading, slice__z_index=z).count()
