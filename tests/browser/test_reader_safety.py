"""Reader workspace safety: no stroke is lost silently (slow slice, leaving the page, signed out
elsewhere), and slices marked reviewed count as done, the rest listed before submitting."""

from __future__ import annotations

import time

import numpy as np
import pytest

from annotations.models import MaskVersion, Reading
from ildplatform import labelmaps

from . import test_reader_workspace as workspace
from .helpers import api_get, go_to_slice, open_reading, stroke, wait_saved

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]

PASSWORD = workspace.PASSWORD
reading = workspace.reading  # the fixture: reader 1's reading of a 4-slice phantom series


def stored_masks(reading, z: int) -> list[np.ndarray]:
    """Every version of slice z the server keeps for the reading, oldest first (read from the database)."""
    versions = MaskVersion.objects.filter(reading=reading, slice__z_index=z).order_by("version")
    return [labelmaps.decode_png(bytes(version.labels_png)) for version in versions]


def wait_until(page, condition, *, seconds: float = 15) -> None:
    """Poll `condition()` while Playwright keeps dispatching the page's events (routes, dialogs)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        page.wait_for_timeout(100)


def save_state(page) -> str:
    return page.get_by_test_id("save-status").get_attribute("data-state")


def test_a_stroke_right_after_page_down_while_the_mask_loads_is_saved(reading, open_session, live_server):
    page = open_session("r1", PASSWORD)
    held = []  # the GET of slice 3's mask, held back until after the stroke, then sent for real

    def hold_mask_get(route):
        if route.request.method == "GET":
            held.append(route)
        else:
            route.continue_()

    page.route(f"**/api/v1/readings/{reading.pk}/slices/3/mask", hold_mask_get)
    open_reading(page, live_server, reading)
    page.wait_for_selector("[data-testid=viewport][data-prefetched='1']")  # the images are here; the mask is slow
    go_to_slice(page, 0, showing="mask")
    page.keyboard.press("PageDown")  # 4 slices: to the last one
    page.wait_for_selector("[data-testid=viewport][data-slice='3']")
    wait_until(page, lambda: held)
    stroke(page, [(200, 250), (260, 250)])
    page.wait_for_timeout(1000)  # longer than the autosave delay: nothing can be saved yet, and nothing says so
    assert save_state(page) != "saved"
    assert stored_masks(reading, 3) == []

    held.pop().continue_()
    wait_saved(page)
    [saved] = stored_masks(reading, 3)
    assert (saved == 1).sum() > 100, "the stroke made while the mask was loading was applied and saved"


def test_a_stroke_just_before_leaving_the_page_reaches_the_server(reading, open_session, live_server):
    page = open_session("r1", PASSWORD)
    open_reading(page, live_server, reading)
    go_to_slice(page, 1, showing="mask")
    prompts = []

    def leave_anyway(dialog):
        prompts.append(dialog.type)
        dialog.accept()

    page.on("dialog", leave_anyway)
    stroke(page, [(200, 250), (260, 250)])
    page.goto(f"{live_server.url}/worklist/")  # at once, well within the autosave delay
    wait_until(page, lambda: stored_masks(reading, 1))
    [saved] = stored_masks(reading, 1)
    assert (saved == 1).sum() > 100
    assert prompts == ["beforeunload"], "leaving with unsaved strokes asks first"


def test_strokes_made_while_signed_out_elsewhere_wait_and_save_after_signing_in(
    reading, open_session, live_server, artifacts
):
    page = open_session("r1", PASSWORD)
    open_reading(page, live_server, reading)
    go_to_slice(page, 1, showing="mask")
    stroke(page, [(200, 250), (260, 250)])
    wait_saved(page)
    [first] = stored_masks(reading, 1)

    other = page.context.new_page()  # another tab of the same browser: the same session cookie
    other.goto(f"{live_server.url}/worklist/")
    other.get_by_role("button", name="Log out").click()
    other.wait_for_load_state()
    page.bring_to_front()
    stroke(page, [(200, 300), (260, 300)])
    page.wait_for_selector("[data-testid=save-status][data-state='signed-out']")
    assert "signed out" in page.get_by_test_id("save-status").inner_text().lower()
    sign_in = page.get_by_test_id("sign-in-again")
    assert sign_in.is_visible()
    assert sign_in.get_attribute("href").startswith("/login/") and sign_in.get_attribute("target") == "_blank"
    page.screenshot(path=str(artifacts / "reader-signed-out.png"))
    page.wait_for_timeout(1500)  # retries meanwhile change nothing
    assert save_state(page) == "signed-out" and len(stored_masks(reading, 1)) == 1

    other.goto(f"{live_server.url}/login/")
    other.get_by_label("User name").fill("r1")
    other.get_by_label("Password").fill(PASSWORD)
    other.get_by_role("button", name="Log in").click()
    other.wait_for_url(f"{live_server.url}/")
    wait_saved(page)
    assert page.get_by_test_id("sign-in-again").count() == 0 or not page.get_by_test_id("sign-in-again").is_visible()
    versions = stored_masks(reading, 1)
    assert len(versions) == 2
    assert (versions[-1] == 1).sum() > (first == 1).sum() + 100, "the stroke made while signed out is saved"


def test_a_slice_marked_reviewed_counts_as_done_and_submit_lists_the_others(
    reading, open_session, live_server, artifacts
):
    page = open_session("r1", PASSWORD)
    open_reading(page, live_server, reading)
    progress = page.get_by_test_id("progress")
    page.wait_for_selector("[data-testid=progress][data-done='0']")
    assert progress.inner_text() == "0 of 4 slices done"
    page.keyboard.press("?")
    assert "reviewed" in page.get_by_test_id("help").inner_text().lower()
    page.keyboard.press("Escape")

    go_to_slice(page, 1, showing="mask")
    badge = page.get_by_test_id("reviewed-badge")
    assert badge.is_hidden()
    page.keyboard.press("v")
    badge.wait_for(state="visible")
    page.wait_for_selector("[data-testid=progress][data-done='1']")
    page.screenshot(path=str(artifacts / "reader-slice-reviewed.png"))
    assert progress.inner_text() == "1 of 4 slices done"
    assert api_get(page, f"readings/{reading.pk}/progress/").json()["reviewed_slices"] == [1]
    assert Reading.objects.get(pk=reading.pk).reviewed_slices == [1]

    go_to_slice(page, 2, showing="mask")
    badge.wait_for(state="hidden")  # the badge is the slice's, not the page's
    stroke(page, [(200, 250), (260, 250)])
    wait_saved(page)
    page.wait_for_selector("[data-testid=progress][data-done='2']")

    page.get_by_test_id("submit").click()
    dialog = page.get_by_test_id("unreviewed-dialog")
    dialog.wait_for(state="visible")
    page.screenshot(path=str(artifacts / "reader-submit-unreviewed.png"))
    links = dialog.get_by_test_id("go-to-slice")
    assert [links.nth(i).get_attribute("data-z") for i in range(links.count())] == ["0", "3"]
    assert [links.nth(i).inner_text() for i in range(links.count())] == ["Slice 1", "Slice 4"]  # as the viewer counts
    links.nth(1).click()
    dialog.wait_for(state="hidden")
    page.wait_for_selector("[data-testid=viewport][data-slice='3']")

    page.get_by_test_id("submit").click()
    dialog.wait_for(state="visible")
    dialog.get_by_role("button", name="Cancel").click()
    dialog.wait_for(state="hidden")
    assert Reading.objects.get(pk=reading.pk).state != Reading.State.SUBMITTED

    page.get_by_test_id("submit").click()
    dialog.get_by_role("button", name="Submit anyway").click()
    page.wait_for_selector("#app[data-state='submitted']")
    assert Reading.objects.get(pk=reading.pk).state == Reading.State.SUBMITTED
