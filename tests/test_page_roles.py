"""Pages a role may not use answer a plain 403 page that says why (never a viewer that cannot load)."""

from __future__ import annotations

from django.test import Client

from .review_fixtures import build_cast


def _page(user, path: str):
    client = Client()
    client.force_login(user)
    return client.get(path)


def test_only_the_series_adjudicator_opens_the_adjudication_page(db):
    cast = build_cast("both_submitted")
    path = f"/adjudicate/{cast.series.pk}/"
    for role in ("clinician", "reader_1", "admin", "unrelated_reader"):
        answer = _page(cast.users[role], path)
        assert answer.status_code == 403, role
        assert b"Only the adjudicator assigned to this series" in answer.content
        assert b'data-page="adjudicate"' not in answer.content, "no viewer shell that would then fail"
    assert _page(cast.users["adjudicator"], path).status_code == 200


def test_the_reading_overview_is_for_admins(db):
    cast = build_cast("assigned")
    assert _page(cast.users["admin"], "/overview/").status_code == 200
    assert b'href="/overview/"' in _page(cast.users["admin"], "/").content
    for role in ("clinician", "reader_1", "adjudicator"):
        answer = _page(cast.users[role], "/overview/")
        assert answer.status_code == 403 and b"for admins" in answer.content
        assert b'href="/overview/"' not in _page(cast.users[role], "/").content


def test_workspace_pages_name_the_patient_visit_and_series_in_the_header(db):
    cast = build_cast("both_submitted")
    series = cast.series
    expected = f"{series.visit.patient.pseudonym} · "
    pages = [
        (cast.users["reader_1"], f"/read/{cast.r1.pk}/"),
        (cast.users["adjudicator"], f"/adjudicate/{series.pk}/"),
        (cast.users["clinician"], f"/series/{series.pk}/"),
    ]
    for user, path in pages:
        html = _page(user, path).content.decode()
        assert 'data-testid="series-context"' in html and expected in html, path
        assert f"series #{series.pk}" in html and f"{series.slice_count} slices" in html, path
