import logging
import threading

from django.apps import AppConfig

logger = logging.getLogger(__name__)


class InferenceConfig(AppConfig):
    name = "inference"

    def ready(self) -> None:
        from ildplatform import events, jobs

        from . import services

        jobs.job_runner_register(services.LUNG_MASKS_JOB, services.lung_masks_run)
        jobs.job_runner_register(services.INFERENCE_JOB, services.inference_run, queue=jobs.GPU_QUEUE)
        jobs.job_runner_register(
            services.TRAINING_JOB, services.training_run_job, queue=jobs.GPU_QUEUE, stops_when_cancelled=True
        )
        # Lung masks follow every import (a cpu-queue job, queued once the import is committed).
        events.series_imported.connect(_schedule_lung_masks, dispatch_uid="inference-lung-masks-after-import")
        from celery.signals import worker_process_init

        worker_process_init.connect(_load_active_models_soon, dispatch_uid="inference-models-at-worker-start")


def _schedule_lung_masks(sender, series, **kwargs) -> None:
    from .services import lung_masks_schedule

    lung_masks_schedule(series=series)


def _load_active_models_soon(**kwargs) -> None:
    """At the start of each process of a worker that takes U-Net jobs (the gpu queue): load the active
    models in the background, so that their inference path is chosen (measured, or read from the
    cache: `inference.runtime`) before the first job rather than during it. A job that comes first
    waits for the load (one load per model and process)."""
    from celery import current_app

    from ildplatform.jobs import GPU_QUEUE

    if GPU_QUEUE in (current_app.amqp.queues.consume_from or {}):
        threading.Thread(target=_load_active_models, name="load-active-models", daemon=True).start()


def _load_active_models() -> None:
    from django.db import connection

    from . import runtime
    from .models import ModelVersion

    try:
        for version in ModelVersion.objects.filter(is_active=True):
            logger.info("model %s loaded at worker start: %s path", version.pk, runtime.inferer(version).path)
    except Exception:  # the first job loads it again and reports what is wrong
        logger.warning("could not load the active models at worker start", exc_info=True)
    finally:
        connection.close()
