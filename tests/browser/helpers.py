"""Page helpers for the browser tests. They observe what a user sees and what the server stored, never
the viewer's internals:

- the DOM the pages render anyway: the viewport's `data-slice` (the slice on screen) and `data-ready`,
  the overlay canvas's `data-z` / `data-layers` (which slice and which label maps it draws), the save
  status and its `data-state`;
- pixels: the overlay canvas (`getImageData`) and screenshots;
- the API, with the page's own session: the saved masks and their versions, the label table.
"""

from __future__ import annotations

import base64
import io
from urllib.parse import urlsplit

import numpy as np
import pydicom
from PIL import Image

from ildplatform import labelmaps

# The axial viewer's frame: the reader and series pages also show coronal and sagittal viewers beside it.
AXIAL = ".viewport-frame:has([data-testid=viewport])"


def wait_viewer(page) -> None:
    """Until the viewer shows its first slice."""
    page.wait_for_selector("[data-testid=viewport][data-ready='1'][data-slice]")


def open_reading(page, live_server, reading) -> None:
    page.goto(f"{live_server.url}/read/{reading.pk}/")
    wait_viewer(page)


def go_to_slice(page, z: int, *, showing: str | None = None) -> None:
    """Home, then the down arrow z times, as a user would; `showing`: wait until that layer is drawn on z."""
    page.locator("[data-testid=viewport]").focus()
    page.keyboard.press("Home")
    for _ in range(z):
        page.keyboard.press("ArrowDown")
    page.wait_for_selector(f"[data-testid=viewport][data-slice='{z}']")
    if showing:
        # e.g. the reader's own mask of this slice has arrived and is drawn (strokes need it).
        page.wait_for_selector(f"{AXIAL} canvas.overlay[data-z='{z}'][data-layers~='{showing}']")


def image_box(page) -> tuple[float, float, float]:
    """(left, top, scale): where the slice is drawn on the page, in CSS px. Cornerstone draws into the canvas
    inside the viewport, fitting the whole slice and centring it (pixel spacing is square in the phantoms);
    its backing store is whole device pixels, stretched over a box that may be fractional in CSS px.
    test_reader_workspace holds this against the screen."""
    app = page.locator("#app")
    rows, columns = int(app.get_attribute("data-rows")), int(app.get_attribute("data-columns"))
    canvas = page.locator("[data-testid=viewport] canvas")
    box = canvas.bounding_box()
    width, height = int(canvas.get_attribute("width")), int(canvas.get_attribute("height"))
    css_x, css_y = box["width"] / width, box["height"] / height
    scale = min(width / columns, height / rows)
    left = box["x"] + (width - columns * scale) / 2 * css_x
    top = box["y"] + (height - rows * scale) / 2 * css_y
    return left, top, scale * css_x


def page_point(page, column: float, row: float) -> tuple[float, float]:
    """Where on the page the centre of label-map pixel (column, row) is drawn."""
    left, top, scale = image_box(page)
    return left + (column + 0.5) * scale, top + (row + 0.5) * scale


def stroke(page, pixels: list[tuple[int, int]]) -> None:
    """Drag the left button through the given (column, row) label-map pixels."""
    page.mouse.move(*page_point(page, *pixels[0]))
    page.mouse.down()
    for column, row in pixels[1:]:
        page.mouse.move(*page_point(page, column, row), steps=4)
    page.mouse.up()
    page.mouse.move(0, 0)  # off the image: the brush outline goes, the strokes stay


def wait_saved(page) -> None:
    page.wait_for_selector("[data-testid=save-status][data-state='saved']", timeout=20_000)


# --- the server, through the API with the page's session ---------------------------------------------


def api_get(page, path: str):
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(page.url))
    response = page.request.get(f"{origin}/api/v1/{path}")
    assert response.ok, f"GET /api/v1/{path}: HTTP {response.status} {response.text()[:200]}"
    return response


def api_post(page, path: str, data: dict):
    """POST JSON with the page's session, its CSRF token in the header as the viewer sends it."""
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(page.url))
    [token] = [cookie["value"] for cookie in page.context.cookies() if cookie["name"] == "csrftoken"]
    response = page.request.post(f"{origin}/api/v1/{path}", data=data, headers={"X-CSRFToken": token})
    assert response.ok, f"POST /api/v1/{path}: HTTP {response.status} {response.text()[:200]}"
    return response


def saved_mask(page, reading_id: int, z: int) -> np.ndarray:
    """The reading's current mask of slice z as the server serves it (all zeros before any save)."""
    return labelmaps.decode_png(api_get(page, f"readings/{reading_id}/slices/{z}/mask").body())


def mask_versions(page, reading_id: int, z: int) -> int:
    """How many versions of slice z the server keeps for the reading."""
    return len(api_get(page, f"readings/{reading_id}/slices/{z}/mask/history").json())


def label_colour(page, kind: str, value: int) -> tuple[int, int, int]:
    """The colour the label table gives `value` in label maps of `kind` (patterns, disagreement, lung)."""
    [label] = [label for label in api_get(page, "labels/").json()[kind] if label["value"] == value]
    hex_colour = label["colour"].lstrip("#")
    return tuple(int(hex_colour[i : i + 2], 16) for i in (0, 2, 4))


# --- pixels ---------------------------------------------------------------------------------------------


def overlay_pixels(page, frame: str = AXIAL) -> np.ndarray:
    """The label-map overlay canvas as drawn now: (height, width, 4) RGBA, one row per canvas pixel. `frame`:
    the viewer's frame (the axial unless a selector says which)."""
    width, height, encoded = page.evaluate(
        """(frame) => {
            const canvas = document.querySelector(`${frame} canvas.overlay`);
            const rgba = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
            let text = '';
            for (let i = 0; i < rgba.length; i += 0x8000) text += String.fromCharCode(...rgba.subarray(i, i + 0x8000));
            return [canvas.width, canvas.height, btoa(text)];
        }""",
        frame,
    )
    return np.frombuffer(base64.b64decode(encoded), dtype=np.uint8).reshape(height, width, 4)


def painted(rgba: np.ndarray, colour: tuple[int, int, int], tolerance: int = 4) -> np.ndarray:
    """Where the overlay shows `colour` (alpha-blending rounding allowed)."""
    close = np.abs(rgba[..., :3].astype(int) - np.array(colour)).max(axis=-1) <= tolerance
    return close & (rgba[..., 3] > 0)


def viewport_screenshot(page) -> np.ndarray:
    """The viewport as the user sees it (image, overlay and info line): (height, width, 3) RGB."""
    png = page.locator(AXIAL).screenshot()
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def bounding_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the True pixels, right and bottom just past the last ones."""
    rows, columns = np.nonzero(mask)
    assert rows.size, "nothing there"
    return int(columns.min()), int(rows.min()), int(columns.max()) + 1, int(rows.max()) + 1


def on_screen(page, box: tuple[int, int, int, int]) -> tuple[float, float, float, float]:
    """Where a label-map bounding box is drawn on the overlay canvas (canvas pixels; device scale 1)."""
    left, top, scale = image_box(page)
    frame = page.locator(AXIAL).bounding_box()
    x0, y0 = left - frame["x"], top - frame["y"]
    return x0 + box[0] * scale, y0 + box[1] * scale, x0 + box[2] * scale, y0 + box[3] * scale


def centre_of(mask: np.ndarray) -> tuple[float, float]:
    """(x, y) mean of the True pixels' centres."""
    rows, columns = np.nonzero(mask)
    assert rows.size, "nothing there"
    return float(columns.mean()) + 0.5, float(rows.mean()) + 0.5


def centre_on_screen(page, labels: np.ndarray) -> tuple[float, float]:
    """Where the centre of a label-map region is drawn on the overlay canvas (canvas pixels; device scale 1)."""
    left, top, scale = image_box(page)
    frame = page.locator(AXIAL).bounding_box()
    column, row = centre_of(labels)
    return left - frame["x"] + column * scale, top - frame["y"] + row * scale


def stored_hu(dataset: pydicom.Dataset) -> np.ndarray:
    return dataset.pixel_array * float(dataset.RescaleSlope) + float(dataset.RescaleIntercept)


def probe_text(page) -> str:
    return page.locator(AXIAL).get_by_test_id("hu-probe").inner_text()


def probe_at(page, column: int, row: int) -> str:
    """The HU probe's text once the pointer is over pixel (column, row)."""
    page.mouse.move(*page_point(page, column, row))
    page.locator(AXIAL).get_by_test_id("hu-probe").wait_for(state="visible")
    page.wait_for_function(
        "([frame, at]) => document.querySelector(`${frame} [data-testid=hu-probe]`).textContent.startsWith(at)",
        arg=[AXIAL, f"({column}, {row})"],
    )
    return probe_text(page)


def probe_pixels(hu: np.ndarray, other_slices: list[np.ndarray] = ()) -> list[tuple[int, int]]:
    """(column, row) of the lowest, the median and the highest HU among the pixels whose HU differs from
    each of their 8 neighbours (and from the same pixel on `other_slices`): a probe one pixel off, or on
    another slice, would read another value."""
    centre = hu[1:-1, 1:-1]
    distinct = np.ones_like(centre, dtype=bool)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy or dx:
                distinct &= centre != hu[1 + dy : hu.shape[0] - 1 + dy, 1 + dx : hu.shape[1] - 1 + dx]
    for other in other_slices:
        distinct &= centre != other[1:-1, 1:-1]
    rows, columns = np.nonzero(distinct)
    assert len(rows) > 100, "the phantom has texture to probe"
    by_hu = np.argsort(centre[rows, columns], kind="stable")
    return [(int(columns[i]) + 1, int(rows[i]) + 1) for i in by_hu[[0, len(by_hu) // 2, -1]]]
