"""Every kind of bad import gets a clear refusal naming the file and the reason, and changes nothing.

Each case runs twice: through `POST /api/v1/imports/` and through `manage.py import_dicom`.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from pydicom.uid import generate_uid

from ildplatform.models import Patient, Series, Slice, Visit

from .dicom_factory import ct_series, to_bytes, zip_bytes


@dataclass
class BadImport:
    files: dict[str, bytes]
    reason: str  # a fragment of the message that says what is wrong
    named_file: str | None = None  # the file the message must name (default: the first)
    options: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    api_status: int = 400


def series_files(datasets, prefix="s") -> dict[str, bytes]:
    return {f"{prefix}{i}.dcm": to_bytes(d) for i, d in enumerate(datasets)}


def case_truncated():
    data = to_bytes(ct_series(1)[0])
    return BadImport({"cut.dcm": data[: len(data) - 3000]}, "truncated or corrupt")


def case_corrupt_header():
    data = to_bytes(ct_series(1)[0])
    return BadImport({"garbled.dcm": data[:140] + bytes(range(256)) * 4}, "corrupt")


def case_not_an_image():
    dataset = ct_series(1)[0]
    del dataset.PixelData
    return BadImport({"report.dcm": to_bytes(dataset)}, "not an image")


def case_wrong_modality():
    return BadImport(series_files(ct_series(2, modality="MR")), "modality MR is not CT")


def case_inconsistent_size():
    datasets = ct_series(3)
    odd = ct_series(1, rows=32, columns=32)[0]
    odd.SeriesInstanceUID, odd.StudyInstanceUID = datasets[0].SeriesInstanceUID, datasets[0].StudyInstanceUID
    odd.ImagePositionPatient = [-100.0, -100.0, 5.0]
    odd.SOPInstanceUID = generate_uid()
    return BadImport(series_files(datasets) | {"small.dcm": to_bytes(odd)}, "32x32 differs", "small.dcm")


def case_inconsistent_pixel_spacing():
    datasets = ct_series(3)
    datasets[1].PixelSpacing = [0.9, 0.9]
    files = series_files(datasets)
    return BadImport(files, "pixel spacing", "s1.dcm")


def case_same_sop_different_pixels():
    datasets = ct_series(2)
    twin = ct_series(2)[0]
    twin.PixelData = (np.frombuffer(twin.PixelData, np.int16) + 5).astype(np.int16).tobytes()
    return BadImport(series_files(datasets) | {"twin.dcm": to_bytes(twin)}, "same SOP Instance UID", "twin.dcm")


def case_same_pixels_other_sop():
    datasets = ct_series(2)
    copy = ct_series(2)[0]
    copy.SOPInstanceUID = generate_uid()
    copy.ImagePositionPatient = [-100.0, -100.0, 10.0]
    return BadImport(series_files(datasets) | {"copy.dcm": to_bytes(copy)}, "same pixels as", "copy.dcm")


def case_same_position_different_pixels():
    datasets = ct_series(3)
    datasets[1].ImagePositionPatient = list(datasets[0].ImagePositionPatient)
    return BadImport(series_files(datasets), "same slice position")


def case_missing_slice():
    datasets = [dataset for dataset in ct_series(6) if dataset.InstanceNumber != 3]
    return BadImport(series_files(datasets), "uneven slice spacing")


def case_multiframe():
    dataset = ct_series(1)[0]
    dataset.NumberOfFrames = 2
    dataset.PixelData = dataset.PixelData * 2
    return BadImport({"cine.dcm": to_bytes(dataset)}, "multi-frame")


def case_no_pixel_spacing():
    dataset = ct_series(1)[0]
    del dataset.PixelSpacing
    return BadImport({"nospacing.dcm": to_bytes(dataset)}, "PixelSpacing")


def case_short_pixel_data():
    dataset = ct_series(1)[0]
    dataset.Rows = 128
    return BadImport({"short.dcm": to_bytes(dataset)}, "cannot be decoded")


def case_no_study_date():
    return BadImport(series_files(ct_series(2, study_date=None)), "no StudyDate")


def case_not_dicom():
    return BadImport({"notes.txt": b"these are not images\n" * 20}, "not a DICOM file")


def case_zip_path_traversal():
    return BadImport({"evil.zip": zip_bytes({"../../outside.dcm": to_bytes(ct_series(1)[0])})}, "escapes the archive")


def case_zip_bomb():
    archive = zip_bytes({"zeros.dcm": bytes(3_000_000)})
    return BadImport(
        {"bomb.zip": archive}, "over the limit", settings={"IMPORT_MAX_ARCHIVE_UNCOMPRESSED_BYTES": 1_000_000}
    )


def case_corrupt_zip():
    archive = zip_bytes(series_files(ct_series(2)))
    return BadImport({"broken.zip": archive[:40] + b"\x00" * 50}, "corrupt zip archive")


def case_oversize_upload():
    files = series_files(ct_series(3))
    return BadImport(
        files,
        "over the limit",
        "bytes is over the limit of 20000 bytes",
        settings={"IMPORT_MAX_UPLOAD_BYTES": 20_000},
        api_status=413,
    )


def case_several_patients_one_pseudonym():
    files = series_files(ct_series(2, seed="p1")) | series_files(ct_series(2, seed="p2", patient_id="OTHER-1"), "t")
    return BadImport(files, "several patients", "(upload)", options={"patient": "P-ONE"})


def case_bad_visit_date():
    return BadImport(series_files(ct_series(2)), "visit", "visit", options={"visit_date": "2024-13-45"})


def patched(dataset, tag: tuple[int, int], vr: bytes, old_value: bytes, new_vr: bytes, new_value: bytes) -> bytes:
    """The file's bytes with one explicit-VR element rewritten (VR and value of the same length): values
    pydicom itself refuses to write, as scanners and tools in the wild do write them."""
    data = to_bytes(dataset)
    group, element = tag
    head = group.to_bytes(2, "little") + element.to_bytes(2, "little")
    old = head + vr + len(old_value).to_bytes(2, "little") + old_value
    assert data.count(old) == 1 and len(new_value) == len(old_value)
    return data.replace(old, head + new_vr + len(new_value).to_bytes(2, "little") + new_value)


def one_bad_among_good(bad_name: str, bad: bytes) -> dict[str, bytes]:
    """A good 4-slice series and one bad file: the refusal names the bad one and stores nothing."""
    return series_files(ct_series(4, seed="among")) | {bad_name: bad}


def case_unknown_vr_in_pixel_spacing():
    dataset = ct_series(1)[0]
    dataset.PixelSpacing = ["0.7", "0.7"]
    bad = patched(dataset, (0x0028, 0x0030), b"DS", b"0.7\\0.7 ", b"ZZ", b"0.7\\0.7 ")
    return BadImport(one_bad_among_good("odd-vr.dcm", bad), "PixelSpacing", "odd-vr.dcm")


def case_non_numeric_number_of_frames():
    dataset = ct_series(1)[0]
    dataset.NumberOfFrames = "11"
    bad = patched(dataset, (0x0028, 0x0008), b"IS", b"11", b"IS", b"1A")
    return BadImport(one_bad_among_good("frames.dcm", bad), "NumberOfFrames", "frames.dcm")


def case_non_numeric_rescale_slope():
    dataset = ct_series(1)[0]
    dataset.RescaleSlope = "1.0"
    bad = patched(dataset, (0x0028, 0x1053), b"DS", b"1.0 ", b"DS", b"one ")
    return BadImport(one_bad_among_good("slope.dcm", bad), "RescaleSlope", "slope.dcm")


def with_value(keyword: str, value, name: str) -> dict[str, bytes]:
    dataset = ct_series(1, seed=name)[0]
    setattr(dataset, keyword, value)
    return {name: to_bytes(dataset)}


NONSENSE = {
    "PixelSpacing": (["inf", "inf"], ["1e308", "1e308"], ["0", "0.7"], ["-0.7", "0.7"]),
    "RescaleSlope": ("NaN", "0", "1e308", "inf"),
    "RescaleIntercept": ("NaN", "-inf"),
    "ImagePositionPatient": (["NaN", "0", "0"], ["inf", "0", "0"]),
    "ImageOrientationPatient": ([0, 0, 0, 0, 0, 0], ["NaN", 0, 0, 0, 1, 0], [1, 0, 0, 1, 0, 0]),
    "SliceThickness": ("0", "-1", "NaN"),
}


def nonsense_case(keyword: str, index: int):
    def case():
        value = NONSENSE[keyword][index]
        return BadImport(with_value(keyword, value, f"{keyword.lower()}-{index}.dcm"), keyword)

    return case


for _keyword, _values in NONSENSE.items():
    for _index in range(len(_values)):
        globals()[f"case_nonsense_{_keyword}_{_index}"] = nonsense_case(_keyword, _index)


def case_encrypted_zip_member():
    archive = bytearray(zip_bytes({"s0.dcm": to_bytes(ct_series(1)[0])}))
    # Set the "encrypted" flag (bit 0) in the local header and the central directory entry.
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = archive.index(signature) + offset
        archive[at] |= 0x01
    return BadImport({"locked.zip": bytes(archive)}, "encrypted", "s0.dcm")


def case_huge_patient_id_of_unknown_vr():
    dataset = ct_series(1)[0]
    dataset.PatientID = "X" * 64
    data = to_bytes(dataset)
    head = (0x0010).to_bytes(2, "little") + (0x0020).to_bytes(2, "little")
    old = head + b"LO" + (64).to_bytes(2, "little") + b"X" * 64
    huge = b"Y" * 70_000
    new = head + b"UN" + b"\x00\x00" + len(huge).to_bytes(4, "little") + huge
    assert data.count(old) == 1
    return BadImport(one_bad_among_good("long-id.dcm", data.replace(old, new)), "PatientID", "long-id.dcm")


# Conflicts with what is stored (the `existing_import` fixture holds ct_series(3, seed="good")).


def case_more_slices_of_a_stored_series():
    # Slices 4 and 5 of the stored 3-slice series: never dropped with "already imported".
    files = series_files(ct_series(5, seed="good"))  # listed shuffled: s1 and s4 are instances 4 and 5
    return BadImport(files, "does not hold; a stored series is not extended", "s1.dcm", api_status=409)


def case_stored_instance_under_another_series_uid():
    dataset = ct_series(3, seed="good")[0]
    dataset.SeriesInstanceUID = generate_uid()
    return BadImport({"moved.dcm": to_bytes(dataset)}, "stored already in series", api_status=409)


def case_other_patient_with_a_stored_series_uid():
    dataset = ct_series(1, seed="other", patient_id="SOMEONE-ELSE")[0]
    dataset.SeriesInstanceUID = ct_series(1, seed="good")[0].SeriesInstanceUID
    return BadImport({"intruder.dcm": to_bytes(dataset)}, "under another patient", api_status=409)


def case_one_instance_in_two_series_of_an_upload():
    first, second = ct_series(2, seed="new-a"), ct_series(2, seed="new-b")
    twin = ct_series(2, seed="new-b")[0]
    twin.SOPInstanceUID = first[0].SOPInstanceUID
    files = series_files(first, "a") | series_files(second[1:], "b") | {"twin.dcm": to_bytes(twin)}
    return BadImport(files, "also in another series of this upload", "twin.dcm", api_status=409)


CASES = {name[5:]: factory for name, factory in sorted(globals().items()) if name.startswith("case_")}


def world_state(media_root: Path) -> tuple:
    counts = tuple(model.objects.count() for model in (Patient, Visit, Series, Slice))
    files = sorted(str(p.relative_to(media_root)) for p in media_root.rglob("*") if p.is_file())
    return counts, files


@pytest.fixture
def existing_import(db, media_root):
    """A good series is already there, so 'unchanged' is checked against a non-empty store."""
    files = series_files(ct_series(3, seed="good"))
    folder = media_root.parent / "good"
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    call_command("import_dicom", str(folder), stdout=io.StringIO())
    assert Series.objects.count() == 1


def test_table_has_at_least_fifteen_kinds_of_bad_input():
    assert len(CASES) >= 15


@pytest.mark.parametrize("case_name", CASES)
def test_bad_import_through_api_is_refused_and_changes_nothing(case_name, existing_import, admin_client, settings):
    case = CASES[case_name]()
    for key, value in case.settings.items():
        setattr(settings, key, value)
    before = world_state(settings.MEDIA_ROOT)
    uploads = [io.BytesIO(data) for data in case.files.values()]
    for upload, name in zip(uploads, case.files, strict=True):
        upload.name = name
    payload = {"files": uploads} | {k: v for k, v in case.options.items()}
    response = admin_client.post("/api/v1/imports/", payload, format="multipart")
    assert response.status_code == case.api_status, response.content
    body = response.content.decode()
    assert case.reason in body
    assert (case.named_file or next(iter(case.files))) in body
    assert world_state(settings.MEDIA_ROOT) == before


@pytest.mark.parametrize("case_name", CASES)
def test_bad_import_through_command_is_refused_and_changes_nothing(case_name, existing_import, settings, tmp_path):
    case = CASES[case_name]()
    for key, value in case.settings.items():
        setattr(settings, key, value)
    before = world_state(settings.MEDIA_ROOT)
    paths = []
    for name, data in case.files.items():
        (tmp_path / name).write_bytes(data)
        paths.append(str(tmp_path / name))
    arguments = [f"--{key.replace('_', '-')}={value}" for key, value in case.options.items()]
    with pytest.raises(CommandError) as refused:
        call_command("import_dicom", *paths, *arguments, stdout=io.StringIO())
    message = str(refused.value)
    assert case.reason in message
    assert (case.named_file or next(iter(case.files))) in message
    assert world_state(settings.MEDIA_ROOT) == before
