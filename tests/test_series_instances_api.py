"""GET /api/v1/series/{id}/instances/: the UIDs a viewer asks DICOMweb for, slice by slice in the
platform's z order."""

import io

import pydicom
import pytest
from rest_framework.test import APIClient

from .dicom_factory import ct_series
from .test_import_api import uploads


def imported_series(admin_client) -> int:
    # ct_series lists its slices shuffled: the platform's z order is the importer's, not the upload's.
    response = admin_client.post("/api/v1/imports/", {"files": uploads(ct_series(5))}, format="multipart")
    assert response.status_code == 201, response.content
    return response.json()["series"][0]["series_id"]


def test_sop_uids_are_listed_in_the_platforms_slice_order(admin_client, media_root):
    series_id = imported_series(admin_client)
    answer = admin_client.get(f"/api/v1/series/{series_id}/instances/")
    assert answer.status_code == 200
    body = answer.json()
    series = admin_client.get(f"/api/v1/series/{series_id}/").json()
    assert (body["series_id"], body["study_uid"], body["series_uid"]) == (
        series_id,
        series["study_uid"],
        series["series_uid"],
    )
    assert len(body["sop_uids"]) == series["slice_count"] == 5
    # sop_uids[z] is the instance the platform serves as slice z.
    for z, sop_uid in enumerate(body["sop_uids"]):
        served = admin_client.get(f"/api/v1/series/{series_id}/slices/{z}/dicom")
        dataset = pydicom.dcmread(io.BytesIO(b"".join(served.streaming_content)))
        assert (dataset.SOPInstanceUID, dataset.StudyInstanceUID, dataset.SeriesInstanceUID) == (
            sop_uid,
            body["study_uid"],
            body["series_uid"],
        )


@pytest.mark.parametrize("role", ["reader", "adjudicator", "clinician"])
def test_any_signed_in_user_may_list_a_series_instances(role, admin_client, make_user, client_for, media_root):
    series_id = imported_series(admin_client)
    assert client_for(make_user(role)).get(f"/api/v1/series/{series_id}/instances/").status_code == 200


def test_unknown_series_is_404_and_anonymous_is_refused(admin_client, media_root):
    series_id = imported_series(admin_client)
    missing = admin_client.get("/api/v1/series/9999/instances/")
    assert missing.status_code == 404 and "no series with id 9999" in missing.json()["detail"]
    assert APIClient().get(f"/api/v1/series/{series_id}/instances/").status_code == 401
