"""Bad masks, versions and decisions: each gets a 4xx naming what is wrong, and nothing changes."""

from __future__ import annotations

import io
import zlib

import numpy as np
import pytest
from PIL import Image
from rest_framework.test import APIClient

from annotations.models import AuditEvent, ConsensusDecision, ConsensusMask, MaskVersion, Reading, Review
from ildplatform import labelmaps

from .review_fixtures import build_cast


def png_of(array: np.ndarray, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buffer, format="PNG")
    return buffer.getvalue()


GOOD = labelmaps.encode_png(np.zeros((64, 64), dtype=np.uint8))
THREES = labelmaps.encode_png(np.full((64, 64), 3, dtype=np.uint8))

# name: (who, state, method, path template, request kwargs, expected status, fragment of the message)
MASK_CASES = {
    "not a png": ("reader_1", "assigned", "put", "/api/v1/readings/{r1}/slices/1/mask",
                  {"data": b"GIF89a....", "content_type": "image/png", "HTTP_IF_MATCH": '"1"'}, 400, "not a PNG"),
    "wrong size": ("reader_1", "assigned", "put", "/api/v1/readings/{r1}/slices/1/mask",
                   {"data": labelmaps.encode_png(np.zeros((32, 64), np.uint8)), "content_type": "image/png",
                    "HTTP_IF_MATCH": '"1"'}, 400, "64x32 pixels, the slice is 64x64"),
    "label 3": ("reader_1", "assigned", "put", "/api/v1/readings/{r1}/slices/1/mask",
                {"data": THREES, "content_type": "image/png", "HTTP_IF_MATCH": '"1"'}, 400, "0..2"),
    "rgb png": ("reader_1", "assigned", "put", "/api/v1/readings/{r1}/slices/1/mask",
                {"data": png_of(np.zeros((64, 64, 3), np.uint8)), "content_type": "image/png",
                 "HTTP_IF_MATCH": '"1"'}, 400, "mode RGB"),
    "16-bit png": ("reader_1", "assigned", "put", "/api/v1/readings/{r1}/slices/1/mask",
                   {"data": png_of(np.zeros((64, 64), np.uint16)), "content_type": "image/png",
                    "HTTP_IF_MATCH": '"1"'}, 400, "8-bit"),
    "truncated png": ("reader_1", "assigned", "put", "/api/v1/readings/{r1}/slices/1/mask",
                      {"data": GOOD[:40], "content_type": "image/png", "HTTP_IF_MATCH": '"1"'}, 400, "corrupt PNG"),
    "empty body": ("reader_1", "assigned", "put", "/api/v1/readings/{r1}/slices/1/mask",
                   {"data": b"", "content_type": "image/png", "HTTP_IF_MATCH": '"1"'}, 400, "not a PNG"),
    "wrong content type": ("reader_1", "assigned", "put", "/api/v1/readings/{r1}/slices/1/mask",
                           {"data": GOOD, "content_type": "image/jpeg", "HTTP_IF_MATCH": '"1"'}, 415, "image/jpeg"),
    "unknown slice": ("reader_1", "assigned", "put", "/api/v1/readings/{r1}/slices/99/mask",
                      {"data": GOOD, "content_type": "image/png", "HTTP_IF_MATCH": '"0"'}, 400, "z index 99"),
    "no If-Match": ("reader_1", "assigned", "put", "/api/v1/readings/{r1}/slices/1/mask",
                    {"data": GOOD, "content_type": "image/png"}, 428, "If-Match"),
    "stale version": ("reader_1", "assigned", "put", "/api/v1/readings/{r1}/slices/1/mask",
                      {"data": GOOD, "content_type": "image/png", "HTTP_IF_MATCH": '"0"'}, 409, "version 1"),
    "malformed If-Match": ("reader_1", "assigned", "put", "/api/v1/readings/{r1}/slices/1/mask",
                           {"data": GOOD, "content_type": "image/png", "HTTP_IF_MATCH": "latest"}, 400, "If-Match"),
    "unknown reading": ("reader_1", "assigned", "put", "/api/v1/readings/9999/slices/1/mask",
                        {"data": GOOD, "content_type": "image/png", "HTTP_IF_MATCH": '"1"'}, 404, "9999"),
    "submitted reading": ("reader_1", "one_submitted", "put", "/api/v1/readings/{r1}/slices/1/mask",
                          {"data": GOOD, "content_type": "image/png", "HTTP_IF_MATCH": '"1"'}, 409, "submitted"),
    "submit twice": ("reader_1", "one_submitted", "post", "/api/v1/readings/{r1}/submit/", {}, 409, "already"),
    "bad version query": ("reader_1", "assigned", "get", "/api/v1/readings/{r1}/slices/1/mask?version=x", {}, 400,
                          "whole number"),
    "unknown version": ("reader_1", "assigned", "get", "/api/v1/readings/{r1}/slices/1/mask?version=7", {}, 404,
                        "no version 7"),
}  # fmt: skip

DECISION_CASES = {
    "unknown decision": ("adjudicator", "both_submitted", "post", "/api/v1/series/{s}/consensus/slices/1/",
                         {"data": {"decision": "majority"}, "format": "json"}, 400, "majority"),
    "edited without mask": ("adjudicator", "both_submitted", "post", "/api/v1/series/{s}/consensus/slices/1/",
                            {"data": {"decision": "edited"}, "format": "json"}, 400, "needs the edited mask"),
    "edited wrong size": ("adjudicator", "both_submitted", "post", "/api/v1/series/{s}/consensus/slices/1/",
                          {"data": {"decision": "edited", "mask": ("m.png", labelmaps.encode_png(np.zeros((8, 8),
                           np.uint8)))}, "format": "multipart"}, 400, "8x8 pixels"),
    "mask with union": ("adjudicator", "both_submitted", "post", "/api/v1/series/{s}/consensus/slices/1/",
                        {"data": {"decision": "union", "mask": ("m.png", GOOD)}, "format": "multipart"}, 400,
                        "only with the 'edited'"),
    "unknown slice": ("adjudicator", "both_submitted", "post", "/api/v1/series/{s}/consensus/slices/42/",
                      {"data": {"decision": "union"}, "format": "json"}, 400, "z index 42"),
    "after finalise": ("adjudicator", "finalised", "post", "/api/v1/series/{s}/consensus/slices/1/",
                       {"data": {"decision": "union"}, "format": "json"}, 409, "finalised"),
    "finalise twice": ("adjudicator", "finalised", "post", "/api/v1/series/{s}/consensus/finalize/", {}, 409,
                       "finalised"),
    "reopen without reason": ("admin", "one_submitted", "post", "/api/v1/readings/{r1}/reopen/",
                              {"data": {"reason": ""}, "format": "json"}, 400, "reason"),
    "reopen after finalise": ("admin", "finalised", "post", "/api/v1/readings/{r1}/reopen/",
                              {"data": {"reason": "missed a lesion"}, "format": "json"}, 409, "finalised"),
    "assign same user twice": ("admin", "assigned", "post", "/api/v1/series/{s}/readings/",
                               {"data": {"reader_1": "r3", "reader_2": "r3", "adjudicator": "adj"}, "format": "json"},
                               400, "three different users"),
    "assign without role": ("admin", "assigned", "post", "/api/v1/series/{s}/readings/",
                            {"data": {"reader_1": "clin", "reader_2": "r3", "adjudicator": "adj"}, "format": "json"},
                            400, "does not have the reader role"),
    "assign unknown user": ("admin", "assigned", "post", "/api/v1/series/{s}/readings/",
                            {"data": {"reader_1": "nobody", "reader_2": "r3", "adjudicator": "adj"}, "format": "json"},
                            400, "no user 'nobody'"),
    "audit bad series": ("admin", "assigned", "get", "/api/v1/audit/?series=abc", {}, 400, "series id"),
}  # fmt: skip


def png_claiming(width: int, height: int) -> bytes:
    """A small PNG whose header claims another size (its CRC fixed, so only the size is wrong)."""
    data = bytearray(GOOD)
    data[16:24] = width.to_bytes(4, "big") + height.to_bytes(4, "big")
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")
    return bytes(data)


DEEP = "[" * 100_000 + "]" * 100_000  # Python's json recursion gives out long before this
MASK_PUT = "/api/v1/readings/{r1}/slices/1/mask"

HOSTILE_CASES = {
    "png claims 100000x100000": ("reader_1", "assigned", "put", MASK_PUT,
                                 {"data": png_claiming(100_000, 100_000), "content_type": "image/png",
                                  "HTTP_IF_MATCH": '"1"'}, 400, "100000x100000 pixels, the slice is 64x64"),
    "real 6000x6000 png": ("reader_1", "assigned", "put", MASK_PUT,
                           {"data": png_of(np.zeros((6_000, 6_000), np.uint8)), "content_type": "image/png",
                            "HTTP_IF_MATCH": '"1"'}, 400, "6000x6000 pixels"),
    "png without IEND": ("reader_1", "assigned", "put", MASK_PUT,
                         {"data": GOOD[:-12], "content_type": "image/png", "HTTP_IF_MATCH": '"1"'}, 400, "IEND"),
    "deep json on assign": ("admin", "assigned", "post", "/api/v1/series/{s}/readings/",
                            {"data": DEEP, "content_type": "application/json"}, 400, "nests 100000 levels"),
    "deep json on decide": ("adjudicator", "both_submitted", "post", "/api/v1/series/{s}/consensus/slices/1/",
                            {"data": DEEP, "content_type": "application/json"}, 400, "nests 100000 levels"),
    "deep json on reopen": ("admin", "one_submitted", "post", "/api/v1/readings/{r1}/reopen/",
                            {"data": '{"reason": ' + DEEP + "}", "content_type": "application/json"}, 400,
                            "nests 100001 levels"),
    "deep json on review": ("admin", "assigned", "patch", "/api/v1/series/{s}/review/",
                            {"data": DEEP, "content_type": "application/json"}, 400, "nests 100000 levels"),
    "reason as a number": ("admin", "one_submitted", "post", "/api/v1/readings/{r1}/reopen/",
                           {"data": {"reason": 123}, "format": "json"}, 400, "Must be text"),
    "reviewed as text": ("reader_1", "assigned", "put", "/api/v1/readings/{r1}/slices/0/reviewed",
                         {"data": {"reviewed": "yes"}, "format": "json"}, 400, "true or false"),
    "switch as text": ("admin", "assigned", "patch", "/api/v1/series/{s}/review/",
                       {"data": {"ai_preannotation": "true"}, "format": "json"}, 400, "true or false"),
    "decision as a list": ("adjudicator", "both_submitted", "post", "/api/v1/series/{s}/consensus/slices/1/",
                           {"data": {"decision": ["union"]}, "format": "json"}, 400, "Must be text"),
    "reader as an object": ("admin", "assigned", "post", "/api/v1/series/{s}/readings/",
                            {"data": {"reader_1": {"id": 1}, "reader_2": "r3", "adjudicator": "adj"},
                             "format": "json"}, 400, "a username"),
}  # fmt: skip

ALL_CASES = MASK_CASES | DECISION_CASES | HOSTILE_CASES


def world(review: Review) -> tuple:
    return (
        list(MaskVersion.objects.order_by("id").values_list("id", "version")),
        list(ConsensusDecision.objects.order_by("id").values_list("id", "decision", "edited_png")),
        ConsensusMask.objects.count(),
        list(Reading.objects.order_by("id").values_list("id", "state", "user_id")),
        AuditEvent.objects.count(),
        Review.objects.filter(pk=review.pk).values_list("finalized_at", "ai_preannotation").get(),
    )


@pytest.mark.parametrize("case", ALL_CASES)
def test_bad_review_input_is_refused_and_changes_nothing(case, db):
    who, state, method, path, kwargs, status, fragment = ALL_CASES[case]
    cast = build_cast(state)
    kwargs = dict(kwargs)
    if isinstance(kwargs.get("data"), dict) and "mask" in kwargs["data"]:
        name, content = kwargs["data"]["mask"]
        upload = io.BytesIO(content)
        upload.name = name
        kwargs["data"] = {**kwargs["data"], "mask": upload}
    before = world(cast.review)
    client = APIClient()
    client.force_authenticate(cast.users[who])
    url = path.format(r1=cast.r1.pk, s=cast.series.pk)
    response = getattr(client, method)(url, **kwargs)
    assert response.status_code == status, response.content
    assert fragment in response.content.decode(), response.content
    assert world(cast.review) == before
