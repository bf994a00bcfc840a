import io
import zipfile

import pydicom
import pytest

from ildplatform.models import Series

from .dicom_factory import SOURCE_PATIENT_ID, SOURCE_PATIENT_NAME, ct_series, to_bytes


def uploads(datasets):
    files = []
    for index, dataset in enumerate(datasets):
        upload = io.BytesIO(to_bytes(dataset))
        upload.name = f"slice{index}.dcm"
        files.append(upload)
    return files


def test_upload_creates_series_and_second_upload_adds_nothing(admin_client, media_root):
    response = admin_client.post("/api/v1/imports/", {"files": uploads(ct_series(5))}, format="multipart")
    assert response.status_code == 201, response.content
    (created,) = response.json()["series"]
    assert created["slices"] == 5 and created["created"] and created["visit_label"] == "baseline"
    stored = pydicom.dcmread(next(media_root.rglob("*.dcm")))
    assert SOURCE_PATIENT_NAME not in str(stored.PatientName) and stored.PatientID != SOURCE_PATIENT_ID
    assert "InstitutionName" not in stored and "ImageComments" not in stored

    again = admin_client.post("/api/v1/imports/", {"files": uploads(ct_series(5))}, format="multipart")
    assert again.status_code == 200
    assert again.json()["series"][0]["message"] == "already imported, nothing added"
    assert Series.objects.count() == 1


def test_zip_upload_with_pseudonym_and_visit_date(admin_client):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index, dataset in enumerate(ct_series(3)):
            archive.writestr(f"study/slice{index}.dcm", to_bytes(dataset))
    buffer.seek(0)
    buffer.name = "study.zip"
    response = admin_client.post(
        "/api/v1/imports/", {"files": [buffer], "patient": "SSC-007", "visit_date": "2025-01-31"}, format="multipart"
    )
    assert response.status_code == 201, response.content
    (created,) = response.json()["series"]
    assert created["patient"] == "SSC-007" and created["visit_date"] == "2025-01-31"


def test_follow_up_visits_are_labelled_in_date_order(admin_client):
    from datetime import date

    for seed, when in (("late", date(2025, 6, 1)), ("early", date(2024, 6, 1))):
        response = admin_client.post(
            "/api/v1/imports/", {"files": uploads(ct_series(2, seed=seed, study_date=when))}, format="multipart"
        )
        assert response.status_code == 201
    patient = response.json()["series"][0]["patient_id"]
    visits = admin_client.get(f"/api/v1/patients/{patient}/").json()["visits"]
    assert [(v["date"], v["label"]) for v in visits] == [("2024-06-01", "baseline"), ("2025-06-01", "follow-up 1")]


@pytest.mark.parametrize("role", ["reader", "adjudicator", "clinician"])
def test_only_admins_may_import(role, make_user, client_for):
    client = client_for(make_user(role))
    response = client.post("/api/v1/imports/", {"files": uploads(ct_series(2))}, format="multipart")
    assert response.status_code == 403
    assert Series.objects.count() == 0


def test_stored_slice_is_served_as_dicom(admin_client):
    response = admin_client.post("/api/v1/imports/", {"files": uploads(ct_series(3))}, format="multipart")
    series_id = response.json()["series"][0]["series_id"]
    dicom = admin_client.get(f"/api/v1/series/{series_id}/slices/0/dicom")
    assert dicom.status_code == 200 and dicom["Content-Type"] == "application/dicom"
    dataset = pydicom.dcmread(io.BytesIO(b"".join(dicom.streaming_content)))
    assert dataset.Rows == 64
    missing = admin_client.get(f"/api/v1/series/{series_id}/slices/99/dicom")
    assert missing.status_code == 404 and "no slice with z index 99" in missing.json()["detail"]
    assert admin_client.get("/api/v1/series/9999/").status_code == 404


def test_raw_dataset_without_preamble_imports_and_is_stored_as_a_dicom_file(admin_client, media_root):
    files = []
    for index, dataset in enumerate(ct_series(2, seed="raw")):
        del dataset.file_meta
        buffer = io.BytesIO()
        pydicom.dcmwrite(buffer, dataset, implicit_vr=True, little_endian=True)
        buffer.seek(0)
        buffer.name = f"raw{index}"
        files.append(buffer)
    response = admin_client.post("/api/v1/imports/", {"files": files}, format="multipart")
    assert response.status_code == 201, response.content
    stored = pydicom.dcmread(next(media_root.rglob("*.dcm")))  # with preamble and file meta now
    assert stored.file_meta.TransferSyntaxUID == pydicom.uid.ImplicitVRLittleEndian
    assert stored.pixel_array.shape == (64, 64)
