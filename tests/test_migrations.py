"""Data migrations, run forward on rows written by the code before them."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor


@pytest.mark.django_db(transaction=True)
def test_spelled_out_kernels_are_put_back_together_and_real_multi_values_kept():
    executor = MigrationExecutor(connection)
    before, after = [("ildplatform", "0002_roles")], [("ildplatform", "0003_repair_series_kernel")]
    executor.migrate(before)
    old_apps = executor.loader.project_state(before).apps
    Patient, Visit, Series = (old_apps.get_model("ildplatform", name) for name in ("Patient", "Visit", "Series"))
    visit = Visit.objects.create(patient=Patient.objects.create(pseudonym="P"), date="2024-01-02")
    kernels = {"S\\T\\A\\N\\D\\A\\R\\D": "STANDARD", "Y\\A": "YA", "Br64d\\3": "Br64d\\3", "LUNG": "LUNG", "": ""}
    for index, kernel in enumerate(kernels):
        Series.objects.create(
            visit=visit, study_uid="1.2", series_uid=f"1.2.{index}", rows=2, columns=2, pixel_spacing_row=1,
            pixel_spacing_column=1, slice_spacing=1, kernel=kernel, slice_count=1,
        )  # fmt: skip

    executor = MigrationExecutor(connection)
    executor.migrate(after)
    Series = executor.loader.project_state(after).apps.get_model("ildplatform", "Series")
    stored = dict(Series.objects.order_by("series_uid").values_list("series_uid", "kernel"))
    executor.migrate(executor.loader.graph.leaf_nodes())  # later migrations, for the tests after this one

    assert stored == {f"1.2.{index}": repaired for index, repaired in enumerate(kernels.values())}
