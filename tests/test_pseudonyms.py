"""Who a patient is: sources without identifiers never merge, and the salt behind pseudonyms is secret."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

from django.conf import settings
from django.core.management import call_command

from ildplatform.dicom_import import keyed_hash
from ildplatform.models import Patient

from .dicom_factory import ct_series, to_bytes


def unidentified_series(seed: str, *, study_of: str | None = None, when: date = date(2024, 3, 1)):
    """A series with no patient name, ID or birth date, as LIDC and some vendor exports come."""
    datasets = ct_series(2, seed=seed, study_date=when)
    if study_of is not None:
        study_uid = ct_series(1, seed=study_of)[0].StudyInstanceUID
    for dataset in datasets:
        dataset.PatientName = dataset.PatientID = dataset.PatientBirthDate = ""
        if study_of is not None:
            dataset.StudyInstanceUID = study_uid
    return datasets


def post(client, datasets, **fields):
    files = []
    for index, dataset in enumerate(datasets):
        upload = io.BytesIO(to_bytes(dataset))
        upload.name = f"slice{index}.dcm"
        files.append(upload)
    response = client.post("/api/v1/imports/", {"files": files, **fields}, format="multipart")
    assert response.status_code == 201, response.content
    return response.json()["series"][0]


def test_two_sources_without_identifiers_are_two_patients(admin_client, media_root):
    first = post(admin_client, unidentified_series("lidc"))
    second = post(admin_client, unidentified_series("siemens", when=date(2025, 3, 1)))
    assert first["patient"] != second["patient"]
    assert Patient.objects.count() == 2
    assert first["visit_label"] == second["visit_label"] == "baseline"


def test_series_of_one_unidentified_study_stay_one_patient(admin_client, media_root):
    first = post(admin_client, unidentified_series("a"))
    second = post(admin_client, unidentified_series("b", study_of="a"))
    assert first["patient"] == second["patient"] and first["visit_id"] == second["visit_id"]


def test_a_user_links_an_unidentified_study_by_naming_the_pseudonym(admin_client, media_root):
    first = post(admin_client, unidentified_series("a"))
    second = post(admin_client, unidentified_series("b", when=date(2025, 3, 1)), patient=first["patient"])
    assert second["patient"] == first["patient"] and second["visit_label"] == "follow-up 1"


def test_a_renamed_patient_keeps_the_new_pseudonym_in_the_files_of_its_next_series(admin_client, media_root):
    import pydicom

    from ildplatform.models import Series

    first = post(admin_client, ct_series(2, seed="a", study_date=date(2024, 3, 1)))
    Patient.objects.filter(pseudonym=first["patient"]).update(pseudonym="P-RENAMED")
    # Enough files for the import's forked workers; they name the files by the derived pseudonym first.
    second = post(admin_client, ct_series(20, seed="b", study_date=date(2025, 3, 1)))
    assert second["patient"] == "P-RENAMED" and Patient.objects.count() == 1
    series = Series.objects.get(pk=second["series_id"])
    names = {str(pydicom.dcmread(s.dicom_file.path, stop_before_pixels=True).PatientID) for s in series.slices.all()}
    assert names == {"P-RENAMED"}


def salt_of_installation(var_dir: Path) -> str:
    """DEIDENTIFY_SALT as a fresh start of the platform with this var/ folder (and no salt in the
    environment) settles it."""
    environment = {k: v for k, v in os.environ.items() if k not in ("DEIDENTIFY_SALT", "SECRET_KEY")}
    environment |= {"ILD_VAR_DIR": str(var_dir), "DJANGO_SETTINGS_MODULE": "ildplatform.settings"}
    code = "import django; django.setup(); from django.conf import settings; print(settings.DEIDENTIFY_SALT)"
    started = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True)
    return started.stdout.strip()


def test_salt_is_random_per_installation_and_kept(tmp_path):
    salts = []
    for installation in ("one", "two"):
        made = salt_of_installation(tmp_path / installation)
        assert made == salt_of_installation(tmp_path / installation)
        assert len(made) >= 40 and made != settings.PUBLIC_DEIDENTIFY_SALT
        assert (tmp_path / installation / "deidentify_salt").stat().st_mode & 0o077 == 0
        salts.append(made)
    assert salts[0] != salts[1]
    # So the same public patient ID gives unrelated keys on two installations.
    assert keyed_hash(salts[0], "RICORD-001") != keyed_hash(salts[1], "RICORD-001")


def test_an_installation_from_before_keeps_its_public_salt_and_is_warned(tmp_path, settings):
    (tmp_path / "secret_key").write_text("made by an earlier version")
    assert salt_of_installation(tmp_path) == settings.PUBLIC_DEIDENTIFY_SALT
    assert salt_of_installation(tmp_path) == settings.PUBLIC_DEIDENTIFY_SALT  # and kept so

    settings.DEIDENTIFY_SALT = settings.PUBLIC_DEIDENTIFY_SALT
    report = io.StringIO()
    call_command("check", stdout=report, stderr=report)
    assert "ildplatform.W001" in report.getvalue()
    settings.DEIDENTIFY_SALT = "a secret of this site"
    report = io.StringIO()
    call_command("check", stdout=report, stderr=report)
    assert "ildplatform.W001" not in report.getvalue()
