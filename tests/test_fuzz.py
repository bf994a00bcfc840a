"""Fuzzing the inputs that come from outside: DICOM files (mutated real CT from ../shared/data, pydicom's
CT_small and a synthetic slice), zip archives, label-map PNGs and JSON bodies, 10,000 inputs in all,
each through the HTTP API as a client sends it.

For every input: no unhandled exception (the test client raises one) and no 5xx; a refusal is a JSON
4xx saying what was wrong (a `detail`, or each field and its problem) and leaves the database and the
stored files as they were; an accepted import is complete (every slice row, slice file and the volume
stored). The inputs are the same on every run (derandomized), so a failure found in CI is found again
locally; each test prints its counts.
"""

from __future__ import annotations

import io
import logging
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from django.core.files.storage import default_storage
from hypothesis import HealthCheck, given, settings
from PIL import Image
from rest_framework.test import APIClient

from annotations.models import AuditEvent, ConsensusDecision, MaskVersion, Reading, Review
from annotations.selectors import mask_current
from ildplatform import labelmaps
from ildplatform.models import Job, Patient, Series, Slice, Visit

from . import fuzzing
from .conftest import SHARED_DATA
from .dicom_factory import ct_series, to_bytes
from .review_fixtures import build_cast

# pydicom warns about every odd element it meets: thousands of lines here, by design of the inputs.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:pydicom", "ignore::DeprecationWarning:pydicom")

FUZZ = settings(
    deadline=None, derandomize=True, database=None, print_blob=True, suppress_health_check=list(HealthCheck)
)
EXAMPLES = {"import": 4000, "zip": 2000, "png": 2000, "json": 2000}  # 10,000 inputs

SEEDS = fuzzing.dicom_seeds(to_bytes(ct_series(1, seed="fuzz")[0]), SHARED_DATA)
ZIP_MEMBERS = {f"study/s{i}.dcm": to_bytes(d) for i, d in enumerate(ct_series(2, seed="fuzz-zip"))} | {
    "study/README.txt": b"not DICOM"
}
GOOD_LABELS = np.zeros((64, 64), dtype=np.uint8)
GOOD_LABELS[10:30, 10:40] = 1
GOOD_LABELS[35:50, 20:60] = 2
GOOD_PNG = labelmaps.encode_png(GOOD_LABELS)


@pytest.fixture(autouse=True)
def quiet_refusals():
    """Django logs each 4xx as a warning: 10,000 lines that say nothing. 5xx (errors) still show."""
    logger = logging.getLogger("django.request")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)


def stored(media_root: Path) -> tuple:
    counts = tuple(model.objects.count() for model in (Patient, Visit, Series, Slice))
    return counts, sorted(str(p) for p in media_root.rglob("*") if p.is_file())


def refusal_is_clean(response) -> None:
    assert response.status_code < 500, (response.status_code, response.content[:300])
    if response.status_code >= 400:
        assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
        body = response.json()  # says what was wrong: a `detail`, or the fields and what is wrong with each
        assert isinstance(body, dict) and body and all(body.values()), response.content[:300]


def import_answer_holds(response, before: tuple, media_root: Path, counts: Counter) -> None:
    refusal_is_clean(response)
    if response.status_code >= 400:
        counts["refused"] += 1
        assert stored(media_root) == before, "a refused import left something behind"
        return
    counts["accepted"] += 1
    for answer in response.json()["series"]:
        series = Series.objects.get(pk=answer["series_id"])
        slices = list(series.slices.all())
        assert len(slices) == series.slice_count >= 1, "a partial import"
        assert default_storage.exists(series.volume_file)
        assert all(default_storage.exists(s.dicom_file.name) for s in slices)
        with default_storage.open(series.volume_file) as handle:
            assert np.load(handle).shape == (series.slice_count, series.rows, series.columns)


def post_import(client, name: str, data: bytes):
    upload = io.BytesIO(data)
    upload.name = name
    return client.post("/api/v1/imports/", {"files": [upload]}, format="multipart")


def report(capsys, target: str, counts: Counter) -> None:
    with capsys.disabled():
        figures = ", ".join(f"{count} {what}" for what, count in sorted(counts.items()))
        print(f"\nfuzz {target}: {sum(counts.values())} inputs ({figures}), 0 server errors, 0 partial imports")


def test_fuzz_seeds_include_real_ct():
    names = [seed.name for seed in SEEDS]
    assert names[:2] == ["factory.dcm", "CT_small.dcm"]
    if SHARED_DATA.is_dir():
        assert len(names) == 6, names


def test_fuzz_dicom_import(admin_client, media_root, capsys):
    counts = Counter()

    @settings(FUZZ, max_examples=EXAMPLES["import"])
    @given(fuzzing.damaged_dicom(SEEDS))
    def one(damaged):
        name, data = damaged
        before = stored(media_root)
        import_answer_holds(post_import(admin_client, name, data), before, media_root, counts)

    one()
    report(capsys, "DICOM import", counts)
    assert counts["refused"] > EXAMPLES["import"] / 4 and counts["accepted"] > 10  # the damage reached both ways


def test_fuzz_zip_import(admin_client, media_root, capsys):
    counts = Counter()

    @settings(FUZZ, max_examples=EXAMPLES["zip"])
    @given(fuzzing.damaged_zip(ZIP_MEMBERS))
    def one(archive):
        before = stored(media_root)
        import_answer_holds(post_import(admin_client, "study.zip", archive), before, media_root, counts)

    one()
    report(capsys, "zip import", counts)
    assert counts["refused"] > EXAMPLES["zip"] / 4 and counts["accepted"] > 10


def test_fuzz_label_map_png(db, media_root, capsys):
    cast = build_cast("assigned", seed="fuzz-png")
    client = APIClient()
    client.force_authenticate(cast.r1.user)
    counts = Counter()

    @settings(FUZZ, max_examples=EXAMPLES["png"])
    @given(fuzzing.damaged_png(GOOD_PNG))
    def one(png):
        version = mask_current(cast.r1, 3)[1]
        before = (MaskVersion.objects.count(), AuditEvent.objects.count())
        response = client.put(f"/api/v1/readings/{cast.r1.pk}/slices/3/mask", data=png, content_type="image/png",
                              HTTP_IF_MATCH=f'"{version}"')  # fmt: skip
        refusal_is_clean(response)
        if response.status_code >= 400:
            counts["refused"] += 1
            assert (MaskVersion.objects.count(), AuditEvent.objects.count()) == before
            return
        counts["accepted"] += 1
        saved = MaskVersion.objects.get(reading=cast.r1, slice__z_index=3, version=version + 1)
        labels = np.asarray(Image.open(io.BytesIO(bytes(saved.labels_png))))  # Pillow, not the code under test
        assert labels.shape == (64, 64) and labels.dtype == np.uint8 and labels.max() <= 2

    one()
    report(capsys, "label-map PNG", counts)
    assert counts["refused"] > EXAMPLES["png"] / 4


def json_targets(cast) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """(who, method, path, the endpoint's own fields) for every endpoint that reads a JSON body."""
    s, r1, r2 = cast.series.pk, cast.r1.pk, cast.r2.pk
    job = Job.objects.filter(series=cast.series).first().pk
    return [
        ("admin", "post", f"/api/v1/series/{s}/readings/", ("reader_1", "reader_2", "adjudicator")),
        ("admin", "patch", f"/api/v1/series/{s}/review/", ("ai_preannotation", "blind_to_priors")),
        ("admin", "post", f"/api/v1/readings/{r1}/reopen/", ("reason",)),
        ("adjudicator", "post", f"/api/v1/series/{s}/consensus/slices/1/", ("decision", "mask")),
        ("reader_2", "put", f"/api/v1/readings/{r2}/slices/0/reviewed", ("reviewed",)),
        ("admin", "post", f"/api/v1/series/{s}/inference/", ("task",)),
        (
            "admin",
            "post",
            "/api/v1/models/training/",
            ("task", "source", "variant", "folds", "epochs", "seed", "test_patients", "transfer", "settings"),
        ),  # fmt: skip
        ("admin", "post", f"/api/v1/jobs/{job}/cancel/", ()),
        ("anonymous", "post", "/api/v1/auth/token/", ("username", "password")),
    ]


def review_state() -> tuple:
    return (
        tuple(Reading.objects.order_by("pk").values_list("state", flat=True)),
        tuple(Review.objects.order_by("pk").values_list("ai_preannotation", "blind_to_priors")),
        ConsensusDecision.objects.count(),
        Job.objects.count(),
        AuditEvent.objects.count(),
    )


def test_fuzz_json_bodies(db, media_root, capsys):
    cast = build_cast("both_submitted", seed="fuzz-json")
    targets = json_targets(cast)
    clients = {}
    for who in {target[0] for target in targets}:
        clients[who] = APIClient()
        if who != "anonymous":
            clients[who].force_authenticate(cast.users[who])
    counts, statuses = Counter(), Counter()

    @settings(FUZZ, max_examples=EXAMPLES["json"])
    @given(fuzzing.st.data())
    def one(data):
        who, method, path, fields = data.draw(fuzzing.st.sampled_from(targets))
        body, content_type = data.draw(fuzzing.hostile_body(fields or ("x",)))
        before = review_state()
        response = getattr(clients[who], method)(path, data=body, content_type=content_type)
        refusal_is_clean(response)
        statuses[response.status_code] += 1
        if response.status_code >= 400:
            counts["refused"] += 1
            assert review_state() == before, f"{method} {path} refused but changed something"
        else:
            counts["accepted"] += 1

    one()
    report(capsys, "JSON bodies", counts)
    with capsys.disabled():
        print("  by status: " + ", ".join(f"{code}: {n}" for code, n in sorted(statuses.items())))
    assert counts["refused"] > EXAMPLES["json"] / 2
