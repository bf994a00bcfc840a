"""DICOMweb against the live server with the real `dicomweb-client` package: STOW-RS import of the RICORD
series, QIDO-RS searches, WADO-RS metadata, frames (stored syntax and decoded) compared bit for bit with
the stored files as pydicom reads them, whole instances, WADO-URI; absolute URLs from PUBLIC_BASE_URL."""

from __future__ import annotations

import json
import time

import numpy as np
import pydicom
import pytest
import requests
from dicomweb_client.api import DICOMwebClient
from pydicom.encaps import generate_frames
from rest_framework.authtoken.models import Token

from ildplatform.models import Series

pytestmark = pytest.mark.realdata

PUBLIC = "https://ild.example.org"  # PUBLIC_BASE_URL of the live_web fixture; the server runs on loopback
JP2 = 'multipart/related; type="image/jp2"; transfer-syntax=1.2.840.10008.1.2.4.90'


def auth_of(user) -> dict:
    token, _ = Token.objects.get_or_create(user=user)
    return {"Authorization": f"Token {token.key}"}


def client_for(live_web, user) -> DICOMwebClient:
    return DICOMwebClient(f"{live_web}/dicomweb", headers=auth_of(user))


@pytest.fixture
def ricord(shared_data, live_web, make_user):
    """The RICORD series stored through STOW-RS by an admin (its 248 files in one chunked request)."""
    boss = make_user("admin", "boss")
    admin = client_for(live_web, boss)
    files = sorted((shared_data / "ricord-1a-chest-series").rglob("*.dcm"))
    answer = admin.store_instances([pydicom.dcmread(path) for path in files])
    series = Series.objects.get()
    return {"admin": admin, "auth": auth_of(boss), "series": series, "answer": answer, "source_count": len(files)}


def stored_dataset(found) -> pydicom.Dataset:
    with open(found.dicom_file.path, "rb") as handle:
        return pydicom.dcmread(handle)


def test_stow_qido_and_metadata(ricord, live_web, make_user):
    series = ricord["series"]
    referenced = ricord["answer"].ReferencedSOPSequence
    assert len(referenced) == ricord["source_count"] == series.slice_count == 248
    assert {item.ReferencedSOPInstanceUID for item in referenced} == set(
        series.slices.values_list("sop_uid", flat=True)
    )
    assert all(item.RetrieveURL.startswith(f"{PUBLIC}/dicomweb/studies/{series.study_uid}/") for item in referenced)

    reader = client_for(live_web, make_user("reader", "someone"))  # any signed-in user reads images
    pseudonym = series.visit.patient.pseudonym
    visit_day = series.visit.date.strftime("%Y%m%d")
    studies = reader.search_for_studies(search_filters={"PatientID": pseudonym, "ModalitiesInStudy": "CT"})
    assert [s["0020000D"]["Value"][0] for s in studies] == [series.study_uid]
    assert studies[0]["00201208"]["Value"] == [248]  # NumberOfStudyRelatedInstances
    assert reader.search_for_studies(search_filters={"StudyDate": f"{visit_day}-"}) == studies
    assert reader.search_for_studies(search_filters={"StudyDate": "19000101-19001231"}) == []
    assert reader.search_for_studies(search_filters={"PatientID": "nobody*"}) == []
    assert reader.search_for_studies(limit=1, offset=1) == []
    found_series = reader.search_for_series(series.study_uid)
    assert [s["0020000E"]["Value"][0] for s in found_series] == [series.series_uid]
    assert found_series[0]["00080060"]["Value"] == ["CT"]
    instances = reader.search_for_instances(series.study_uid, series.series_uid)
    assert len(instances) == 248
    assert len(reader.search_for_instances(series.study_uid, series.series_uid, limit=10, offset=240)) == 8
    flat = reader.search_for_instances(search_filters={"SeriesInstanceUID": series.series_uid}, limit=5)
    assert len(flat) == 5 and flat[0]["0020000D"]["Value"] == [series.study_uid]  # study attributes too
    assert len(reader.search_for_series(fields=["StudyDescription"], search_filters={"Modality": "CT"})) == 1

    metadata = reader.retrieve_series_metadata(series.study_uid, series.series_uid)
    assert len(metadata) == 248
    by_uid = {m["00080018"]["Value"][0]: m for m in metadata}
    for found in series.slices.order_by("z_index")[::40]:
        stored = stored_dataset(found)
        instance = by_uid[found.sop_uid]
        assert instance["00280010"]["Value"] == [stored.Rows]
        assert instance["00200032"]["Value"] == [float(v) for v in stored.ImagePositionPatient]
        bulk = instance["7FE00010"]["BulkDataURI"]
        assert bulk.startswith(f"{PUBLIC}/dicomweb/studies/{series.study_uid}/series/{series.series_uid}/instances/")
    study_metadata = reader.retrieve_study_metadata(series.study_uid)
    assert len(study_metadata) == 248


def test_frames_instances_and_wado_uri_are_the_stored_data(ricord, live_web, make_user):
    series = ricord["series"]
    reader = client_for(live_web, make_user("reader", "someone"))
    slices = list(series.slices.order_by("z_index"))
    for found in slices:  # every instance, in the stored (JPEG lossless) syntax
        stored = stored_dataset(found)
        expected = list(generate_frames(stored.PixelData, number_of_frames=1))
        frames = reader.retrieve_instance_frames(
            series.study_uid, series.series_uid, found.sop_uid, frame_numbers=[1],
            media_types=(("application/octet-stream", "*"),),
        )  # fmt: skip
        assert frames == expected, found.z_index
    for found in slices[::31]:  # decoded on request: the stored values, little endian
        stored = stored_dataset(found)
        frames = reader.retrieve_instance_frames(
            series.study_uid, series.series_uid, found.sop_uid, frame_numbers=[1],
            media_types=(("application/octet-stream", "1.2.840.10008.1.2.1"),),
        )  # fmt: skip
        expected = stored.pixel_array.astype("<i2" if stored.PixelRepresentation else "<u2").tobytes()
        assert frames == [expected]
    instance = reader.retrieve_instance(series.study_uid, series.series_uid, slices[100].sop_uid)
    assert instance.SOPInstanceUID == slices[100].sop_uid
    assert np.array_equal(instance.pixel_array, stored_dataset(slices[100]).pixel_array)

    wado = requests.get(f"{live_web}/dicomweb/wado", headers=ricord["auth"], timeout=60, params={
        "requestType": "WADO", "studyUID": series.study_uid, "seriesUID": series.series_uid,
        "objectUID": slices[5].sop_uid, "contentType": "application/dicom",
    })  # fmt: skip
    assert wado.status_code == 200 and wado.headers["Content-Type"] == "application/dicom"
    assert wado.content == open(slices[5].dicom_file.path, "rb").read()


def test_frame_parts_name_their_syntax_with_the_exact_header_spelling(ricord, live_web):
    series = ricord["series"]
    found = series.slices.order_by("z_index").first()
    headers = ricord["auth"] | {"Accept": 'multipart/related; type="application/octet-stream"; transfer-syntax=*'}
    url = f"{live_web}/dicomweb/studies/{series.study_uid}/series/{series.series_uid}/instances/{found.sop_uid}"
    answer = requests.get(f"{url}/frames/1", headers=headers, timeout=60)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith('multipart/related; type="application/octet-stream"; boundary=')
    assert (
        b"\r\nContent-Type: application/octet-stream; transfer-syntax=1.2.840.10008.1.2.4.70\r\n\r\n" in answer.content
    )


def test_refusals_are_json_and_name_what_was_wrong(ricord, live_web):
    series = ricord["series"]
    auth = ricord["auth"]
    base = f"{live_web}/dicomweb"
    instance = f"{base}/studies/{series.study_uid}/series/{series.series_uid}/instances/{series.slices.first().sop_uid}"
    cases = [
        (f"{base}/studies?NoSuchKeyword=1", {}, 400, "NoSuchKeyword"),
        (f"{base}/studies?limit=ten", {}, 400, "limit"),
        (f"{base}/studies?StudyDate=2020-x", {}, 400, "range"),
        (f"{base}/studies/1.2.3/series", {}, 404, "1.2.3"),
        (f"{instance}/frames/2", {}, 404, "frame 2"),
        (f"{instance}/frames/one", {}, 400, "frame numbers"),
        (f"{instance}/frames/1", {"Accept": JP2}, 406, "1.2.840.10008.1.2.4.70"),
        (f"{base}/wado?requestType=WADO&studyUID=1&seriesUID=2", {}, 400, "objectUID"),
    ]  # fmt: skip
    for url, extra, status, named in cases:
        answer = requests.get(url, headers=auth | extra, timeout=60)
        assert answer.status_code == status, (url, answer.status_code, answer.text[:200])
        assert answer.headers["Content-Type"] == "application/json"
        assert named in json.loads(answer.content)["detail"], (url, answer.text)
    assert requests.get(f"{base}/studies", timeout=60).status_code in (401, 403)  # signed in only
    garbage = requests.post(f"{base}/studies", data=b"not multipart", timeout=60,
                            headers=auth | {"Content-Type": "application/dicom"})  # fmt: skip
    assert garbage.status_code == 415 and "multipart/related" in garbage.json()["detail"]


def test_urls_come_from_the_configured_base_not_the_host_header(ricord, live_web):
    series = ricord["series"]
    for host in ("localhost", "testserver"):  # hosts the server accepts, neither of them the public name
        answer = requests.get(f"{live_web}/dicomweb/studies", headers=ricord["auth"] | {"Host": host}, timeout=60)
        assert answer.status_code == 200
        assert answer.json()[0]["00081190"]["Value"] == [f"{PUBLIC}/dicomweb/studies/{series.study_uid}"]
        assert f"//{host}" not in answer.text


def frame_part(answer: requests.Response) -> bytes:
    """The one part of a multipart frame answer."""
    boundary = answer.headers["Content-Type"].split("boundary=")[1].encode()
    part = answer.content.split(b"--" + boundary)[1]
    return part.split(b"\r\n\r\n", 1)[1][: -len(b"\r\n")]


def test_frames_by_token_or_session_follow_revocation_deletion_and_a_lost_connection(ricord, live_web, make_user):
    """Frames go out as stored from the byte ranges recorded at import, with the lookup reused for a
    short while: a revoked token and a deleted series are refused once it has passed, a database
    connection lost meanwhile is replaced, and a slice whose ranges are unknown is still answered."""
    from django.conf import settings
    from django.db import connection
    from django.test import Client

    from .conftest import LIVE_FRAME_LOOKUP_SECONDS

    series = ricord["series"]
    slices = list(series.slices.order_by("z_index"))
    assert all(found.frame_ranges for found in slices)
    stored_ts = {stored_dataset(found).file_meta.TransferSyntaxUID for found in slices[:3]}
    assert {found.transfer_syntax_uid for found in slices} == stored_ts
    base = f"{live_web}/dicomweb/studies/{series.study_uid}/series/{series.series_uid}/instances"
    accept = {"Accept": 'multipart/related; type="application/octet-stream"; transfer-syntax=*'}

    def expected(found) -> bytes:
        return next(generate_frames(stored_dataset(found).PixelData, number_of_frames=1))

    def get(found, headers=None, cookies=None) -> requests.Response:
        return requests.get(f"{base}/{found.sop_uid}/frames/1", headers=accept | (headers or {}), cookies=cookies,
                            timeout=60)  # fmt: skip

    reader = make_user("reader", "viewer-user")
    browser = Client()
    browser.force_login(reader)
    session = {settings.SESSION_COOKIE_NAME: browser.cookies[settings.SESSION_COOKIE_NAME].value}
    answer = get(slices[0], cookies=session)
    assert answer.status_code == 200 and frame_part(answer) == expected(slices[0])
    assert get(slices[1]).status_code in (401, 403)  # neither token nor session

    auth = auth_of(reader)
    assert frame_part(get(slices[2], auth)) == expected(slices[2])
    if connection.vendor == "postgresql":  # the server's kept connection dies (a database restart)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE datname = current_database() AND pid <> pg_backend_pid()")  # fmt: skip
    answer = get(slices[3], auth)  # not looked up before: it needs the database
    assert answer.status_code == 200 and frame_part(answer) == expected(slices[3])

    type(slices[4]).objects.filter(pk=slices[4].pk).update(frame_ranges=None)  # as before the ranges were recorded
    assert frame_part(get(slices[4], auth)) == expected(slices[4])

    Token.objects.filter(user=reader).delete()
    time.sleep(LIVE_FRAME_LOOKUP_SECONDS + 0.5)
    assert get(slices[2], auth).status_code == 401

    admin_auth = ricord["auth"]
    assert get(slices[5], admin_auth).status_code == 200
    Series.objects.filter(pk=series.pk).delete()
    time.sleep(LIVE_FRAME_LOOKUP_SECONDS + 0.5)
    gone = get(slices[5], admin_auth)
    assert gone.status_code == 404 and slices[5].sop_uid in gone.json()["detail"]
