from django.apps import AppConfig


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


def _schedule_lung_masks(sender, series, **kwargs) -> None:
    from .services import lung_masks_schedule

    lung_masks_schedule(series=series)
