"""Pure functions of the importer: ordering, derived UIDs, archive checks."""

import io
import tracemalloc
import zipfile

import numpy as np
import pydicom

from ildplatform import dicom_import
from ildplatform.dicom_import import ArchiveLimits, SourceFile

from .dicom_factory import ct_series, to_bytes, zip_bytes

LIMITS = ArchiveLimits(max_uncompressed_bytes=10_000_000, max_members=100)


def parsed(datasets):
    return [dicom_import.parse_instance(SourceFile(f"f{i}.dcm", to_bytes(d))) for i, d in enumerate(datasets)]


def test_slices_are_ordered_by_position_along_the_normal_not_by_file_order():
    groups, problems = dicom_import.assemble_series(parsed(ct_series(6)))
    assert problems == []
    assert np.all(np.diff(groups[0].z_positions) > 0)
    assert groups[0].slice_spacing == 1.25


def test_oblique_series_is_ordered_by_projection_on_its_normal():
    datasets = ct_series(5)
    tilt = np.deg2rad(20)
    row, column = [1, 0, 0], [0, np.cos(tilt), np.sin(tilt)]
    normal = np.cross(row, column)
    for dataset in datasets:
        step = -float(dataset.ImagePositionPatient[2]) / 1.25
        dataset.ImageOrientationPatient = row + column
        dataset.ImagePositionPatient = list(np.array([-100.0, -100.0, 0.0]) + step * 2.0 * normal)
    groups, problems = dicom_import.assemble_series(parsed(datasets))
    assert problems == []
    assert np.allclose(np.diff(groups[0].z_positions), 2.0)


def test_order_falls_back_to_instance_number_without_positions():
    datasets = ct_series(4)
    for dataset in datasets:
        del dataset.ImagePositionPatient
    groups, problems = dicom_import.assemble_series(parsed(datasets))
    assert problems == []
    assert [i.instance_number for i in groups[0].instances] == [1, 2, 3, 4]


def test_empty_uids_get_deterministic_derived_uids_and_series_stay_apart():
    first, second = ct_series(3, seed="x"), ct_series(3, seed="y")
    for dataset in second:
        dataset.SeriesNumber = 3
    for dataset in first + second:
        dataset.SeriesInstanceUID = dataset.StudyInstanceUID = dataset.SOPInstanceUID = ""
    groups, problems = dicom_import.assemble_series(parsed(first + second))
    assert problems == []
    assert len(groups) == 2
    again, _ = dicom_import.assemble_series(parsed(first + second))
    assert {g.series_key for g in groups} == {g.series_key for g in again}
    assert all(g.series_key.startswith("2.25.") and len(g.series_key) <= 64 for g in groups)


def test_hu_uses_rescale_slope_and_intercept():
    (instance,) = parsed(ct_series(1))
    assert instance.hu.dtype == np.int16
    assert instance.hu[0, 0] == -1000


def test_zip_member_escaping_the_archive_is_refused():
    sources, problems = dicom_import.expand_zip("x.zip", zip_bytes({"../../etc/passwd": b"x"}), LIMITS)
    assert sources == [] and "escapes the archive" in problems[0].reason


def test_zip_expanding_over_the_limit_is_refused_before_reading():
    archive = zip_bytes({"big.bin": bytes(2_000_000)})
    _, problems = dicom_import.expand_zip("bomb.zip", archive, ArchiveLimits(1_000_000, 100))
    assert "over the limit" in problems[0].reason


def test_deidentification_keeps_dates_and_maps_uids_the_same_way_every_time():
    (instance,) = parsed(ct_series(1))
    original_uid = instance.series_key
    dataset = dicom_import.deidentify_instance(instance, dicom_import.make_deidentifier("salt"))
    (again,) = parsed(ct_series(1))
    dicom_import.deidentify_instance(again, dicom_import.make_deidentifier("salt"))
    assert dataset.SeriesInstanceUID != original_uid
    assert dataset.SeriesInstanceUID == again.dataset.SeriesInstanceUID
    assert dataset.StudyDate == "20240301"
    assert "PatientBirthDate" not in dataset or not dataset.PatientBirthDate
    assert "ImageComments" not in dataset
    assert dataset.PatientIdentityRemoved == "YES"


def test_dicom_without_preamble_is_still_read_and_other_bytes_are_not_dicom():
    dataset = ct_series(1)[0]
    buffer = io.BytesIO()
    del dataset.file_meta
    pydicom.dcmwrite(buffer, dataset, implicit_vr=True, little_endian=True)  # raw dataset, no preamble or meta
    raw = buffer.getvalue()
    assert raw[:2] == b"\x08\x00"
    parsed = dicom_import.parse_instance(SourceFile("raw.dcm", raw))
    assert not isinstance(parsed, dicom_import.FileProblem), parsed
    assert parsed.hu[0, 0] == -1000
    numpy_file = dicom_import.parse_instance(SourceFile("lung.npy", b"\x93NUMPY" + bytes(200)))
    assert numpy_file.reason == dicom_import.NOT_DICOM


def test_multi_valued_text_is_joined_as_dicom_writes_it_and_one_value_is_kept_whole():
    one, several = ct_series(2)
    one.ConvolutionKernel = "STANDARD"
    several.ConvolutionKernel = ["Br64d", "3"]
    read_back = [pydicom.dcmread(io.BytesIO(to_bytes(ds))) for ds in (one, several)]

    assert dicom_import.text_values(read_back[0], "ConvolutionKernel") == "STANDARD"
    assert dicom_import.text_values(read_back[1], "ConvolutionKernel") == "Br64d\\3"
    del read_back[0].ConvolutionKernel
    assert dicom_import.text_values(read_back[0], "ConvolutionKernel") == ""


def test_a_text_element_written_with_a_numeric_vr_is_read_as_text():
    """Found by the fuzz suite: a ConvolutionKernel the file calls IS or DS is a number in pydicom, and
    the import answered 500 ('int' object is not iterable)."""
    whole, decimal, several = ct_series(3)
    whole.add_new("ConvolutionKernel", "IS", "3")
    decimal.add_new("ConvolutionKernel", "DS", "1.5")
    several.add_new("ConvolutionKernel", "IS", ["3", "4"])
    read_back = [pydicom.dcmread(io.BytesIO(to_bytes(ds))) for ds in (whole, decimal, several)]
    assert [dicom_import.text_values(ds, "ConvolutionKernel") for ds in read_back] == ["3", "1.5", "3\\4"]


def test_zip_bomb_is_refused_from_its_directory_without_decompressing(tmp_path):
    # 2 GiB of zeros in a 2 MB archive, under the 4 GiB budget: the compression ratio gives it away.
    path = tmp_path / "bomb.zip"
    zeros = bytes(1024**2)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("scan.dcm", "w", force_zip64=True) as member:
            for _ in range(2048):
                member.write(zeros)
    assert path.stat().st_size < 3_000_000
    tracemalloc.start()
    sources, problems = dicom_import.expand_zip("bomb.zip", path.read_bytes(), ArchiveLimits(4 * 1024**3, 100))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert sources == [] and problems[0].file == "bomb.zip!scan.dcm" and "zip bomb" in problems[0].reason
    assert peak < 32 * 1024**2, f"{peak} bytes allocated to refuse it"


def test_zip_member_lying_about_its_size_is_not_read_past_it():
    archive = bytearray(zip_bytes({"liar.dcm": bytes(3_000_000)}))
    for signature, size_at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):  # local header, central directory
        start = archive.index(signature)
        archive[start + size_at : start + size_at + 4] = (1000).to_bytes(4, "little")
    sources, problems = dicom_import.expand_zip("liar.zip", bytes(archive), LIMITS)
    assert sources == [] and problems[0].file == "liar.zip!liar.dcm" and "corrupt archive member" in problems[0].reason
