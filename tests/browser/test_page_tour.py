"""Every page of the platform at 1366x768, as the role that uses it, with a screenshot of each under
test-artifacts/tour-*.png (the closing note says what each shows). Each page must start without a script
error, fit the width of the screen, and the viewer pages must fit the screen without scrolling."""

from __future__ import annotations

import pytest

from annotations import services as review_services
from ildplatform import labelmaps
from tests.review_fixtures import wait_for_series_jobs

from .conftest import import_phantom_patient
from .test_adjudication_and_trend import PASSWORD, make_users, submitted_series
from .test_review_journey import finish_review_by_services

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(900)]

VIEWER = "[data-testid=viewport][data-ready='1']"
READY = "body[data-page-ready='1']"


@pytest.fixture
def platform(tmp_path):
    """Two visits of a phantom patient: the first read, adjudicated and finalised, the second being read
    (reader 1 has painted two slices); and another series both readers submitted, to adjudicate."""
    users = make_users()
    adjudicable = submitted_series(users)
    (first, truth, _), (second, second_truth, _) = import_phantom_patient(tmp_path / "phantoms", visits=2, slices=8)
    wait_for_series_jobs(first)
    wait_for_series_jobs(second)
    finish_review_by_services(first, truth, users)
    review = review_services.review_assign(series=second, reader_1=users["r1"], reader_2=users["r2"],
                                           adjudicator=users["adj"], by=users["boss"])  # fmt: skip
    reading = review.readings.get(role="reader_1")
    for z in (3, 4):
        review_services.mask_save(reading=reading, z_index=z, png=labelmaps.encode_png(second_truth[z]), if_match=0,
                                  user=reading.user)  # fmt: skip
    return {"first": first, "second": second, "reading": reading, "adjudicable": adjudicable}


def tour(platform) -> list[tuple[str, str | None, str, str]]:
    """(name, who, address, what to wait for), in the order a study runs. The pages built on the viewer
    bundle say when they have drawn what they load; the worklist and jobs pages keep loading (the network
    settles)."""
    first, reading, adjudicable = platform["first"], platform["reading"], platform["adjudicable"]
    patient = first.visit.patient_id
    return [
        ("login", None, "/login/", "form"),
        ("home-admin", "boss", "/", "main"),
        ("worklist-admin", "boss", "/worklist/", "main"),
        ("overview-admin", "boss", "/overview/", READY),
        ("jobs-admin", "boss", "/jobs/", "main"),
        ("models-admin", "boss", "/models/", READY),
        ("worklist-reader", "r1", "/worklist/", "main"),
        ("reader-workspace", "r1", f"/read/{reading.pk}/", READY),
        ("worklist-adjudicator", "adj", "/worklist/", "main"),
        ("adjudication", "adj", f"/adjudicate/{adjudicable.pk}/", READY),
        ("adjudication-finalised", "adj", f"/adjudicate/{first.pk}/", READY),
        ("home-clinician", "clin", "/", "main"),
        ("patient-trend", "clin", f"/patients/{patient}/", READY),
        ("series-consensus", "clin", f"/series/{first.pk}/?overlay=consensus", READY),
        ("forbidden-adjudication", "clin", f"/adjudicate/{adjudicable.pk}/", "[data-testid=forbidden]"),
    ]


def test_every_page_starts_fits_the_screen_and_is_photographed(platform, open_session, browser, live_server, artifacts):
    pages = {}
    for index, (name, who, address, ready) in enumerate(tour(platform), start=1):
        if who not in pages:
            pages[who] = (
                open_session(who, PASSWORD) if who else browser.new_page(viewport={"width": 1366, "height": 768})
            )
        page = pages[who]
        errors = []
        page.on("pageerror", lambda error, errors=errors: errors.append(str(error)))
        # A resource the Content-Security-Policy refuses (an inline style, a blob worker) is a console error.
        page.on("console", lambda message, errors=errors: "Content Security Policy" in message.text
                and errors.append(message.text))  # fmt: skip
        page.goto(f"{live_server.url}{address}")
        page.wait_for_selector(ready, state="attached", timeout=30_000)
        if page.locator(VIEWER.split("[data-ready")[0]).count():
            page.wait_for_selector(VIEWER)
        page.wait_for_load_state("networkidle")
        size = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
        page.screenshot(path=str(artifacts / f"tour-{index:02d}-{name}.png"))
        assert not errors, f"{name}: {errors}"
        assert size[0] <= 1366, f"{name} is {size[0]} px wide: it scrolls sideways at 1366x768"
        if page.locator("[data-testid=viewport]").count():
            below = page.evaluate(
                """() => [...document.querySelectorAll('body *')]
                    .filter((node) => node.getBoundingClientRect().bottom > 768).slice(0, 5)
                    .map((node) => `${node.tagName}.${node.className} ${node.getBoundingClientRect().bottom}`)"""
            )
            assert size[1] <= 768, f"{name} is {size[1]} px tall: the viewer does not fit the screen ({below})"
