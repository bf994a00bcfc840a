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


@pytest.mark.django_db(transaction=True)
def test_jobs_move_to_the_core_with_their_ids_and_model_versions():
    executor = MigrationExecutor(connection)
    before = [("ildplatform", "0003_repair_series_kernel"), ("inference", "0001_initial")]
    executor.migrate(before)
    old_apps = executor.loader.project_state(before).apps
    Patient, Visit, Series = (old_apps.get_model("ildplatform", name) for name in ("Patient", "Visit", "Series"))
    ModelVersion, OldJob = (old_apps.get_model("inference", name) for name in ("ModelVersion", "Job"))
    visit = Visit.objects.create(patient=Patient.objects.create(pseudonym="P"), date="2024-01-02")
    series = Series.objects.create(
        visit=visit, study_uid="1.2", series_uid="1.2.3", rows=2, columns=2, pixel_spacing_row=1,
        pixel_spacing_column=1, slice_spacing=1, slice_count=1,
    )  # fmt: skip
    model = ModelVersion.objects.create(task="ggo", threshold=0.5, weights_file="models/x.weights.h5")
    inference_job = OldJob.objects.create(kind="inference", state="done", series=series, model_version=model)
    lung_job = OldJob.objects.create(kind="lung_masks", state="failed", error="no broker", series=series)

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    from ildplatform.models import Job

    moved = {job.pk: (job.kind, job.state, job.series_id, job.params, job.error) for job in Job.objects.all()}
    assert moved == {
        inference_job.pk: ("inference", "done", series.pk, {"model_version_id": model.pk}, ""),
        lung_job.pk: ("lung_masks", "failed", series.pk, {}, "no broker"),
    }
    # The id sequence goes on after the moved rows.
    assert Job.objects.create(kind="lung_masks", series_id=series.pk).pk > max(moved)
