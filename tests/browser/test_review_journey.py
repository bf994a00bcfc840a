"""The whole review in the browser: assign, two blinded readings, adjudication, the clinician's trend.

Every step checks the server's state (mask versions and their pixels, decisions, the finalised
consensus and its involvement), not only what the page shows. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from annotations import selectors as review_selectors
from annotations import services as review_services
from annotations.models import Reading, Review
from ildplatform import labelmaps, selectors, services
from inference.models import Involvement
from tests.review_fixtures import wait_for_series_jobs

from .conftest import import_phantom_patient
from .helpers import AXIAL, api_get, go_to_slice, mask_versions, saved_mask, stroke, wait_saved, wait_viewer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(600)]

PASSWORD = "pass-word-1"
SLICES = 8
HU_LOW, HU_HIGH = -800, -200


def wait_for(condition, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the server state"
        time.sleep(0.1)


def lung_point(lung_slice: np.ndarray, side: str) -> tuple[int, int]:
    """(column, row) well inside the left or right lung of a slice."""
    rows, columns = np.nonzero(lung_slice)
    half = columns < lung_slice.shape[1] // 2 if side == "left" else columns >= lung_slice.shape[1] // 2
    return int(np.median(columns[half])), int(np.median(rows[half]))


def assert_consensus_is_what_was_decided(page, series, r1, r2, union_3, erased_at) -> None:
    """The finalised consensus masks: reader 1 on slice 4, the union on slice 6, and on slice 3 the union
    the edit started from, less what the eraser took."""
    consensus = {}
    for z in (3, 4, 6):
        consensus[z] = labelmaps.decode_png(api_get(page, f"series/{series.pk}/consensus/slices/{z}/mask").body())
    assert np.array_equal(consensus[4], saved_mask(page, r1.pk, 4))
    first, second = saved_mask(page, r1.pk, 6), saved_mask(page, r2.pk, 6)
    assert np.array_equal(consensus[6] > 0, (first > 0) | (second > 0))
    # Slice 3: the eraser (radius 6) went along one row; outside its reach the edit is the union as it was.
    column, row = erased_at
    reach = np.zeros(union_3.shape, dtype=bool)
    reach[row - 7 : row + 8, column - 19 : column + 20] = True
    assert union_3[~reach].any(), "the union reaches beyond the erased band (else this proves nothing)"
    assert np.array_equal(consensus[3][~reach], union_3[~reach]), "the edit started from the union"
    kept = consensus[3] > 0
    assert np.array_equal(consensus[3][kept], union_3[kept]), "the eraser changed no label, it only took some off"
    assert ((union_3 > 0) & ~kept).any(), "the eraser took something off the union"


def finish_review_by_services(series, truth, users) -> None:
    """A visit read, adjudicated and finalised through the services (the trend needs several visits)."""
    review = review_services.review_assign(series=series, reader_1=users["r1"], reader_2=users["r2"],
                                           adjudicator=users["adj"], by=users["boss"])  # fmt: skip
    eroded = truth.copy()
    eroded[:, ::7, :] = 0  # reader 2 is a little less generous than the truth
    for role, labels in (("reader_1", truth), ("reader_2", eroded)):
        reading = review.readings.get(role=role)
        for z in range(labels.shape[0]):
            if labels[z].any():
                review_services.mask_save(reading=reading, z_index=z, png=labelmaps.encode_png(labels[z]), if_match=0,
                                          user=reading.user)  # fmt: skip
        review_services.reading_submit(reading=reading, user=reading.user)
    wait_for_series_jobs(series)
    for z in review_selectors.slices_needing_decision(review):
        review_services.consensus_decide(review=review, z_index=z, decision="union", png=None, user=users["adj"])
    review_services.consensus_finalize(review=review, user=users["adj"])
    wait_for_series_jobs(series)


@pytest.fixture
def world(tmp_path):
    users = {
        "boss": services.user_create(username="boss", role="admin", password=PASSWORD),
        "r1": services.user_create(username="r1", role="reader", password=PASSWORD),
        "r2": services.user_create(username="r2", role="reader", password=PASSWORD),
        "adj": services.user_create(username="adj", role="adjudicator", password=PASSWORD),
        "clin": services.user_create(username="clin", role="clinician", password=PASSWORD),
    }
    visits = import_phantom_patient(tmp_path / "phantoms", visits=3, slices=SLICES)
    for series, _, _ in visits:
        wait_for_series_jobs(series)
    for series, truth, _ in visits[1:]:
        finish_review_by_services(series, truth, users)
    return users, visits


def read(page, live_server, reading: Reading, lung, artifacts, name, plan) -> None:
    """Open the reading from the worklist and paint the plan: [(z, tool, label, side, undo)]."""
    page.goto(f"{live_server.url}/worklist/")
    page.get_by_test_id(f"open-{reading.pk}").click()
    wait_viewer(page)
    for z, tool, label, side, undo in plan:
        go_to_slice(page, z, showing="mask")
        page.keyboard.press({"brush": "b", "threshold": "t"}[tool])
        page.keyboard.press(str(label))
        column, row = lung_point(lung[z], side)
        stroke(page, [(column - 12, row - 6), (column, row), (column + 12, row + 6)])
        wait_saved(page)
        if undo:
            wait_for(lambda z=z: mask_versions(page, reading.pk, z) == 1)  # the stroke is on the server ...
            page.keyboard.press("Control+z")  # ... and undoing it saves the slice again
            wait_for(lambda z=z: mask_versions(page, reading.pk, z) == 2)
            wait_saved(page)
    page.screenshot(path=str(artifacts / f"{name}-workspace.png"))


def test_review_journey_from_reading_to_clinician_trend(world, open_session, live_server, artifacts):
    users, visits = world
    series, truth, lung = visits[0]
    hu = selectors.series_hu_volume(series)

    # -- the admin assigns the first visit's series on the worklist page
    admin = open_session("boss", PASSWORD)
    admin.goto(f"{live_server.url}/worklist/")
    admin.get_by_label("Series").select_option(str(series.pk))
    admin.get_by_label("Reader 1").select_option("r1")
    admin.get_by_label("Reader 2").select_option("r2")
    admin.get_by_label("Adjudicator").select_option("adj")
    admin.get_by_role("button", name="Assign").click()
    admin.wait_for_selector("#assign-status:has-text('assigned')")
    review = Review.objects.get(series=series)
    r1 = review.readings.get(role="reader_1")
    r2 = review.readings.get(role="reader_2")
    assert (r1.user.username, r2.user.username) == ("r1", "r2")
    admin.screenshot(path=str(artifacts / "admin-worklist.png"))

    # -- reader 1: brush on slice 3, threshold brush on slice 4, a stroke on slice 5 undone
    page = open_session("r1", PASSWORD)
    plan = [(3, "brush", 1, "left", False), (4, "threshold", 2, "right", False), (5, "brush", 1, "left", True)]
    read(page, live_server, r1, lung, artifacts, "reader1", plan)
    brushed = saved_mask(page, r1.pk, 3)
    assert (brushed == 1).sum() > 100 and not (brushed == 2).any()
    thresholded = saved_mask(page, r1.pk, 4)
    painted = thresholded == 2
    assert painted.sum() > 20
    # Only pixels inside the HU range were painted, and the stroke did cross pixels outside it.
    assert HU_LOW <= hu[4][painted].min() and hu[4][painted].max() <= HU_HIGH
    column, row = lung_point(lung[4], "right")
    swept = hu[4][row - 12 : row + 13, column - 18 : column + 19]
    assert ((swept < HU_LOW) | (swept > HU_HIGH)).any(), "the threshold stroke should meet out-of-range pixels"
    # Undo: slice 5 was saved painted, then saved again empty.
    assert mask_versions(page, r1.pk, 5) == 2 and not saved_mask(page, r1.pk, 5).any()

    page.get_by_test_id("submit").click()
    page.get_by_test_id("confirm").click()
    page.wait_for_selector("#app[data-state='submitted']")
    r1.refresh_from_db()
    assert r1.state == Reading.State.SUBMITTED

    # -- reader 2 reads differently: GGO where reader 1 saw reticulation, and a slice of their own
    page2 = open_session("r2", PASSWORD)
    read(page2, live_server, r2, lung, artifacts, "reader2",
         [(3, "brush", 2, "left", False), (6, "threshold", 1, "right", False)])  # fmt: skip
    assert (saved_mask(page2, r2.pk, 3) == 2).sum() > 100
    assert (saved_mask(page2, r2.pk, 6) == 1).sum() > 20
    page2.get_by_test_id("submit").click()
    page2.get_by_test_id("confirm").click()
    page2.wait_for_selector("#app[data-state='submitted']")
    wait_for_series_jobs(series)  # agreement, computed by the worker

    # -- the adjudicator: disagreement view, one slice per decision kind, one edited, finalise
    adjudicator = open_session("adj", PASSWORD)
    adjudicator.goto(f"{live_server.url}/worklist/")
    adjudicator.get_by_test_id(f"open-{review.readings.get(role='adjudicator').pk}").click()
    wait_viewer(adjudicator)
    adjudicator.wait_for_selector("[data-testid=slice-list] li")
    adjudicator.keyboard.press("q")  # reader 1 overlay on as well
    adjudicator.wait_for_selector(f"{AXIAL} canvas.overlay[data-layers~='reader_1'][data-layers~='disagreement']")
    adjudicator.screenshot(path=str(artifacts / "adjudication.png"))
    undecided = review_selectors.slices_needing_decision(review)
    assert undecided == [3, 4, 6]
    choices = {3: "edited", 4: "reader_1", 6: "union"}
    erased = {}
    for z in undecided:
        adjudicator.locator(f"[data-testid=slice-list] button[data-z='{z}']").click()
        adjudicator.wait_for_selector(f"[data-testid=viewport][data-slice='{z}']")
        if choices[z] == "edited":
            adjudicator.keyboard.press("a")  # Edit (E is the eraser, as for the readers)
            adjudicator.wait_for_selector(f"{AXIAL} canvas.overlay[data-z='{z}'][data-layers~='edit']")
            adjudicator.keyboard.press("e")  # eraser over part of the union
            column, row = lung_point(lung[z], "left")
            stroke(adjudicator, [(column - 12, row), (column + 12, row)])
            erased[z] = (column, row)
            adjudicator.get_by_test_id("save-edit").click()
        else:
            adjudicator.keyboard.press({"reader_1": "1", "union": "u"}[choices[z]])
        adjudicator.wait_for_function(
            "z => [...document.querySelectorAll('[data-testid=slice-list] button')].some("
            "b => b.dataset.z == z && b.querySelector('.decided'))",
            arg=z,
        )
    consensus_url = f"series/{series.pk}/consensus/"
    decided = {d["z_index"]: d["decision"] for d in api_get(adjudicator, consensus_url).json()["decisions"]}
    assert decided == choices
    union_3 = labelmaps.decode_png(api_get(adjudicator, f"{consensus_url}slices/3/proposal?decision=union").body())
    adjudicator.get_by_test_id("finalise").click()
    adjudicator.get_by_test_id("confirm").click()
    adjudicator.wait_for_function("() => document.querySelector('[data-testid=finalise-progress]').hidden === false")
    wait_for_series_jobs(series)  # the consensus involvement job
    adjudicator.wait_for_selector("#app[data-finalised='1']")
    adjudicator.wait_for_selector("[data-testid=adjudication-status]:has-text('finalised')")
    adjudicator.get_by_test_id("show-consensus").check()
    adjudicator.screenshot(path=str(artifacts / "adjudication-finalised.png"))
    review.refresh_from_db()
    assert review.finalized_at is not None
    assert Involvement.objects.filter(visit=series.visit, source="consensus").exists()
    assert_consensus_is_what_was_decided(adjudicator, series, r1, r2, union_3, erased[3])

    # -- the clinician: the trend over three visits, then the first visit's images with the consensus
    clinician = open_session("clin", PASSWORD)
    clinician.goto(f"{live_server.url}/patients/{series.visit.patient_id}/")
    clinician.wait_for_selector("#app[data-ready='1']")
    assert clinician.locator("[data-testid=visits] tbody tr").count() == 3
    consensus_line = clinician.locator("[data-testid=chart-total_pct] polyline[data-source='consensus']")
    assert len(consensus_line.get_attribute("points").split()) == 3
    assert clinician.locator("[data-testid=chart-total_pct] [data-testid=reader-band]").count() == 1
    # Change per visit, by consensus where there is one: recomputed here from the stored figures.
    stored = Involvement.objects.filter(source="consensus", visit__patient=series.visit.patient)
    consensus = {row.visit_id: row for row in stored}
    visits = list(series.visit.patient.visits.order_by("date"))
    for previous, visit in zip(visits, visits[1:], strict=False):
        if visit.pk in consensus and previous.pk in consensus:
            absolute = consensus[visit.pk].total_pct - consensus[previous.pk].total_pct
            shown = clinician.get_by_test_id(f"change-{visit.pk}").inner_text()
            assert shown.startswith(("+" if absolute > 0 else "−") + f"{abs(absolute):.1f} pp"), shown
    assert clinician.get_by_test_id(f"change-{visits[0].pk}").inner_text() == "–"
    clinician.screenshot(path=str(artifacts / "patient-trend.png"), full_page=True)
    clinician.get_by_test_id(f"open-visit-{series.visit_id}").click()
    wait_viewer(clinician)
    go_to_slice(clinician, 3, showing="consensus")
    clinician.screenshot(path=str(artifacts / "clinician-viewer-consensus.png"))

    # -- jobs page: every job of the run, with its bar
    admin.goto(f"{live_server.url}/jobs/")
    admin.wait_for_selector("#app[data-ready='1']")
    assert admin.locator("#jobs li[data-state='done']").count() >= 3
    admin.screenshot(path=str(artifacts / "jobs.png"))
