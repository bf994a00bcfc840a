"""The core's job engine: registered runners, refusals, failure and redelivery bookkeeping."""

import pytest

from ildplatform import jobs
from ildplatform.exceptions import DomainError
from ildplatform.models import Job

calls: list[int] = []


def _counting_runner(job: Job) -> None:
    calls.append(job.pk)
    jobs.job_progress(job, 0.5)


def _failing_runner(job: Job) -> None:
    raise RuntimeError("the lung masks of this series are corrupt")


jobs.job_runner_register("test_counting", _counting_runner)
jobs.job_runner_register("test_failing", _failing_runner)


def test_the_apps_register_their_runners_on_the_right_queues():
    kinds = ("lung_masks", "inference", "training", "agreement", "involvement")
    queues = {kind: jobs.job_runner(kind).queue for kind in kinds}
    assert queues == {
        "lung_masks": "cpu", "inference": "gpu", "training": "gpu", "agreement": "cpu", "involvement": "cpu"
    }  # fmt: skip


def test_a_kind_without_a_runner_is_refused_and_stores_nothing(db):
    with pytest.raises(DomainError, match="no runner is registered for jobs of kind 'unheard_of'"):
        jobs.job_create(kind="unheard_of", series=None)
    assert not Job.objects.exists()


def test_a_second_runner_for_a_kind_is_refused():
    with pytest.raises(ValueError, match="has a runner already"):
        jobs.job_runner_register("test_counting", _failing_runner)


def test_a_job_runs_once_and_a_redelivery_after_it_finished_does_nothing(db):
    job = Job.objects.create(kind="test_counting")
    calls.clear()
    jobs.job_run(job_id=job.pk)
    jobs.job_run(job_id=job.pk)  # the broker redelivered a task whose job had finished
    job.refresh_from_db()
    assert calls == [job.pk]
    assert (job.state, job.progress, job.attempts) == (Job.State.DONE, 1.0, 1)


def test_a_failing_runner_leaves_its_error_on_the_job(db):
    job = Job.objects.create(kind="test_failing")
    jobs.job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.state == Job.State.FAILED and job.error == "the lung masks of this series are corrupt"
    assert job.finished_at is not None


def test_progress_chunks_cover_every_item_once_in_batches():
    chunks = jobs.progress_chunks(250, multiple_of=32)
    assert [z for chunk in chunks for z in chunk] == list(range(250))
    assert all(len(chunk) % 32 == 0 for chunk in chunks[:-1]) and len(chunks) <= jobs.PROGRESS_STEPS


def test_only_a_runner_that_checks_can_be_cancelled_while_running(db, make_user):
    admin = make_user("admin")
    queued = Job.objects.create(kind="test_counting")
    assert jobs.job_cancel(job=queued, user=admin).state == Job.State.CANCELLED
    running = Job.objects.create(kind="lung_masks", state=Job.State.RUNNING)
    with pytest.raises(DomainError, match="a running lung_masks job cannot be stopped"):
        jobs.job_cancel(job=running, user=admin)
    running.refresh_from_db()
    assert running.state == Job.State.RUNNING and not running.cancel_requested
    training = Job.objects.create(kind="training", state=Job.State.RUNNING)
    asked = jobs.job_cancel(job=training, user=admin)
    assert asked.state == Job.State.RUNNING and asked.cancel_requested, "stops at its next epoch"
    with pytest.raises(DomainError, match="only admins and the user who queued"):
        jobs.job_cancel(job=Job.objects.create(kind="test_counting"), user=make_user("reader"))
