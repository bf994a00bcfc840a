from django.core.files.storage import default_storage
from django.db import migrations, models

from ildplatform.dicom_frames import pixel_layout

BATCH = 500


def locate_stored_frames(apps, schema_editor):
    """Slices stored before this migration: their files are read once (a missing file is left unknown,
    and its frames are then answered the slow way, from the parsed file)."""
    Slice = apps.get_model("ildplatform", "Slice")
    pending = []
    for found in Slice.objects.filter(frame_ranges__isnull=True).only("pk", "dicom_file").iterator(chunk_size=BATCH):
        try:
            with default_storage.open(found.dicom_file.name, "rb") as handle:
                layout = pixel_layout(handle.read())
        except Exception:  # noqa: BLE001 - an unreadable file must not stop the upgrade
            continue
        found.transfer_syntax_uid, found.frame_ranges = layout.transfer_syntax_uid, layout.frame_ranges
        pending.append(found)
        if len(pending) == BATCH:
            Slice.objects.bulk_update(pending, ["transfer_syntax_uid", "frame_ranges"])
            pending = []
    Slice.objects.bulk_update(pending, ["transfer_syntax_uid", "frame_ranges"])


class Migration(migrations.Migration):
    dependencies = [
        ("ildplatform", "0005_job_detail_and_cancel"),
    ]

    operations = [
        migrations.AddField(
            model_name="slice",
            name="frame_ranges",
            field=models.JSONField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="slice",
            name="transfer_syntax_uid",
            field=models.CharField(blank=True, db_default="", max_length=64),
        ),
        migrations.RunPython(locate_stored_frames, migrations.RunPython.noop),
    ]
