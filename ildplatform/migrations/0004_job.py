# The job engine's Job: the table was inference's and is renamed there (inference 0004); here it only
# enters the core's state.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("ildplatform", "0003_repair_series_kernel"),
        ("inference", "0004_job_moves_to_core"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Job",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False,
                                                   verbose_name="ID")),  # fmt: skip
                        ("kind", models.CharField(max_length=32)),
                        ("state", models.CharField(
                            choices=[("queued", "Queued"), ("running", "Running"), ("done", "Done"),
                                     ("failed", "Failed")],
                            default="queued", max_length=8,
                        )),  # fmt: skip
                        ("progress", models.FloatField(default=0.0)),
                        ("error", models.TextField(blank=True)),
                        ("params", models.JSONField(blank=True, default=dict)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("started_at", models.DateTimeField(blank=True, null=True)),
                        ("finished_at", models.DateTimeField(blank=True, null=True)),
                        ("attempts", models.PositiveIntegerField(default=0,
                                                                 help_text="how many times a worker started it")),  # fmt: skip
                        ("created_by", models.ForeignKey(blank=True, null=True,
                                                         on_delete=django.db.models.deletion.SET_NULL,
                                                         to=settings.AUTH_USER_MODEL)),  # fmt: skip
                        ("series", models.ForeignKey(blank=True, null=True,
                                                     on_delete=django.db.models.deletion.CASCADE,
                                                     related_name="jobs", to="ildplatform.series")),  # fmt: skip
                    ],
                    options={"ordering": ["-created_at"]},
                ),
            ],
        ),
    ]
