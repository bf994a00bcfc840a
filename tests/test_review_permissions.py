"""Permission matrix: every role x every annotations endpoint x every review state.

Each cell runs in a savepoint that is rolled back, so cells do not change each other's world. Where a
user must be blind to a reader, no response (body or headers, on any endpoint) may hold a mark of that
reader's work: the mask, its pixel counts, the reader's name, figures from that reader alone.
"""

from __future__ import annotations

import pytest
from django.db import transaction
from rest_framework.test import APIClient

from annotations.models import Reading
from ildplatform import labelmaps

from .review_fixtures import STATES, build_cast, reader_1_labels, reader_2_labels

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


TIME_BATCH = {
    "batch_id": "6f1d2c3b-4a59-4e6f-8a7b-9c0d1e2f3a4b",
    "slices": [{"z_index": 1, "active_ms": 1500, "visits": 1}],
}


def endpoints(cast):
    """(name, method, path, body kwargs, expected(role, state)) per endpoint."""
    s, r1, r2 = cast.series.pk, cast.r1.pk, cast.r2.pk

    def with_version(reading, labels):
        """A save of the reader's own mask (so a body echoing it is not a leak) on its current version."""
        from annotations.selectors import mask_current

        png = labelmaps.encode_png(labels)
        return {"data": png, "content_type": "image/png", "HTTP_IF_MATCH": f'"{mask_current(reading, 1)[1]}"'}

    return [
        ("assign", "post", f"/api/v1/series/{s}/readings/",
         {"data": {"reader_1": "r1", "reader_2": "r2", "adjudicator": "adj"}, "format": "json"},
         lambda role, st: admin_only(role, 409)),  # readers have started in every state here
        ("review settings", "patch", f"/api/v1/series/{s}/review/",
         {"data": {"ai_preannotation": True}, "format": "json"}, lambda role, st: admin_only(role, 200)),
        ("worklist", "get", "/api/v1/readings/?mine=1", {}, lambda role, st: 401 if role == "anonymous" else 200),
        ("series readings", "get", f"/api/v1/series/{s}/readings/", {},
         lambda role, st: 401 if role == "anonymous" else 200),
        ("jobs", "get", f"/api/v1/jobs/?series={s}", {}, lambda role, st: 401 if role == "anonymous" else 200),
        ("r1 mask get", "get", f"/api/v1/readings/{r1}/slices/1/mask", {},
         lambda role, st: reading_view(role, "reader_1", st)),
        ("r1 mask old version", "get", f"/api/v1/readings/{r1}/slices/1/mask?version=1", {},
         lambda role, st: reading_view(role, "reader_1", st)),
        ("r1 mask put", "put", f"/api/v1/readings/{r1}/slices/1/mask", with_version(cast.r1, reader_1_labels()),
         lambda role, st: reading_edit(role, "reader_1", st, "one_submitted")),
        ("r1 history", "get", f"/api/v1/readings/{r1}/slices/1/mask/history", {},
         lambda role, st: reading_view(role, "reader_1", st)),
        ("r1 submit", "post", f"/api/v1/readings/{r1}/submit/", {},
         lambda role, st: reading_edit(role, "reader_1", st, "one_submitted")),
        ("r1 reopen", "post", f"/api/v1/readings/{r1}/reopen/", {"data": {"reason": "typo"}, "format": "json"},
         lambda role, st: admin_only(role, 200 if st in ("one_submitted", "both_submitted") else 409)),
        ("r2 mask get", "get", f"/api/v1/readings/{r2}/slices/1/mask", {},
         lambda role, st: reading_view(role, "reader_2", st)),
        ("r2 mask put", "put", f"/api/v1/readings/{r2}/slices/1/mask", with_version(cast.r2, reader_2_labels()),
         lambda role, st: reading_edit(role, "reader_2", st, "both_submitted")),
        ("r2 history", "get", f"/api/v1/readings/{r2}/slices/1/mask/history", {},
         lambda role, st: reading_view(role, "reader_2", st)),
        ("r2 submit", "post", f"/api/v1/readings/{r2}/submit/", {},
         lambda role, st: reading_edit(role, "reader_2", st, "both_submitted")),
        ("agreement", "get", f"/api/v1/series/{s}/agreement/", {}, results),
        ("disagreement", "get", f"/api/v1/series/{s}/slices/1/disagreement", {}, results),
        ("consensus", "get", f"/api/v1/series/{s}/consensus/", {}, consensus_read),
        ("decide", "post", f"/api/v1/series/{s}/consensus/slices/1/", {"data": {"decision": "reader_2"},
         "format": "json"}, consensus_write),
        # Slice 1 (the readers disagree there) has no decision yet: finalising is refused even for the adjudicator.
        ("finalize", "post", f"/api/v1/series/{s}/consensus/finalize/", {},
         lambda role, st: 409 if consensus_write(role, st) == 200 else consensus_write(role, st)),
        ("consensus mask", "get", f"/api/v1/series/{s}/consensus/slices/1/mask", {},
         lambda role, st: 409 if consensus_read(role, st) == 200 and st != "finalised" else consensus_read(role, st),),
        ("r1 reading time", "get", f"/api/v1/readings/{r1}/time/", {},
         lambda role, st: reading_view(role, "reader_1", st)),
        ("r1 reading time add", "post", f"/api/v1/readings/{r1}/time/", {"data": TIME_BATCH, "format": "json"},
         lambda role, st: reading_edit(role, "reader_1", st, "one_submitted")),
        ("r2 reading time", "get", f"/api/v1/readings/{r2}/time/", {},
         lambda role, st: reading_view(role, "reader_2", st)),
        ("series reading time", "get", f"/api/v1/series/{s}/reading-time/", {},
         lambda role, st: 401 if role == "anonymous" else 200),
        ("audit", "get", f"/api/v1/audit/?series={s}", {}, lambda role, st: admin_only(role, 200)),
        ("patient involvement", "get", f"/api/v1/patients/{cast.series.visit.patient_id}/involvement/", {},
         lambda role, st: 401 if role == "anonymous" else 200),
    ]  # fmt: skip


def blind_to(role: str, state: str) -> set[str]:
    """Whose reader data this role must not see in this state, on any endpoint."""
    readers = {"reader_1", "reader_2"}
    if role == "admin" or (role in (*readers, "adjudicator", "clinician") and after(state, "both_submitted")):
        return set()
    return readers - {role}


def leak_marks(cast) -> dict[str, list[bytes]]:
    """What only one reader's work puts into a body or its headers (each is looked for as it is written
    there): the mask, its pixel counts, the reader's user name, figures computed from that reader alone."""
    return {
        "reader_1": [cast.reader_1_png, b'"reticulation_pixels":1073', b'"r1"', b'"source":"reader_1"'],
        "reader_2": [cast.reader_2_png, b'"ggo_pixels":777', b'"r2"', b'"source":"reader_2"'],
    }


def leaks(response, hidden: set[str], marks: dict[str, list[bytes]]) -> list[str]:
    headers = "\n".join(f"{name}: {value}" for name, value in response.items()).encode()
    seen = headers + b"\n" + response.content
    return [f"{reader}: {mark[:30]!r}" for reader in sorted(hidden) for mark in marks[reader] if mark in seen]


def matrix_failures(state: str) -> tuple[list[str], int]:
    """Every role on every endpoint in this state: wrong answers, leaks, and marks that occurred nowhere
    (a mark no body can hold would check nothing)."""
    cast = build_cast(state)
    failures = []
    checked = 0
    marks = leak_marks(cast)
    unseen = {mark for reader_marks in marks.values() for mark in reader_marks}
    if state != "finalised":  # figures by source exist once the consensus is final
        unseen -= {b'"source":"reader_1"', b'"source":"reader_2"'}
    for name, method, path, kwargs, expected_for in endpoints(cast):
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
            leaked = leaks(response, blind_to(role, state), marks)
            if leaked:
                failures.append(f"{state} {role} {name}: leaks {leaked}")
            unseen -= {mark for mark in unseen if mark in response.content}
            checked += 1
    failures.extend(f"{state}: the leak mark {mark[:30]!r} occurs in no response" for mark in unseen)
    return failures, checked


@pytest.mark.parametrize("state", STATES)
def test_permission_matrix(state, db, capsys):
    failures, checked = matrix_failures(state)
    CELLS_CHECKED.append(checked)
    with capsys.disabled():
        print(f"\npermission matrix, state {state}: {checked} cells checked ({sum(CELLS_CHECKED)} so far)")
    assert not failures, "\n".join(failures)


def every_source_shown(review, user) -> set[str]:
    return set()


def every_reading_listed(*, series_id: int, user):
    return list(Reading.objects.filter(review__series_id=series_id))


@pytest.mark.parametrize(
    "planted, target, replacement, state, leak",
    [
        # Reader 2's involvement shown to a reader of another series (the leak this matrix once let pass).
        ("involvement", "annotations.access.hidden_involvement_sources", every_source_shown, "finalised",
         ("unrelated_reader patient involvement: leaks", '"source":"reader_2"')),
        # The series' readings listed to a reader before both have submitted: the other reader's name.
        ("readings list", "annotations.selectors.series_readings", every_reading_listed, "assigned",
         ("assigned reader_1 series readings: leaks", '"r2"')),
    ],
)  # fmt: skip
def test_a_planted_leak_fails_the_matrix(planted, target, replacement, state, leak, db, monkeypatch):
    monkeypatch.setattr(target, replacement)
    failures, _ = matrix_failures(state)
    cell, mark = leak
    assert any(cell in failure and mark in failure for failure in failures), (
        f"planted leak ({planted}) not caught:\n" + "\n".join(failures)
    )
