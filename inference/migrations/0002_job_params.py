# The Job model moves to the core's job engine (ildplatform.Job): first it gets the generic `params`
# and an open `kind` (runners are registered, not listed here).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("inference", "0001_initial"),
    ]

    operations = [
        migrations.AddField(model_name="job", name="params", field=models.JSONField(blank=True, default=dict)),
        migrations.AlterField(model_name="job", name="kind", field=models.CharField(max_length=32)),
    ]
