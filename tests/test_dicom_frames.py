"""Frame byte ranges recorded at import: each frame, read back by its ranges, equals what pydicom makes of
the file (native frames from the pixel array, encapsulated frames from pydicom's own fragment parser)."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate, generate_frames
from pydicom.uid import ExplicitVRLittleEndian, JPEGLosslessSV1, generate_uid

from ildplatform.dicom_frames import frame_byte_ranges, pixel_layout, read_frame


def dicom_file(pixel_data: bytes, syntax: str, frames: int, extra: dict | None = None) -> bytes:
    dataset = Dataset()
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.TransferSyntaxUID = syntax
    dataset.file_meta.MediaStorageSOPClassUID = pydicom.uid.CTImageStorage
    dataset.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    dataset.SOPClassUID, dataset.SOPInstanceUID = (
        pydicom.uid.CTImageStorage,
        dataset.file_meta.MediaStorageSOPInstanceUID,
    )
    dataset.Rows, dataset.Columns, dataset.NumberOfFrames = 4, 5, frames
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit, dataset.PixelRepresentation = 16, 16, 15, 1
    dataset.SamplesPerPixel, dataset.PhotometricInterpretation = 1, "MONOCHROME2"
    for keyword, value in (extra or {}).items():
        setattr(dataset, keyword, value)
    dataset.PixelData = pixel_data
    dataset["PixelData"].VR = "OB" if syntax != ExplicitVRLittleEndian else "OW"
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def frames_by_ranges(data: bytes) -> list[bytes] | None:
    ranges = pixel_layout(data).frame_ranges
    return None if ranges is None else [read_frame(io.BytesIO(data), frame) for frame in ranges]


def test_native_frames_are_the_pixel_arrays_frames():
    pixels = np.arange(3 * 4 * 5, dtype="<i2").reshape(3, 4, 5) - 1000
    data = dicom_file(pixels.tobytes(), ExplicitVRLittleEndian, 3)
    decoded = pydicom.dcmread(io.BytesIO(data)).pixel_array
    assert frames_by_ranges(data) == [decoded[index].astype("<i2").tobytes() for index in range(3)]
    assert pixel_layout(data).transfer_syntax_uid == ExplicitVRLittleEndian


@pytest.mark.parametrize(
    ("fragments_per_frame", "offset_table"), [(1, False), (1, True), (2, True), (3, True)]
)  # fmt: skip
def test_encapsulated_frames_are_pydicoms_frames(fragments_per_frame, offset_table):
    originals = [bytes([index]) * (30 + 6 * index) for index in range(4)]
    pixel_data = encapsulate(originals, fragments_per_frame=fragments_per_frame, has_bot=offset_table)
    data = dicom_file(pixel_data, JPEGLosslessSV1, len(originals))
    stored = pydicom.dcmread(io.BytesIO(data)).PixelData
    assert frames_by_ranges(data) == list(generate_frames(stored, number_of_frames=4)) == originals


def test_one_frame_in_several_fragments_is_their_concatenation():
    original = bytes(range(200)) * 3
    data = dicom_file(encapsulate([original], fragments_per_frame=4, has_bot=False), JPEGLosslessSV1, 1)
    assert frames_by_ranges(data) == [original]


def test_layouts_that_cannot_be_told_without_decoding_are_not_recorded():
    split_without_table = encapsulate([b"ab" * 20, b"cd" * 20], fragments_per_frame=2, has_bot=False)
    assert frames_by_ranges(dicom_file(split_without_table, JPEGLosslessSV1, 2)) is None
    extended = dicom_file(encapsulate([b"ab" * 20], has_bot=False), JPEGLosslessSV1, 1,
                          {"ExtendedOffsetTable": b"\0" * 8})  # fmt: skip
    assert frames_by_ranges(extended) is None
    native_uneven = dicom_file(b"\0" * 38, ExplicitVRLittleEndian, 3)  # 38 bytes do not split into 3 frames
    assert frames_by_ranges(native_uneven) is None
    without_pixels = io.BytesIO()
    pydicom.dcmread(io.BytesIO(dicom_file(b"\0" * 40, ExplicitVRLittleEndian, 1))).save_as(without_pixels)
    dataset = pydicom.dcmread(io.BytesIO(without_pixels.getvalue()))
    del dataset.PixelData
    assert frame_byte_ranges(dataset) is None


def test_a_file_cut_short_is_an_error_not_a_short_frame():
    data = dicom_file(np.zeros((2, 4, 5), "<i2").tobytes(), ExplicitVRLittleEndian, 2)
    ranges = pixel_layout(data).frame_ranges
    with pytest.raises(OSError, match="ends before"):
        read_frame(io.BytesIO(data[:-10]), ranges[1])


@pytest.mark.realdata
def test_every_real_file_reads_back_as_pydicoms_frames(shared_data):
    folders = ("ricord-1a-chest-series", "siemens-jp2k-empty-uids", "lidc-slice", "sbu-slices")
    files = [path for name in folders for path in sorted((shared_data / name).rglob("*.dcm"))]
    checked = 0
    for path in files:
        data = path.read_bytes()
        dataset = pydicom.dcmread(io.BytesIO(data))
        if "PixelData" not in dataset:
            continue
        count = int(dataset.get("NumberOfFrames") or 1)
        if dataset.file_meta.TransferSyntaxUID.is_encapsulated:
            expected = list(generate_frames(dataset.PixelData, number_of_frames=count))
        else:
            size = len(dataset.PixelData) // count
            expected = [dataset.PixelData[i * size : (i + 1) * size] for i in range(count)]
        assert frames_by_ranges(data) == expected, path
        checked += 1
    assert checked >= 250


def test_the_upgrade_records_the_ranges_of_slices_stored_before_it(db):
    """Migration 0006 reads each stored file once; a slice whose file is gone stays unknown."""
    from importlib import import_module

    from django.apps import apps

    from ildplatform import services
    from ildplatform.dicom_import import SourceFile
    from ildplatform.models import Slice

    from .dicom_factory import ct_series, to_bytes

    sources = [SourceFile(f"s{i}.dcm", to_bytes(d)) for i, d in enumerate(ct_series(4, seed="frames"))]
    services.series_import(sources=sources)
    recorded = {found.pk: (found.transfer_syntax_uid, found.frame_ranges) for found in Slice.objects.all()}
    assert all(ranges for _, ranges in recorded.values())
    Slice.objects.update(transfer_syntax_uid="", frame_ranges=None)
    lost = Slice.objects.order_by("z_index").last()
    lost.dicom_file.storage.delete(lost.dicom_file.name)

    import_module("ildplatform.migrations.0006_slice_frame_ranges").locate_stored_frames(apps, None)
    after = {found.pk: (found.transfer_syntax_uid, found.frame_ranges) for found in Slice.objects.all()}
    assert after == recorded | {lost.pk: ("", None)}
