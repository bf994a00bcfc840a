"""Blinding in the browser: nothing of reader 1's masks reaches reader 2's pages before reader 2 submits."""

from __future__ import annotations

import json

import numpy as np
import pytest

from annotations import services as review_services
from ildplatform import labelmaps, services
from tests.review_fixtures import wait_for_series_jobs

from .conftest import import_phantom_patient
from .helpers import go_to_slice, wait_viewer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]

PASSWORD = "pass-word-1"
FIRST_READER = "first-reader-zq7"  # a name no bundle or page could contain by chance


def walk(value):
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item)


def test_reader_2_pages_and_responses_hold_nothing_of_reader_1_before_submitting(
    open_session, live_server, tmp_path, artifacts
):
    admin = services.user_create(username="boss", role="admin", password=PASSWORD)
    first = services.user_create(username=FIRST_READER, role="reader", password=PASSWORD)
    second = services.user_create(username="second-reader", role="reader", password=PASSWORD)
    adjudicator = services.user_create(username="adj", role="adjudicator", password=PASSWORD)
    [(series, truth, _)] = import_phantom_patient(tmp_path / "phantoms", visits=1, slices=6)
    wait_for_series_jobs(series)
    review = review_services.review_assign(series=series, reader_1=first, reader_2=second, adjudicator=adjudicator,
                                           by=admin)  # fmt: skip
    r1 = review.readings.get(role="reader_1")
    r2 = review.readings.get(role="reader_2")
    r1_labels = {}
    for z in range(series.slice_count):
        labels = np.zeros((series.rows, series.columns), dtype=np.uint8)
        labels[100 + 10 * z : 180 + 10 * z, 120:260] = 1 + z % 2  # distinctive blocks on every slice
        r1_labels[z] = labels
        review_services.mask_save(reading=r1, z_index=z, png=labelmaps.encode_png(labels), if_match=0, user=first)
    review_services.reading_submit(reading=r1, user=first)
    r1_pngs = {bytes(labelmaps.encode_png(labels)) for labels in r1_labels.values()}

    page = open_session("second-reader", PASSWORD)
    responses = []  # (url, status, content type, body) of everything the server sent reader 2's pages

    def keep(route) -> None:
        # Fetched through the route so that every body is kept, whatever the page does with it.
        response = route.fetch()
        content_type = response.headers.get("content-type", "")
        body = b"" if "dicom" in content_type else response.body()
        responses.append((route.request.url, response.status, content_type, body))
        route.fulfill(response=response)

    page.route("**/*", keep)
    page.goto(f"{live_server.url}/worklist/")
    page.wait_for_selector("#worklist tbody tr")
    page.get_by_test_id(f"open-{r2.pk}").click()
    wait_viewer(page)
    for z in range(series.slice_count):
        go_to_slice(page, z, showing="mask")
    page.wait_for_timeout(300)
    page.screenshot(path=str(artifacts / "blinding-reader2-workspace.png"))
    # Pages reader 2 might try: adjudication, the plain viewer (consensus overlay), the patient page.
    page.goto(f"{live_server.url}/adjudicate/{series.pk}/")
    page.wait_for_selector("[data-testid=forbidden]")  # a 403 page: no viewer that would ask for readings
    page.goto(f"{live_server.url}/series/{series.pk}/?overlay=consensus")
    wait_viewer(page)
    page.wait_for_timeout(500)
    page.goto(f"{live_server.url}/patients/{series.visit.patient_id}/")
    page.wait_for_selector("#app[data-ready='1']")
    page.goto(f"{live_server.url}/read/{r1.pk}/")  # reader 1's workspace URL: not even acknowledged
    assert "Not Found" in page.content() or page.title().startswith("Not Found")

    seen_mask_urls = set()
    for url, status, content_type, body in responses:
        assert f"/readings/{r1.pk}/" not in url, f"reader 2's page asked for reader 1's reading: {url}"
        if "dicom" in content_type or not 200 <= status < 300:
            continue
        if content_type.startswith("image/png"):
            assert body not in r1_pngs, f"{url} returned one of reader 1's masks"
            assert body, f"{url}: empty PNG response"
            labels = labelmaps.decode_png(body)
            for theirs in r1_labels.values():
                assert not (labels.shape == theirs.shape and (labels == theirs).all()), url
            if "/mask" in url:
                seen_mask_urls.add(url)
                assert f"/readings/{r2.pk}/" in url and not labels.any(), f"{url}: reader 2 has painted nothing"
            continue
        text = body.decode("utf-8", "replace")
        assert FIRST_READER not in text, f"{url} names reader 1"
        if "json" in content_type:
            for item in walk(json.loads(text)):
                assert item.get("id") != r1.pk or item.get("role") != "reader_1", f"{url} lists reader 1's reading"
                assert item.get("source") not in ("reader_1", "consensus"), f"{url} shows reader 1's involvement"
    assert len(seen_mask_urls) >= series.slice_count, "reader 2's own masks were loaded for every slice"
