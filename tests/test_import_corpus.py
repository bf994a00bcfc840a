"""pydicom's bundled test files (odd transfer syntaxes, other modalities, damaged headers) as a corpus of
imports: each file is accepted, or refused with a JSON 4xx naming it and a reason; never a 500, never a
traceback, never a partial import."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import pytest

from ildplatform.models import Patient, Series, Slice, Visit

with warnings.catch_warnings():  # pydicom says that the files it would download are not here
    warnings.simplefilter("ignore")
    from pydicom.data import get_testdata_files

    CORPUS = sorted(Path(path) for path in get_testdata_files("*") if Path(path).is_file())


def stored(media_root: Path) -> tuple:
    counts = tuple(model.objects.count() for model in (Patient, Visit, Series, Slice))
    return counts, sorted(str(p) for p in media_root.rglob("*") if p.is_file())


def test_the_corpus_is_there():
    assert len(CORPUS) >= 50, "pydicom's bundled test files"


@pytest.mark.parametrize("path", CORPUS, ids=[path.name for path in CORPUS])
def test_each_file_is_imported_or_refused_with_its_name(path, admin_client, media_root, capfd):
    before = stored(media_root)
    upload = io.BytesIO(path.read_bytes())
    upload.name = path.name
    response = admin_client.post("/api/v1/imports/", {"files": [upload]}, format="multipart")
    assert response.status_code in (200, 201, 400, 413, 422), (response.status_code, response.content[:300])
    body = response.json()
    if response.status_code >= 400:
        assert path.name in response.content.decode(), body
        assert stored(media_root) == before, "a refused import left something behind"
    else:
        (imported,) = body["series"]
        series = Series.objects.get(pk=imported["series_id"])
        assert series.slices.count() == series.slice_count >= 1
    assert "Traceback" not in capfd.readouterr().err
