"""Import of the real chest CT sets in ../shared/data (skipped where they are absent)."""

import io
import json

import numpy as np
import pydicom
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from ildplatform import selectors
from ildplatform.models import Patient, Series, Slice, Visit


def import_json(*args) -> dict:
    out = io.StringIO()
    call_command("import_dicom", *map(str, args), "--json", stdout=out)
    return json.loads(out.getvalue())


@pytest.mark.django_db
def test_ricord_imports_as_one_ordered_deidentified_series_and_only_once(shared_data, media_root):
    folder = shared_data / "ricord-1a-chest-series"
    first = import_json(folder)
    assert [s["slices"] for s in first["series"]] == [248]
    series = Series.objects.get(pk=first["series"][0]["series_id"])
    z = list(series.slices.order_by("z_index").values_list("z_position", flat=True))
    assert np.all(np.diff(z) > 0), "z must increase strictly"
    volume = selectors.series_hu_volume(series)
    assert volume.shape == (248, 512, 512) and volume.dtype == np.int16
    assert volume.min() <= -1000 and volume.max() >= 1000

    source = pydicom.dcmread(next(folder.glob("*.dcm")), stop_before_pixels=True)
    secrets = [str(source.PatientName), str(source.PatientID), str(source.get("PatientBirthDate", ""))]
    secrets = [s.encode() for s in secrets if len(s) >= 4]
    stored = list(media_root.rglob("*.dcm"))
    assert len(stored) == 248
    for path in stored:
        data = path.read_bytes()
        assert not any(secret in data for secret in secrets), f"{path} still holds source identifiers"
    assert pydicom.dcmread(stored[0]).PatientName == series.visit.patient.pseudonym

    counts = [m.objects.count() for m in (Patient, Visit, Series, Slice)]
    files = sorted(media_root.rglob("*"))
    second = import_json(folder)
    assert second["series"][0]["created"] is False
    assert second["series"][0]["series_id"] == series.pk
    assert [m.objects.count() for m in (Patient, Visit, Series, Slice)] == counts
    assert sorted(media_root.rglob("*")) == files


@pytest.mark.django_db
def test_siemens_series_with_empty_uids_imports_as_one_series(shared_data):
    result = import_json(shared_data / "siemens-jp2k-empty-uids")
    assert [s["slices"] for s in result["series"]] == [20]
    assert Slice.objects.values("sop_uid").distinct().count() == 20
    assert all(len(uid) <= 64 and uid for uid in Slice.objects.values_list("sop_uid", flat=True))


@pytest.mark.django_db
def test_lidc_duplicate_pixels_are_reported_clearly(shared_data):
    with pytest.raises(CommandError) as refused:
        call_command("import_dicom", str(shared_data / "lidc-slice"), stdout=io.StringIO())
    message = str(refused.value)
    assert "1.dcm" in message and "same pixels as" in message and "0.dcm" in message
    assert Series.objects.count() == 0


@pytest.mark.django_db
def test_sbu_slices_import_as_ten_patients_with_two_visits_each(shared_data):
    result = import_json(shared_data / "sbu-slices")
    assert len(result["series"]) == 20
    assert [s["file"].rsplit("/", 1)[-1] for s in result["skipped"]] == ["data-readme.md"]
    assert Patient.objects.count() == 10
    for patient in Patient.objects.all():
        labels = list(patient.visits.order_by("date").values_list("label", flat=True))
        assert labels == ["baseline", "follow-up 1"]
        assert patient.birth_year is not None
