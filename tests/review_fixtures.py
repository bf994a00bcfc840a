"""A small series with a full review cast, brought to any state of the workflow."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rest_framework.test import APIClient

from annotations import services as review_services
from annotations.models import Reading, Review
from ildplatform import jobs, labelmaps, services
from ildplatform.dicom_import import SourceFile
from ildplatform.models import Job, Series

from .dicom_factory import ct_series, to_bytes

STATES = ("assigned", "one_submitted", "both_submitted", "finalised")
SIZE = 64


def reader_1_labels() -> np.ndarray:
    labels = np.zeros((SIZE, SIZE), dtype=np.uint8)
    labels[20:49, 14:51] = 1  # 29 x 37 = 1073 reticulation pixels: a count nobody else has
    return labels


def reader_2_labels() -> np.ndarray:
    labels = np.zeros((SIZE, SIZE), dtype=np.uint8)
    labels[30:51, 25:62] = 2  # 21 x 37 = 777 GGO pixels
    return labels


def shared_labels() -> np.ndarray:
    labels = np.zeros((SIZE, SIZE), dtype=np.uint8)
    labels[28:36, 28:36] = 2
    return labels


@dataclass
class Cast:
    series: Series
    review: Review
    users: dict  # role name -> User
    r1: Reading
    r2: Reading

    @property
    def reader_1_png(self) -> bytes:
        return labelmaps.encode_png(reader_1_labels())

    @property
    def reader_2_png(self) -> bytes:
        return labelmaps.encode_png(reader_2_labels())


def client_of(user) -> APIClient:
    """An API client signed in as `user`."""
    client = APIClient()
    client.force_authenticate(user)
    return client


def run_queued_jobs(series: Series) -> None:
    """Run the series' queued jobs in this process, as a worker would (the queue itself is tested elsewhere)."""
    for job in Job.objects.filter(series=series, state=Job.State.QUEUED).order_by("id"):
        jobs.job_run(job_id=job.pk)


def wait_for_series_jobs(series: Series, timeout_s: float = 240) -> None:
    """Until every job of the series is done (a real worker runs them); fails on a failed job."""
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        jobs = list(Job.objects.filter(series=series))
        if all(job.state in (Job.State.DONE, Job.State.FAILED) for job in jobs):
            assert all(job.state == Job.State.DONE for job in jobs), [(job.kind, job.error) for job in jobs]
            return
        time.sleep(0.2)
    raise AssertionError(f"jobs of series {series.pk} still running after {timeout_s} s")


def build_cast(state: str, seed: str = "review") -> Cast:
    users = {
        "reader_1": services.user_create(username="r1", role="reader", password="pass-word-1"),
        "reader_2": services.user_create(username="r2", role="reader", password="pass-word-1"),
        "adjudicator": services.user_create(username="adj", role="adjudicator", password="pass-word-1"),
        "clinician": services.user_create(username="clin", role="clinician", password="pass-word-1"),
        "admin": services.user_create(username="boss", role="admin", password="pass-word-1"),
        "unrelated_reader": services.user_create(username="r3", role="reader", password="pass-word-1"),
    }
    sources = [SourceFile(f"s{i}.dcm", to_bytes(d)) for i, d in enumerate(ct_series(4, seed=seed))]
    series = Series.objects.get(pk=services.series_import(sources=sources).series[0].series_id)
    review = review_services.review_assign(
        series=series, reader_1=users["reader_1"], reader_2=users["reader_2"],
        adjudicator=users["adjudicator"], by=users["admin"],
    )  # fmt: skip
    r1 = review.readings.get(role="reader_1")
    r2 = review.readings.get(role="reader_2")
    for reading, labels in ((r1, reader_1_labels()), (r2, reader_2_labels())):
        review_services.mask_save(reading=reading, z_index=1, png=labelmaps.encode_png(labels), if_match=0,
                                  user=reading.user)  # fmt: skip
        review_services.mask_save(reading=reading, z_index=2, png=labelmaps.encode_png(shared_labels()), if_match=0,
                                  user=reading.user)  # fmt: skip
    if STATES.index(state) >= 1:
        review_services.reading_submit(reading=r1, user=r1.user)
    if STATES.index(state) >= 2:
        review_services.reading_submit(reading=r2, user=r2.user)
        run_queued_jobs(series)
    if STATES.index(state) >= 3:
        review_services.consensus_decide(review=review, z_index=1, decision="union", png=None,
                                         user=users["adjudicator"])  # fmt: skip
        review_services.consensus_finalize(review=review, user=users["adjudicator"])
        run_queued_jobs(series)
    r1.refresh_from_db()
    r2.refresh_from_db()
    review.refresh_from_db()
    return Cast(series=series, review=review, users=users, r1=r1, r2=r2)
