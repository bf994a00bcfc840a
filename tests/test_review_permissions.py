"""Permission matrix: every role x every annotations endpoint x every review state.

Each cell runs in a savepoint that is rolled back, so cells do not change each other's world. Where a
user must be blind to a reader, the response must hold neither that reader's mask nor its pixel counts.
"""

from __future__ import annotations

import pytest
from django.db import transaction
from rest_framework.test import APIClient

from ildplatform import labelmaps

from .review_fixtures import STATES, build_cast, reader_1_labels

ROLES = ("reader_1", "reader_2", "adjudicator", "clinician", "admin", "unrelated_reader", "anonymous")
CELLS_CHECKED = []


def after(state: str, milestone: str) -> bool:
    return STATES.index(state) >= STATES.index(milestone)


def reading_view(role: str, owner: str, state: str) -> int:
    if role == "anonymous":
        return 401
    if role in (owner, "admin"):
        return 200
    if role in ("reader_1", "reader_2") and after(state, "both_submitted"):
        return 200
    if role == "adjudicator":
        return 200 if after(state, "both_submitted") else 403
    return 404


def reading_edit(role: str, owner: str, state: str, submitted_from: str) -> int:
    if role == owner:
        return 409 if after(state, submitted_from) else 200
    seen = reading_view(role, owner, state)
    return 403 if seen == 200 else seen


def results(role: str, state: str) -> int:
    """Agreement and disagreement maps."""
    if role == "anonymous":
        return 401
    if role == "admin":
        return 200 if after(state, "both_submitted") else 409
    if role in ("reader_1", "reader_2", "adjudicator", "clinician"):
        return 200 if after(state, "both_submitted") else 403
    return 403


def consensus_read(role: str, state: str) -> int:
    if role == "anonymous":
        return 401
    if state == "finalised":
        return 403 if role == "unrelated_reader" else 200
    if role == "admin":
        return 200
    if role == "adjudicator":
        return 200 if after(state, "both_submitted") else 403
    return 403


def consensus_write(role: str, state: str) -> int:
    if role == "anonymous":
        return 401
    if role != "adjudicator" or not after(state, "both_submitted"):
        return 403
    return 409 if state == "finalised" else 200


def admin_only(role: str, admin_status: int) -> int:
    return {"anonymous": 401, "admin": admin_status}.get(role, 403)


def endpoints(cast):
    """(name, method, path, body kwargs, expected(role, state), blinded_to_reader) per endpoint."""
    s, r1, r2 = cast.series.pk, cast.r1.pk, cast.r2.pk
    png = labelmaps.encode_png(reader_1_labels())
    put = {"data": png, "content_type": "image/png"}

    def with_version(reading):
        from annotations.selectors import mask_current

        return {**put, "HTTP_IF_MATCH": f'"{mask_current(reading, 1)[1]}"'}

    return [
        ("assign", "post", f"/api/v1/series/{s}/readings/",
         {"data": {"reader_1": "r1", "reader_2": "r2", "adjudicator": "adj"}, "format": "json"},
         lambda role, st: admin_only(role, 409), None),  # readers have started in every state here
        ("review settings", "patch", f"/api/v1/series/{s}/review/",
         {"data": {"ai_preannotation": True}, "format": "json"}, lambda role, st: admin_only(role, 200), None),
        ("worklist", "get", "/api/v1/readings/?mine=1", {}, lambda role, st: 401 if role == "anonymous" else 200, None),
        ("series readings", "get", f"/api/v1/series/{s}/readings/", {},
         lambda role, st: 401 if role == "anonymous" else 200, None),
        ("jobs", "get", f"/api/v1/jobs/?series={s}", {}, lambda role, st: 401 if role == "anonymous" else 200, None),
        ("r1 mask get", "get", f"/api/v1/readings/{r1}/slices/1/mask", {},
         lambda role, st: reading_view(role, "reader_1", st), "reader_1"),
        ("r1 mask old version", "get", f"/api/v1/readings/{r1}/slices/1/mask?version=1", {},
         lambda role, st: reading_view(role, "reader_1", st), "reader_1"),
        ("r1 mask put", "put", f"/api/v1/readings/{r1}/slices/1/mask", with_version(cast.r1),
         lambda role, st: reading_edit(role, "reader_1", st, "one_submitted"), "reader_1"),
        ("r1 history", "get", f"/api/v1/readings/{r1}/slices/1/mask/history", {},
         lambda role, st: reading_view(role, "reader_1", st), "reader_1"),
        ("r1 submit", "post", f"/api/v1/readings/{r1}/submit/", {},
         lambda role, st: reading_edit(role, "reader_1", st, "one_submitted"), "reader_1"),
        ("r1 reopen", "post", f"/api/v1/readings/{r1}/reopen/", {"data": {"reason": "typo"}, "format": "json"},
         lambda role, st: admin_only(role, 200 if st in ("one_submitted", "both_submitted") else 409), "reader_1"),
        ("r2 mask get", "get", f"/api/v1/readings/{r2}/slices/1/mask", {},
         lambda role, st: reading_view(role, "reader_2", st), "reader_2"),
        ("r2 mask put", "put", f"/api/v1/readings/{r2}/slices/1/mask", with_version(cast.r2),
         lambda role, st: reading_edit(role, "reader_2", st, "both_submitted"), "reader_2"),
        ("r2 history", "get", f"/api/v1/readings/{r2}/slices/1/mask/history", {},
         lambda role, st: reading_view(role, "reader_2", st), "reader_2"),
        ("r2 submit", "post", f"/api/v1/readings/{r2}/submit/", {},
         lambda role, st: reading_edit(role, "reader_2", st, "both_submitted"), "reader_2"),
        ("agreement", "get", f"/api/v1/series/{s}/agreement/", {}, results, "both"),
        ("disagreement", "get", f"/api/v1/series/{s}/slices/1/disagreement", {}, results, "both"),
        ("consensus", "get", f"/api/v1/series/{s}/consensus/", {}, consensus_read, "both"),
        ("decide", "post", f"/api/v1/series/{s}/consensus/slices/1/", {"data": {"decision": "reader_2"},
         "format": "json"}, consensus_write, "both"),
        # Slice 1 (the readers disagree there) has no decision yet: finalising is refused even for the adjudicator.
        ("finalize", "post", f"/api/v1/series/{s}/consensus/finalize/", {},
         lambda role, st: 409 if consensus_write(role, st) == 200 else consensus_write(role, st), "both"),
        ("consensus mask", "get", f"/api/v1/series/{s}/consensus/slices/1/mask", {},
         lambda role, st: 409 if consensus_read(role, st) == 200 and st != "finalised" else consensus_read(role, st),
         "both"),
        ("audit", "get", f"/api/v1/audit/?series={s}", {}, lambda role, st: admin_only(role, 200), None),
        ("patient involvement", "get", f"/api/v1/patients/{cast.series.visit.patient_id}/involvement/", {},
         lambda role, st: 401 if role == "anonymous" else 200, "both"),
    ]  # fmt: skip


def blind_to(role: str, reader: str | None, state: str) -> set[str]:
    """Whose reader data this role must not see in this state."""
    if reader is None or role == "admin":
        return set()
    readers = {"reader_1", "reader_2"} if reader == "both" else {reader}
    if role in ("reader_1", "reader_2", "adjudicator", "clinician") and after(state, "both_submitted"):
        return set()
    return readers - {role}


def leaks(body: bytes, hidden: set[str], cast) -> list[str]:
    marks = {
        "reader_1": [cast.reader_1_png, b"1073"],
        "reader_2": [cast.reader_2_png, b"777"],
    }
    return [f"{reader}: {mark[:20]!r}" for reader in hidden for mark in marks[reader] if mark in body]


@pytest.mark.parametrize("state", STATES)
def test_permission_matrix(state, db, capsys):
    cast = build_cast(state)
    checked = 0
    failures = []
    for name, method, path, kwargs, expected_for, reader in endpoints(cast):
        for role in ROLES:
            client = APIClient()
            if role != "anonymous":
                client.force_authenticate(cast.users[role])
            with transaction.atomic():
                response = getattr(client, method)(path, **kwargs)
                transaction.set_rollback(True)
            expected = expected_for(role, state)
            if response.status_code != expected:
                failures.append(f"{state} {role} {name}: {response.status_code} != {expected} {response.content[:150]}")
            leaked = leaks(response.content, blind_to(role, reader, state), cast)
            if leaked:
                failures.append(f"{state} {role} {name}: leaks {leaked}")
            checked += 1
    CELLS_CHECKED.append(checked)
    with capsys.disabled():
        print(f"\npermission matrix, state {state}: {checked} cells checked ({sum(CELLS_CHECKED)} so far)")
    assert not failures, "\n".join(failures)
