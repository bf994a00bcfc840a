"""The admin's reading overview in the browser: who reads what and how far, reopening, the audit trail.

Three series are brought to different points of the review through the services (being read, under
adjudication, finalised). Every reading's state and progress shown on /overview/ is held against what
the test counts in the database itself; a submitted reading is reopened through the page with a reason
(the server's reading and audit trail say so, and the page's audit trail lists it at the top); a
clinician gets the 403 page.
"""

from __future__ import annotations

from datetime import date

import pytest

from annotations import services as review_services
from annotations.models import Agreement, AuditEvent, ConsensusDecision, MaskVersion, Reading, Review
from ildplatform import labelmaps, services
from ildplatform.dicom_import import SourceFile
from ildplatform.models import Series
from tests.dicom_factory import ct_series, to_bytes
from tests.review_fixtures import reader_1_labels, reader_2_labels, shared_labels, wait_for_series_jobs

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]

PASSWORD = "pass-word-1"
SLICES = 4
REASON = "Slice 2 was read on the wrong window; please look again"
STATE_WORDS = {"assigned": "Assigned", "in_progress": "In progress", "submitted": "Submitted"}


def import_series(pseudonym: str, visit_date: date) -> Series:
    sources = [
        SourceFile(f"s{i}.dcm", to_bytes(d)) for i, d in enumerate(ct_series(SLICES, seed=pseudonym + str(visit_date)))
    ]
    report = services.series_import(sources=sources, patient_pseudonym=pseudonym, visit_date=visit_date)
    series = Series.objects.get(pk=report.series[0].series_id)
    wait_for_series_jobs(series)  # the import's own jobs, run by the worker
    return series


def assign(series: Series, users: dict, reader_1: str, reader_2: str) -> Review:
    return review_services.review_assign(series=series, reader_1=users[reader_1], reader_2=users[reader_2],
                                         adjudicator=users["adj"], by=users["boss"])  # fmt: skip


def save(review: Review, role: str, masks: dict) -> Reading:
    reading = review.readings.get(role=role)
    for z_index, labels in masks.items():
        review_services.mask_save(reading=reading, z_index=z_index, png=labelmaps.encode_png(labels), if_match=0,
                                  user=reading.user)  # fmt: skip
    return reading


def submit_both(review: Review) -> None:
    for reading in review.readings.filter(role__in=["reader_1", "reader_2"]):
        review_services.reading_submit(reading=reading, user=reading.user)
    wait_for_series_jobs(review.series)  # agreement


@pytest.fixture
def world():
    """Series `adjudicating`: both readers submitted, one of two marked slices decided (the other was
    pre-decided: the readers agree on it). `reading`: AI pre-annotation on, one reader has painted one slice
    and marked another reviewed, the other has not started. `finalised`: read, decided and finalised."""
    users = {name: services.user_create(username=name, role=role, password=PASSWORD)
             for name, role in (("boss", "admin"), ("r1", "reader"), ("r2", "reader"), ("r3", "reader"),
                                ("adj", "adjudicator"), ("clin", "clinician"))}  # fmt: skip
    adjudicating = assign(import_series("overview-p1", date(2024, 3, 1)), users, "r1", "r2")
    save(adjudicating, "reader_1", {1: reader_1_labels(), 2: shared_labels()})
    save(adjudicating, "reader_2", {1: reader_2_labels(), 2: shared_labels()})
    submit_both(adjudicating)

    reading = assign(import_series("overview-p1", date(2025, 3, 1)), users, "r2", "r3")
    review_services.review_set_ai_preannotation(review=reading, enabled=True, by=users["boss"])
    first = save(reading, "reader_1", {0: reader_2_labels()})
    review_services.reading_slice_reviewed(reading=first, z_index=3, reviewed=True, user=first.user)

    finalised = assign(import_series("overview-p2", date(2024, 6, 1)), users, "r1", "r3")
    save(finalised, "reader_1", {3: reader_1_labels()})
    save(finalised, "reader_2", {0: shared_labels(), 1: shared_labels(), 3: reader_2_labels()})
    submit_both(finalised)
    review_services.consensus_decide(review=finalised, z_index=3, decision="union", png=None, user=users["adj"])
    review_services.consensus_decide(review=finalised, z_index=0, decision="reader_2", png=None, user=users["adj"])
    review_services.consensus_decide(review=finalised, z_index=1, decision="reader_1", png=None, user=users["adj"])
    review_services.consensus_finalize(review=finalised, user=users["adj"])
    wait_for_series_jobs(finalised.series)  # involvement
    return {"adjudicating": adjudicating, "reading": reading, "finalised": finalised}


# --- what the database says, counted here ---------------------------------------------------------------


def slices_done(reading: Reading) -> tuple[int, int]:
    """(slices painted or marked reviewed, slices painted)."""
    painted = set(MaskVersion.objects.filter(reading=reading).values_list("slice__z_index", flat=True))
    return len(painted | set(reading.reviewed_slices)), len(painted)


def marked_slices(review: Review) -> set[int]:
    """Slices whose latest version in either reader's reading holds any mark."""
    latest = {}
    for version in MaskVersion.objects.filter(reading__review=review).exclude(reading__role="adjudicator"):
        key = (version.reading_id, version.slice.z_index)
        if key not in latest or version.version > latest[key].version:
            latest[key] = version
    return {z for (_, z), version in latest.items() if version.reticulation_pixels or version.ggo_pixels}


def expected_adjudication(review: Review) -> str:
    readers = review.readings.exclude(role="adjudicator")
    if not review.finalized_at and any(reading.state != "submitted" for reading in readers):
        return "Waits for both readers to submit."
    decided = set(ConsensusDecision.objects.filter(review=review).values_list("slice__z_index", flat=True))
    return f"{len(decided)} / {len(decided | marked_slices(review))} slices decided"


# --- what the page shows ----------------------------------------------------------------------------------


def open_overview_as_admin(open_session, live_server):
    """The admin's way in: the header's Overview link."""
    page = open_session("boss", PASSWORD)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Overview", exact=True).click()
    page.wait_for_selector("#app[data-ready='1']")
    return page


def reading_cell(page, reading: Reading):
    return page.locator(f"td[data-reading='{reading.pk}']")


def assert_page_shows_database(page, reviews) -> None:
    for review in reviews:
        review.refresh_from_db()
        row = page.locator(f"tbody[data-series='{review.series_id}'] > tr.series-row")
        series = review.series
        assert row.locator("th[scope=row]").inner_text() == series.visit.patient.pseudonym
        assert row.get_by_test_id("slice-count").inner_text() == f"{series.slice_count} slices"
        for reading in review.readings.all():
            cell = reading_cell(page, reading)
            assert cell.get_attribute("data-state") == reading.state
            assert cell.locator(".reading-user").inner_text() == reading.user.username
            shown = cell.get_by_test_id("reading-state").inner_text()
            assert STATE_WORDS[reading.state] in shown, (reading.role, reading.state, shown)
            assert [word for word in STATE_WORDS.values() if word in shown] == [STATE_WORDS[reading.state]]
            if reading.role == "adjudicator":
                assert cell.get_by_test_id("adjudication-progress").inner_text() == expected_adjudication(review)
                continue
            k, painted = slices_done(reading)
            assert cell.get_by_test_id("reading-progress").inner_text() == f"{k} / {series.slice_count} slices"
            detail = cell.get_by_test_id("reading-progress-detail")
            if k > painted:
                assert detail.inner_text() == f"{painted} painted, {k - painted} marked reviewed"
            else:
                assert detail.count() == 0
            bar = cell.locator("progress")
            assert (bar.get_attribute("value"), bar.get_attribute("max")) == (str(k), str(series.slice_count))
            # Reopen is offered exactly where the server allows it: submitted, consensus not finalised.
            reopenable = reading.state == "submitted" and review.finalized_at is None
            assert cell.get_by_test_id(f"reopen-{reading.pk}").count() == int(reopenable)
        consensus = row.get_by_test_id("consensus-state")
        assert consensus.get_attribute("data-finalised") == ("1" if review.finalized_at else "0")
        assert ("Not finalised" in consensus.inner_text()) == (review.finalized_at is None)
        ai = row.get_by_test_id("ai-preannotation")
        assert ai.inner_text() == ("On" if review.ai_preannotation else "Off")
        agreement = Agreement.objects.filter(review=review).first()
        if (
            agreement is not None
            and not review.readings.exclude(role="adjudicator").exclude(state="submitted").exists()
        ):
            assert f"Dice {agreement.figures['dice_combined']:.3f}" in row.get_by_test_id("agreement").inner_text()


def audit_rows(page, series_id: int) -> list[tuple[str, str]]:
    rows = page.locator(f"#audit-{series_id} tr[data-testid=audit-event]")
    return [(row.get_attribute("data-action"), row.get_by_test_id("audit-detail").inner_text()) for row in rows.all()]


def test_admin_overview_shows_each_reading_as_stored_and_reopens_one_with_a_reason(
    world, open_session, live_server, artifacts
):
    reviews = list(world.values())
    page = open_overview_as_admin(open_session, live_server)
    assert page.locator("tbody[data-testid=overview-series]").count() == 3
    assert_page_shows_database(page, reviews)
    status = page.locator("#overview-status")
    assert status.inner_text() == "3 series: 1 being read, 1 adjudication, 1 finalised."

    # The audit trail of the series under adjudication, newest first, as the database holds it.
    review = world["adjudicating"]
    page.get_by_test_id(f"audit-{review.series_id}").click()
    page.wait_for_selector(f"#audit-{review.series_id}[data-loaded='1'] tr[data-testid=audit-event]")
    stored = list(AuditEvent.objects.filter(series_id=review.series_id).order_by("-at", "-id"))
    assert [action for action, _ in audit_rows(page, review.series_id)] == [event.action for event in stored]
    hide_saves = page.locator(f"#audit-{review.series_id}").get_by_test_id("audit-hide-saves")
    hide_saves.check()
    shown = page.locator(f"#audit-{review.series_id} tr[data-testid=audit-event]:visible")
    assert shown.count() == len([event for event in stored if event.action != "mask_save"]) > 0
    hide_saves.uncheck()

    # Reopen reader 1's submitted reading: a reason is required (an empty form posts nothing).
    reader_1 = review.readings.get(role="reader_1")
    cell = reading_cell(page, reader_1)
    cell.get_by_test_id(f"reopen-{reader_1.pk}").click()
    cell.get_by_test_id("reopen-submit").click()
    assert cell.get_by_test_id("reopen-reason").evaluate("input => !input.validity.valid")
    reader_1.refresh_from_db()
    assert reader_1.state == "submitted" and not AuditEvent.objects.filter(action="reopen").exists()
    cell.get_by_label("Why reopen Reader 1's reading (r1)?").fill(REASON)
    page.screenshot(path=str(artifacts / "overview-reopen.png"))
    cell.get_by_test_id("reopen-submit").click()
    page.wait_for_selector(f"td[data-reading='{reader_1.pk}'][data-state='in_progress']")
    page.wait_for_selector("#app[data-ready='1']")

    # The server: the reading is back in progress, and the audit trail says who reopened it and why.
    reader_1.refresh_from_db()
    assert (reader_1.state, reader_1.submitted_at) == ("in_progress", None)
    [reopen] = AuditEvent.objects.filter(action="reopen")
    assert (reopen.user.username, reopen.object_type, reopen.object_id) == ("boss", "reading", str(reader_1.pk))
    assert reopen.series_id == review.series_id and reopen.detail == {"reason": REASON}
    assert "reopened: now in progress" in status.inner_text()

    # The page, redrawn: every reading as stored again, and the audit trail (kept open) has it on top.
    assert_page_shows_database(page, reviews)
    rows = audit_rows(page, review.series_id)
    assert rows[0] == ("reopen", f"Reason: {REASON}") and len(rows) == len(stored) + 1
    top = page.locator(f"#audit-{review.series_id} tr[data-testid=audit-event]").first
    assert top.locator("th[scope=row]").inner_text() == "Reopened the reading"
    assert top.locator("td").nth(1).inner_text() == "boss"
    assert top.locator("td").nth(2).inner_text() == f"Reader 1's reading #{reader_1.pk}"
    page.get_by_test_id(f"audit-{review.series_id}").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "overview.png"))
    page.screenshot(path=str(artifacts / "overview-full.png"), full_page=True)


def test_clinician_gets_the_forbidden_page_at_overview(open_session, live_server):
    services.user_create(username="clin", role="clinician", password=PASSWORD)
    page = open_session("clin", PASSWORD)
    assert page.get_by_role("navigation", name="Main").get_by_role("link", name="Overview", exact=True).count() == 0
    response = page.goto(f"{live_server.url}/overview/")
    assert response.status == 403
    page.wait_for_selector("[data-testid=forbidden]")
    assert page.locator("#overview").count() == 0
