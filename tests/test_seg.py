"""DICOM SEG out and in: every source exports as one SEG that highdicom reads back to the stored masks
(checked against the stored PNGs decoded with PIL); a SEG imported as a reading gives that reading the
same masks (Dice 1.0); blinding holds; bad SEGs are refused with what was wrong, changing nothing."""

from __future__ import annotations

import io

import highdicom as hd
import numpy as np
import pydicom
import pytest
from dicomweb_client.api import DICOMwebClient
from PIL import Image
from rest_framework.authtoken.models import Token

from annotations.models import ConsensusMask, MaskVersion, Reading
from interop import seg

from .review_fixtures import build_cast, client_of


def stored_png(data) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(bytes(data))))


def reading_volume(reading: Reading) -> np.ndarray:
    """The latest saved mask of every slice, from the stored PNGs (independent of the app's selectors)."""
    series = reading.review.series
    volume = np.zeros((series.slice_count, series.rows, series.columns), dtype=np.uint8)
    for version in MaskVersion.objects.filter(reading=reading).order_by("slice__z_index", "version"):
        volume[version.slice.z_index] = stored_png(version.labels_png)
    return volume


def seg_volume(data: bytes, series) -> np.ndarray:
    """A SEG's masks per stored slice, read with highdicom: segment 1 reticulation (1), 2 GGO (2)."""
    made = hd.seg.segread(io.BytesIO(data))
    uids = list(series.slices.order_by("z_index").values_list("sop_uid", flat=True))
    pixels = made.get_pixels_by_source_instance(uids, segment_numbers=[1, 2], assert_missing_frames_are_empty=True)
    return (pixels[..., 0] > 0).astype(np.uint8) * 1 + (pixels[..., 1] > 0).astype(np.uint8) * 2


def dice(a: np.ndarray, b: np.ndarray) -> float:
    both = np.count_nonzero((a == b) & (a > 0))
    return 2 * both / (np.count_nonzero(a) + np.count_nonzero(b))


@pytest.mark.django_db
def test_consensus_exports_as_a_seg_with_the_stored_masks_on_every_slice():
    cast = build_cast("finalised")
    series = cast.series
    answer = client_of(cast.users["clinician"]).get(f"/api/v1/series/{series.pk}/seg?source=consensus")
    assert answer.status_code == 200 and answer["Content-Type"] == "application/dicom"
    expected = np.zeros((series.slice_count, series.rows, series.columns), dtype=np.uint8)
    for mask in ConsensusMask.objects.filter(review=cast.review):
        expected[mask.slice.z_index] = stored_png(mask.labels_png)
    assert expected.any()
    assert np.array_equal(seg_volume(answer.content, series), expected)
    dataset = pydicom.dcmread(io.BytesIO(answer.content))
    segments = {int(s.SegmentNumber): s for s in dataset.SegmentSequence}
    assert segments[1].SegmentedPropertyTypeCodeSequence[0].CodeValue == "112113"  # DCM Reticular pattern
    assert segments[2].SegmentedPropertyTypeCodeSequence[0].CodeValue == "112120"  # DCM Ground glass opacity
    assert {s.SegmentedPropertyCategoryCodeSequence[0].CodeValue for s in segments.values()} == {"49755003"}
    assert {s.SegmentAlgorithmType for s in segments.values()} == {"MANUAL"}
    referenced = {i.ReferencedSOPInstanceUID for i in dataset.ReferencedSeriesSequence[0].ReferencedInstanceSequence}
    assert referenced <= set(series.slices.values_list("sop_uid", flat=True))
    again = client_of(cast.users["admin"]).get(f"/api/v1/series/{series.pk}/seg?source=consensus")
    assert pydicom.dcmread(io.BytesIO(again.content)).SOPInstanceUID == dataset.SOPInstanceUID  # same labels, same UID


@pytest.mark.django_db
def test_a_seg_imported_as_a_reading_gives_it_the_same_masks():
    cast = build_cast("assigned")
    exported = client_of(cast.users["admin"]).get(f"/api/v1/series/{cast.series.pk}/seg?source=reader_1")
    assert exported.status_code == 200
    before = reading_volume(cast.r2)
    assert dice(before, reading_volume(cast.r1)) < 0.5
    answer = client_of(cast.users["reader_2"]).post(
        f"/api/v1/series/{cast.series.pk}/seg", exported.content, content_type="application/dicom"
    )
    assert answer.status_code == 200, answer.content
    assert answer.json()["imported_as"] == f"reading {cast.r2.pk}"
    assert dice(reading_volume(cast.r2), reading_volume(cast.r1)) == 1.0
    assert np.array_equal(reading_volume(cast.r2), reading_volume(cast.r1))
    latest = {v.slice.z_index: v.version for v in MaskVersion.objects.filter(reading=cast.r2).order_by("version")}
    assert latest == {1: 2, 2: 1}  # a new version where the masks differed (history kept); slice 2 was the same


@pytest.mark.django_db
def test_seg_export_keeps_the_blinding():
    cast = build_cast("assigned")
    url = f"/api/v1/series/{cast.series.pk}/seg"
    assert client_of(cast.users["reader_2"]).get(f"{url}?source=reader_1").status_code == 404
    assert client_of(cast.users["reader_1"]).get(f"{url}?source=reader_1").status_code == 200
    assert client_of(cast.users["clinician"]).get(f"{url}?source=consensus").status_code in (403, 409)
    assert client_of(cast.users["unrelated_reader"]).get(f"{url}?source=reader_2").status_code == 404
    unknown = client_of(cast.users["admin"]).get(f"{url}?source=somebody")
    assert unknown.status_code == 400 and "somebody" in unknown.json()["detail"]


@pytest.mark.django_db
def test_bad_segs_are_refused_and_change_nothing():
    cast = build_cast("assigned")
    admin = client_of(cast.users["admin"])
    exported = admin.get(f"/api/v1/series/{cast.series.pk}/seg?source=reader_1").content
    reader_2 = client_of(cast.users["reader_2"])
    url = f"/api/v1/series/{cast.series.pk}/seg"
    before = reading_volume(cast.r2)

    def refused(body: bytes, status: int, named: str, client=reader_2, content_type="application/dicom"):
        answer = client.post(url, body, content_type=content_type)
        assert answer.status_code == status, (answer.status_code, answer.content[:300])
        assert named in answer.json()["detail"], answer.json()
        assert np.array_equal(reading_volume(cast.r2), before)

    refused(b"not dicom at all", 400, "not a DICOM file")
    refused(exported[: len(exported) // 2], 400, "")
    refused(exported, 415, "application/dicom", content_type="application/octet-stream")
    # Another tool's SEG of something the platform does not hold: refused by segment.
    dataset = pydicom.dcmread(io.BytesIO(exported))
    dataset.SegmentSequence[0].SegmentedPropertyTypeCodeSequence[0].CodeValue = "39607008"  # SCT Lung
    refused(_bytes(dataset), 400, "segment 1")
    # An AUTOMATIC SEG of an algorithm that is no model here.
    dataset = pydicom.dcmread(io.BytesIO(exported))
    for item in dataset.SegmentSequence:
        item.SegmentAlgorithmType = "AUTOMATIC"
        item.SegmentAlgorithmName = "someone else's net"
    refused(_bytes(dataset), 400, "someone else's net", client=admin)
    # References that are no slices of this series.
    dataset = pydicom.dcmread(io.BytesIO(exported))
    for item in dataset.ReferencedSeriesSequence[0].ReferencedInstanceSequence:
        item.ReferencedSOPInstanceUID = "1.2.3.4." + item.ReferencedSOPInstanceUID[-8:].strip(".")
    refused(_bytes(dataset), 400, "references instances of no stored series")
    # A reader who does not read this series cannot import into it.
    refused(exported, 403, "you do not read series", client=client_of(cast.users["unrelated_reader"]))


def _bytes(dataset: pydicom.Dataset) -> bytes:
    buffer = io.BytesIO()
    dataset.save_as(buffer)
    return buffer.getvalue()


def test_a_seg_stored_over_stow_becomes_the_readers_reading(live_web):
    cast = build_cast("assigned")
    exported = client_of(cast.users["admin"]).get(f"/api/v1/series/{cast.series.pk}/seg?source=reader_1").content
    token = Token.objects.create(user=cast.users["reader_2"]).key
    reader_2 = DICOMwebClient(f"{live_web}/dicomweb", headers={"Authorization": f"Token {token}"})
    answer = reader_2.store_instances([pydicom.dcmread(io.BytesIO(exported))])
    assert (
        answer.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == pydicom.dcmread(io.BytesIO(exported)).SOPInstanceUID
    )
    assert np.array_equal(reading_volume(cast.r2), reading_volume(cast.r1))
    back = client_of(cast.users["reader_2"]).get(f"/api/v1/series/{cast.series.pk}/seg?source=reader_2")
    assert np.array_equal(seg_volume(back.content, cast.series), reading_volume(cast.r1))


def test_segment_kinds_map_by_meaning_not_number():
    """A SEG numbering its segments the other way round still maps GGO to 2 and reticulation to 1."""
    kinds = tuple(reversed(seg.PATTERN_SEGMENTS))
    assert [k.label for k in kinds] == [2, 1]


@pytest.mark.django_db
def test_lung_masks_export_as_their_own_seg():
    from inference.models import LungMask

    cast = build_cast("finalised")  # its lung masks were computed on the way
    series = cast.series
    answer = client_of(cast.users["clinician"]).get(f"/api/v1/series/{series.pk}/seg?source=lung")
    assert answer.status_code == 200, answer.content[:300]
    expected = np.zeros((series.slice_count, series.rows, series.columns), dtype=np.uint8)
    for mask in LungMask.objects.filter(slice__series=series):
        expected[mask.slice.z_index] = stored_png(mask.mask_png)
    made = hd.seg.segread(io.BytesIO(answer.content))
    names = {made.get_segment_description(n).segmented_property_type.value: n for n in made.segment_numbers}
    assert set(names) == {"3341006", "44029006"}  # SCT right lung, left lung
    uids = list(series.slices.order_by("z_index").values_list("sop_uid", flat=True))
    assert expected.any(), "the phantom's lungs were not found"
    pixels = made.get_pixels_by_source_instance(uids, segment_numbers=[names["3341006"], names["44029006"]],
                                                assert_missing_frames_are_empty=True)  # fmt: skip
    assert np.array_equal(pixels[..., 0] > 0, expected == 1)
    assert np.array_equal(pixels[..., 1] > 0, expected == 2)
    assert {s.SegmentAlgorithmType for s in pydicom.dcmread(io.BytesIO(answer.content)).SegmentSequence} == {
        "AUTOMATIC"
    }
