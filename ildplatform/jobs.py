"""The job engine: a registry of runners, queueing on commit, progress and redelivery.

Apps above the core register what runs each kind of job (`job_runner_register`, from their
AppConfig.ready); the core queues and runs jobs without knowing them. A Celery task only calls
`job_run`; runners are idempotent: running a job again replaces its results, never adds a copy.
Tasks are acknowledged late, so a job whose worker died is redelivered and run again.
A job can be cancelled: a queued one at once; a running one when its runner next asks
(`job_cancel_check`, e.g. at the end of a training epoch).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from .exceptions import Conflict, DomainError, Forbidden
from .models import Job, Series
from .permissions import has_role
from .roles import ADMIN

logger = logging.getLogger(__name__)

CPU_QUEUE, GPU_QUEUE = "cpu", "gpu"
PROGRESS_STEPS = 20  # progress writes per job: often enough for a progress bar, few enough for the database


@dataclass(frozen=True)
class JobRunner:
    kind: str
    run: Callable[[Job], None]
    queue: str
    stops_when_cancelled: bool = False  # the runner calls `job_cancel_check` while it runs


_runners: dict[str, JobRunner] = {}


def job_runner_register(
    kind: str, run: Callable[[Job], None], *, queue: str = CPU_QUEUE, stops_when_cancelled: bool = False
) -> None:
    if queue not in (CPU_QUEUE, GPU_QUEUE):
        raise ValueError(f"queue must be {CPU_QUEUE!r} or {GPU_QUEUE!r}, got {queue!r}")
    registered = _runners.get(kind)
    if registered is not None and registered.run is not run:
        raise ValueError(f"job kind {kind!r} has a runner already")
    _runners[kind] = JobRunner(kind=kind, run=run, queue=queue, stops_when_cancelled=stops_when_cancelled)


def job_runner(kind: str) -> JobRunner:
    try:
        return _runners[kind]
    except KeyError:
        raise DomainError(f"no runner is registered for jobs of kind {kind!r}") from None


def job_create(*, kind: str, series: Series | None, params: dict | None = None, user=None) -> Job:
    """Create a job row and queue its Celery task once the row is committed."""
    runner = job_runner(kind)
    job = Job.objects.create(kind=kind, series=series, params=params or {}, created_by=user)
    transaction.on_commit(lambda: _enqueue(job, runner.queue))
    return job


def _enqueue(job: Job, queue: str) -> None:
    from .tasks import run_job

    try:
        run_job.apply_async(
            args=[job.pk],
            queue=queue,
            retry=True,
            retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5},
        )
    except Exception as error:  # broker down: say so on the job instead of hanging the request
        logger.error("could not queue job %s: %s", job.pk, error)
        Job.objects.filter(pk=job.pk).update(state=Job.State.FAILED, error=f"could not reach the broker: {error}")


class JobCancelled(Exception):
    """Raised by a runner that found its job's cancellation requested; the job ends `cancelled`."""


def _job_begin(job_id: int) -> Job | None:
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.state in (Job.State.DONE, Job.State.CANCELLED):
            return None  # deleted, cancelled while queued, or a redelivery of a job that finished before its ack
        job.state, job.progress, job.error = Job.State.RUNNING, 0.0, ""
        job.attempts += 1
        job.started_at = timezone.now()
        job.save()
    return job


def job_progress(job: Job, fraction: float) -> None:
    job.progress = float(min(max(fraction, 0.0), 1.0))
    Job.objects.filter(pk=job.pk).update(progress=job.progress)


def job_detail(job: Job, detail: dict) -> None:
    """What the job is doing now (shown on the jobs page), merged into what it said before."""
    job.detail = {**job.detail, **detail}
    Job.objects.filter(pk=job.pk).update(detail=job.detail)


def job_cancel_requested(job: Job) -> bool:
    """Has someone asked to cancel this job? (Read from the database: the request comes from another process.)"""
    return Job.objects.filter(pk=job.pk, cancel_requested=True).exists()


def job_cancel_check(job: Job) -> None:
    """Raise JobCancelled when someone asked to cancel this job (runners call it at safe points)."""
    if job_cancel_requested(job):
        raise JobCancelled(f"job {job.pk} was cancelled")


def job_cancel(*, job: Job, user) -> Job:
    """Cancel a job: a queued one at once, a running one at its runner's next check. Admins, or whoever
    queued it; a finished job cannot be cancelled."""
    if not (has_role(user, ADMIN) or (job.created_by_id is not None and job.created_by_id == user.pk)):
        raise Forbidden("only admins and the user who queued a job may cancel it")
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job.pk)
        if job.state not in (Job.State.QUEUED, Job.State.RUNNING):
            raise Conflict(f"job {job.pk} is {job.state}: only queued or running jobs can be cancelled")
        if job.state == Job.State.RUNNING and not job_runner(job.kind).stops_when_cancelled:
            raise Conflict(f"a running {job.kind} job cannot be stopped; it ends on its own")
        changes = {"cancel_requested": True}
        if job.state == Job.State.QUEUED:
            changes.update(state=Job.State.CANCELLED, finished_at=timezone.now())
        # Only while it is still queued or running: never over the state a worker has just written.
        Job.objects.filter(pk=job.pk, state__in=[Job.State.QUEUED, Job.State.RUNNING]).update(**changes)
        job.refresh_from_db()
    logger.info("job %s: cancel requested by %s", job.pk, user)
    return job


def job_run(*, job_id: int) -> None:
    job = _job_begin(job_id)
    if job is None:
        return
    try:
        job_runner(job.kind).run(job)
    except JobCancelled:
        logger.info("job %s stopped: cancelled", job.pk)
        Job.objects.filter(pk=job.pk).update(state=Job.State.CANCELLED, finished_at=timezone.now())
        return
    except Exception as error:
        logger.exception("job %s failed", job.pk)
        Job.objects.filter(pk=job.pk).update(
            state=Job.State.FAILED, error=str(error)[:2000], finished_at=timezone.now()
        )
        return
    Job.objects.filter(pk=job.pk).update(state=Job.State.DONE, progress=1.0, finished_at=timezone.now())


def progress_chunks(count: int, multiple_of: int = 1) -> list[range]:
    """About PROGRESS_STEPS ranges over count items, each a multiple of `multiple_of` long (a GPU batch)."""
    step = max(1, -(-count // PROGRESS_STEPS))
    step = -(-step // multiple_of) * multiple_of
    return [range(start, min(start + step, count)) for start in range(0, count, step)]
