# Inference jobs keep their model version in `params` (a data migration, on its own so that
# PostgreSQL has no pending trigger events when the next migration changes the table).

from django.db import migrations


def model_version_to_params(apps, schema_editor):
    Job = apps.get_model("inference", "Job")
    for job_id, model_version_id in Job.objects.exclude(model_version=None).values_list("id", "model_version_id"):
        Job.objects.filter(pk=job_id).update(params={"model_version_id": model_version_id})


def params_to_model_version(apps, schema_editor):
    Job = apps.get_model("inference", "Job")
    ModelVersion = apps.get_model("inference", "ModelVersion")
    for job in Job.objects.exclude(params={}):
        model_version_id = job.params.get("model_version_id")
        if model_version_id is not None and ModelVersion.objects.filter(pk=model_version_id).exists():
            Job.objects.filter(pk=job.pk).update(model_version_id=model_version_id)


class Migration(migrations.Migration):
    dependencies = [
        ("inference", "0002_job_params"),
    ]

    operations = [
        migrations.RunPython(model_version_to_params, params_to_model_version),
    ]
