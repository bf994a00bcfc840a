# The job table becomes the core's (ildplatform.Job, see ildplatform 0004): renamed in the database,
# removed from this app's state; the rows and their ids stay as they are.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("inference", "0003_job_model_version_to_params"),
    ]

    operations = [
        migrations.RemoveField(model_name="job", name="model_version"),
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.AlterModelTable(name="job", table="ildplatform_job")],
            state_operations=[migrations.DeleteModel(name="job")],
        ),
    ]
