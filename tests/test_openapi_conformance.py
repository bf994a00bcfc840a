"""Schemathesis against /api/v1/schema/, signed in as each role, on gunicorn: no answer is a server error,
and every answer matches the schema's content type and response schema for its status. Prints the number
of requests made and, on failure, each operation that broke a check."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import content_type_conformance, not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from .review_fixtures import build_cast

ROLES = ("admin", "reader_1", "adjudicator", "clinician")
EXAMPLES_PER_OPERATION = 25
CHECKS = [not_a_server_error, content_type_conformance, response_schema_conformance]


@schemathesis.serializer("application/dicom", "image/png")
def binary_body(ctx, value) -> bytes:
    """Bodies the schema calls binary (a SEG, a label map): sent as generated, text as UTF-8."""
    return value if isinstance(value, bytes) else str(value).encode()


def fuzz(operation, base_url: str, headers: dict, label: str, failures: list[str]) -> int:
    """EXAMPLES_PER_OPERATION generated requests to one operation; failed checks appended; returns the count."""
    made = 0

    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    def call(case):
        nonlocal made
        response = case.call(base_url=base_url, headers=headers, timeout=60)
        made += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except (Exception, BaseExceptionGroup) as error:  # collected, so one run names every failure
            kinds = [line.strip() for line in str(error).splitlines() if line.strip().startswith("- ST")]
            failures.append(f"{label} {operation.label} -> {response.status_code}: {'; '.join(kinds) or error}")

    call()
    return made


def test_every_operation_answers_within_its_schema_for_every_role(live_services, live_web):
    # Objects to find: a series, a review, readings, a consensus. A real Redis holds the cast's jobs
    # (committed here, so queued for real) until build_cast runs them in this process.
    cast = build_cast("finalised")
    auth = {role: {"Authorization": f"Token {Token.objects.create(user=cast.users[role]).key}"} for role in ROLES}
    schema = schemathesis.openapi.from_url(f"{live_web}/api/v1/schema/?format=json", headers=auth["admin"])
    operations = [result.ok() for result in schema.get_all_operations()]
    failures: list[str] = []
    made = sum(fuzz(op, live_web, auth[role], role, failures) for op in operations for role in ROLES)
    print(f"schemathesis: {made} requests over {len(operations)} operations x {len(ROLES)} roles, "
          f"{len(failures)} failed checks")  # fmt: skip
    for failure in sorted(set(failures)):
        print(failure)
    assert made > 1000
    assert failures == [], "\n".join(sorted(set(failures))[:40])


def test_an_id_too_large_for_any_column_is_an_unknown_id(admin_client):
    """Found by the run above: 168172415618288086716337003320836096 reached the database (500, overflow)."""
    for url in ("/api/v1/series/168172415618288086716337003320836096/agreement/", "/api/v1/patients/2147483648/",
                "/api/v1/readings/1/slices/99999999999/mask"):  # fmt: skip
        answer = admin_client.get(url)
        assert answer.status_code == 404, (url, answer.status_code)
        assert answer.json()["detail"]
    assert admin_client.get("/api/v1/patients/2147483647/").status_code == 404  # the largest id: looked up


def test_a_huge_user_id_or_a_nul_in_json_is_a_clear_400(admin_client, make_user):
    """Found by the run above on PostgreSQL: a NUL character in a JSON string reached the database, which
    cannot store it (500). A user id larger than any column stays a plain "no user"."""
    series_id = 2147483647
    for body, named in (
        (b'{"reader_1": 100000000000000000000, "reader_2": "x", "adjudicator": "y"}', "no user 100000000000000000000"),
        (b'{"reader_1": "a\\u0000b", "reader_2": "x", "adjudicator": "y"}', "NUL"),
        (b'{"reason": "text with a raw \x00 in it"}', "NUL"),
    ):
        answer = admin_client.post(f"/api/v1/series/{series_id}/readings/", body, content_type="application/json")
        assert answer.status_code == 400, (body, answer.status_code)  # the body is read before the series
        assert named in str(answer.json()), answer.json()
