"""Reads of the imaging core."""

from __future__ import annotations

import io

import numpy as np
from django.core.files.storage import default_storage
from django.db.models import QuerySet

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
