from django.core.management.base import BaseCommand

from ildplatform.models import Job
from inference import services
from inference.models import ModelVersion


class Command(BaseCommand):
    help = (
        "Queue the demo's short training run on phantoms (gpu queue) unless a merged model is active. Run at "
        "the embedded default's start, before its workers. Its weights are labelled demo weights (never for "
        "patients), activated when the run ends, and run on every demo series."
    )

    def handle(self, *args, **options):
        # The embedded default's Redis keeps nothing across restarts: a training job left queued or running by
        # the last run will never be delivered, so it is closed as such and the demo run queued afresh.
        orphaned = Job.objects.filter(kind=services.TRAINING_JOB, state__in=[Job.State.QUEUED, Job.State.RUNNING])
        orphaned.update(state=Job.State.FAILED, error="the platform stopped before this training run ended")
        if ModelVersion.objects.filter(task=ModelVersion.Task.MERGED, is_active=True).exists():
            self.stdout.write("demo model: a merged model is active already")
            return
        job = services.training_schedule(request=services.DEMO_TRAINING)
        self.stdout.write(f"demo model: training job {job.pk} queued (phantoms, demo weights, a few minutes)")
