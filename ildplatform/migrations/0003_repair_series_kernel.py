"""Series imported before the fix stored a one-valued ConvolutionKernel letter by letter ("STANDARD"
became "S\\T\\A\\N\\D\\A\\R\\D"): put those back together. A kernel whose every value is one character is
taken to be such a one; real multi-valued kernels (Siemens "Br64d\\3") have longer values."""

from django.db import migrations


def join_spelled_out_kernels(apps, schema_editor):
    Series = apps.get_model("ildplatform", "Series")
    for series in Series.objects.filter(kernel__contains="\\").only("pk", "kernel"):
        parts = series.kernel.split("\\")
        if all(len(part) == 1 for part in parts):
            Series.objects.filter(pk=series.pk).update(kernel="".join(parts))


class Migration(migrations.Migration):
    dependencies = [("ildplatform", "0002_roles")]

    operations = [migrations.RunPython(join_spelled_out_kernels, migrations.RunPython.noop)]
