"""Reading time in the reader workspace: a reader scrolls, paints, pauses and hides the tab on a timetable
kept by this script's own clock; what the server stores per slice is that timetable with the idle cut-off
applied (time counts while the tab is visible and the last wheel, key or drag is less than the cut-off ago).
"""

from __future__ import annotations

import time

import pytest

from .conftest import assigned_reading
from .helpers import AXIAL, api_get, stroke, wait_viewer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]

PASSWORD = "pass-word-1"
CUTOFF_MS = 2000  # the page takes a shorter idle cut-off from ?idle_cutoff_ms= (never a longer one)
# Each boundary of the timetable is read on this side of Playwright: a call's round trip to the browser and
# the wait for data-slice to change put it up to ~100 ms off what the page saw, on a loaded machine more.
# The faults this test is here to catch (idle time or hidden time counted) are a second or more.
TOLERANCE_MS = 400


@pytest.fixture
def reading(tmp_path):
    return assigned_reading(tmp_path / "phantoms", slices=4, password=PASSWORD)


def now_ms() -> float:
    return time.monotonic() * 1000


def pause(ms: float) -> None:
    time.sleep(ms / 1000)


def timed(action) -> float:
    """Run a page action; the script's time of it (the middle of the call)."""
    before = now_ms()
    action()
    return (before + now_ms()) / 2


def set_visibility(page, state: str) -> None:
    """The tab hidden or shown again, as the page sees it: headless Chromium keeps every tab visible, so the
    document's visibilityState is overridden and the browser's own event sent."""
    page.evaluate(
        """(state) => {
            Object.defineProperty(document, 'visibilityState', { value: state, configurable: true });
            Object.defineProperty(document, 'hidden', { value: state === 'hidden', configurable: true });
            document.dispatchEvent(new Event('visibilitychange'));
        }""",
        state,
    )


def arrive(page, z: int, action) -> tuple[float, float]:
    """(when the action was done, when slice z was on screen) on the script's clock."""
    done = timed(action)
    page.wait_for_selector(f"[data-testid=viewport][data-slice='{z}']")
    return done, now_ms()


def test_stored_active_time_per_slice_follows_the_readers_timetable(reading, open_session, live_server):
    page = open_session("r1", PASSWORD)
    page.goto(f"{live_server.url}/read/{reading.pk}/?idle_cutoff_ms={CUTOFF_MS}")
    wait_viewer(page)
    page.wait_for_selector("[data-testid=viewport][data-prefetched='1']")  # later slices show at once
    pause(CUTOFF_MS + 1000)  # opening the page counts as an interaction; let it go idle first
    viewport = page.locator("[data-testid=viewport]")
    viewport.focus()
    expected = {}

    # Slice 1: a short pause, a stroke, then a pause past the cut-off.
    _, shown = arrive(page, 1, lambda: page.keyboard.press("ArrowDown"))
    page.wait_for_selector(f"{AXIAL} canvas.overlay[data-z='1'][data-layers~='mask']")
    pause(CUTOFF_MS / 2)
    stroke(page, [(200, 250), (260, 250)])
    painted = now_ms()  # the drag's last move is the stroke's last interaction: just before it returns
    pause(CUTOFF_MS + 2000)
    expected[1] = painted - shown + CUTOFF_MS

    # Slice 2: the tab hidden for a while shorter than the cut-off, then left idle.
    pressed, shown = arrive(page, 2, lambda: page.keyboard.press("ArrowDown"))
    pause(500)
    hidden = timed(lambda: set_visibility(page, "hidden"))  # also sends what has accumulated
    pause(1000)
    visible = timed(lambda: set_visibility(page, "visible"))
    pause(CUTOFF_MS + 1500)
    expected[2] = (hidden - shown) + max(0.0, pressed + CUTOFF_MS - visible)

    # Slice 3: the wheel, a key after a short pause, then idle.
    box = viewport.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # hovering: not an interaction
    _, shown = arrive(page, 3, lambda: page.mouse.wheel(0, 100))
    pause(800)
    keyed = timed(lambda: page.keyboard.press("b"))
    pause(CUTOFF_MS + 2000)
    expected[3] = keyed - shown + CUTOFF_MS

    set_visibility(page, "hidden")  # the last batch goes as the tab is hidden
    page.wait_for_selector("#app[data-reading-time-unsent='0']")
    summary = api_get(page, f"readings/{reading.pk}/time/").json()
    stored = {entry["z_index"]: entry for entry in summary["slices"]}
    print({z: (round(expected.get(z, 0)), entry["active_ms"]) for z, entry in stored.items()})
    for z, ms in expected.items():
        assert stored[z]["active_ms"] == pytest.approx(ms, abs=TOLERANCE_MS), f"slice {z}"
        assert stored[z]["visits"] == 1
    # Slice 0: from the page opening until the cut-off at most (its first image came during that time).
    assert 0 <= stored[0]["active_ms"] <= CUTOFF_MS + TOLERANCE_MS
    assert summary["total_active_ms"] == sum(entry["active_ms"] for entry in stored.values())
    assert summary["annotated_slices"] == [1]
    assert summary["active_ms_on_annotated_slices"] == stored[1]["active_ms"]
    assert summary["slices_visited"] == sum(1 for entry in stored.values() if entry["active_ms"] > 0)
