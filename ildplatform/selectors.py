"""Reads of the imaging core."""

from __future__ import annotations

import functools
import io

import numpy as np
import pydicom
from django.core.files.storage import default_storage
from django.db.models import QuerySet

from . import reformat
from .dicom_import import AXIAL_ORIENTATION
from .exceptions import NotFound
from .models import Job, Patient, Series, Slice


def series_hu_volume(series: Series) -> np.ndarray:
    """The series' int16 HU volume (z, y, x), memory-mapped when the storage is a local folder."""
    try:
        return np.load(default_storage.path(series.volume_file), mmap_mode="r")
    except NotImplementedError:  # remote storage: no local path to map
        with default_storage.open(series.volume_file) as handle:
            return np.load(io.BytesIO(handle.read()))


def patient_list() -> QuerySet[Patient]:
    return Patient.objects.prefetch_related("visits__series")


def patient_get(*, patient_id: int) -> Patient:
    patient = patient_list().filter(pk=patient_id).first()
    if patient is None:
        raise NotFound(f"no patient with id {patient_id}")
    return patient


def series_get(*, series_id: int) -> Series:
    series = Series.objects.select_related("visit__patient").filter(pk=series_id).first()
    if series is None:
        raise NotFound(f"no series with id {series_id}")
    return series


def slice_get(*, series_id: int, z_index: int) -> Slice:
    found = Slice.objects.filter(series_id=series_id, z_index=z_index).first()
    if found is None:
        raise NotFound(f"series {series_id} has no slice with z index {z_index}")
    return found


def series_instance_uids(*, series_id: int) -> dict:
    """What a viewer needs to ask DICOMweb for the series' images: its study and series UIDs and the SOP
    Instance UID of each slice in z order (sop_uids[z] is slice z, as masks and readings number them)."""
    series = series_get(series_id=series_id)
    return {
        "series_id": series.pk,
        "study_uid": series.study_uid,
        "series_uid": series.series_uid,
        "sop_uids": list(Slice.objects.filter(series=series).order_by("z_index").values_list("sop_uid", flat=True)),
    }


def job_list(*, series_id: int | None = None, active_only: bool = False) -> QuerySet[Job]:
    jobs = Job.objects.all()
    if series_id is not None:
        jobs = jobs.filter(series_id=series_id)
    if active_only:
        jobs = jobs.filter(state__in=[Job.State.QUEUED, Job.State.RUNNING])
    return jobs.order_by("-created_at")[:200]


def job_get(*, job_id: int) -> Job:
    job = Job.objects.filter(pk=job_id).first()
    if job is None:
        raise NotFound(f"no job with id {job_id}")
    return job


def slice_header(series_id: int, z_index: int, tags: list[str]) -> pydicom.Dataset:
    """Some header elements of one stored slice, read without its pixels."""
    found = slice_get(series_id=series_id, z_index=z_index)
    with found.dicom_file.open("rb") as handle:
        return pydicom.dcmread(handle, stop_before_pixels=True, specific_tags=tags)


def series_orientation(series: Series) -> tuple[float, ...]:
    """The series' ImageOrientationPatient (import checked that all its slices share it)."""
    return _stored_orientation(series.pk, series.series_uid)


@functools.lru_cache(maxsize=1024)
def _stored_orientation(series_id: int, series_uid: str) -> tuple[float, ...]:
    # A stored series never changes, so its first slice's header is read once per process, not on every
    # reformat plane asked for while scrolling; the UID keys it, in case an id is ever used again.
    values = slice_header(series_id, 0, ["ImageOrientationPatient"]).get("ImageOrientationPatient")
    return tuple(float(v) for v in values) if values is not None and len(values) == 6 else AXIAL_ORIENTATION


def series_reformat_plane(*, series_id: int, plane: reformat.Plane, index: int) -> np.ndarray:
    """One coronal or sagittal plane of the series' HU volume, head on top (see reformat.reformat_plane)."""
    series = series_get(series_id=series_id)
    volume = series_hu_volume(series)
    count = reformat.plane_count(volume.shape, plane)
    if not 0 <= index < count:
        raise NotFound(f"series {series_id} has {count} {plane} planes (0..{count - 1}); {index} is not one")
    head_is_last = reformat.head_is_last_slice(series_orientation(series))
    return reformat.reformat_plane(volume, plane, index, head_is_last=head_is_last)


def series_reformat_layout(*, series_id: int) -> dict:
    """What a viewer needs to show the reformats: which slice each row shows (top first), per plane how
    many planes there are and the width and pixel spacing (mm) of one, and the axial geometry (the
    orientation, the top slice's position) from which each plane's position in the patient follows."""
    series = series_get(series_id=series_id)
    orientation = series_orientation(series)
    head_is_last = reformat.head_is_last_slice(orientation)
    slice_order = reformat.display_slice_order(series.slice_count, head_is_last=head_is_last)
    top = slice_header(series.pk, slice_order[0], ["ImagePositionPatient", "FrameOfReferenceUID"])
    return {
        "series_id": series.pk,
        "slice_order": slice_order,
        "row_spacing": series.slice_spacing,
        "axial": {
            "orientation": list(orientation),
            "head_is_last": head_is_last,
            "top_position": [float(v) for v in top.get("ImagePositionPatient", [0.0, 0.0, 0.0])],
            "pixel_spacing": [series.pixel_spacing_row, series.pixel_spacing_column],
            "frame_of_reference_uid": str(top.get("FrameOfReferenceUID", "")),
        },
        "planes": {
            "coronal": {"count": series.rows, "width": series.columns, "column_spacing": series.pixel_spacing_column},
            "sagittal": {"count": series.columns, "width": series.rows, "column_spacing": series.pixel_spacing_row},
        },
    }
