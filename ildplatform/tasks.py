from celery import shared_task

from . import jobs


@shared_task(acks_late=True, reject_on_worker_lost=True)
def run_job(job_id: int) -> None:
    """Run one Job row; a redelivery after a worker died re-runs it and replaces its results."""
    jobs.job_run(job_id=job_id)
