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


@pytest.mark.django_db(transaction=True)
def test_lung_masks_stored_before_the_sides_get_them_and_miss_the_gas_figure():
    import numpy as np

    from ildplatform import labelmaps

    executor = MigrationExecutor(connection)
    before = [("ildplatform", "0004_job"), ("inference", "0005_lung_method_and_sides")]
    executor.migrate(before)
    old_apps = executor.loader.project_state(before).apps
    Patient, Visit, Series, Slice = (
        old_apps.get_model("ildplatform", name) for name in ("Patient", "Visit", "Series", "Slice")
    )
    LungMask = old_apps.get_model("inference", "LungMask")
    visit = Visit.objects.create(patient=Patient.objects.create(pseudonym="P"), date="2024-01-02")
    series = Series.objects.create(
        visit=visit, study_uid="1.2", series_uid="1.2.3", rows=8, columns=10, pixel_spacing_row=1,
        pixel_spacing_column=1, slice_spacing=1, slice_count=1,
    )  # fmt: skip
    section = Slice.objects.create(series=series, sop_uid="1.2.3.1", z_index=0, z_position=0, dicom_file="x.dcm")
    lung = np.zeros((8, 10), dtype=np.uint8)
    lung[2:6, 1:4] = 1  # the image's left: the patient's right lung
    lung[1:7, 6:9] = 1
    LungMask.objects.create(
        slice=section, algorithm="mader2d", mask_png=labelmaps.encode_png(lung), lung_pixels=int(lung.sum())
    )

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    from inference.models import LungMask

    mask = LungMask.objects.get()
    labels = labelmaps.decode_png(bytes(mask.mask_png), shape=(8, 10))
    assert (mask.right_pixels, mask.left_pixels) == (12, 18)
    assert set(labels[2:6, 1:4].ravel()) == {1} and set(labels[1:7, 6:9].ravel()) == {2}
    assert mask.gas_pocket_pixels is None, "never computed: the summary must not read it as zero"


@pytest.mark.django_db(transaction=True)
def test_stored_disagreement_maps_are_told_apart_by_pattern():
    import numpy as np

    from ildplatform import labelmaps

    executor = MigrationExecutor(connection)
    before = [("annotations", "0002_slice_agreement_ranked_by_selector")]
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    User = old.get_model("auth", "User")
    visit = old.get_model("ildplatform", "Visit").objects.create(
        patient=old.get_model("ildplatform", "Patient").objects.create(pseudonym="P"), date="2024-01-02"
    )
    series = old.get_model("ildplatform", "Series").objects.create(
        visit=visit, study_uid="1.2", series_uid="1.2.3", rows=1, columns=6, pixel_spacing_row=1,
        pixel_spacing_column=1, slice_spacing=1, slice_count=1,
    )  # fmt: skip
    section = old.get_model("ildplatform", "Slice").objects.create(
        series=series, sop_uid="1.2.3.1", z_index=0, z_position=0, dicom_file="x.dcm"
    )
    review = old.get_model("annotations", "Review").objects.create(series=series)
    Reading, MaskVersion = old.get_model("annotations", "Reading"), old.get_model("annotations", "MaskVersion")
    first, second = np.array([[1, 2, 1, 2, 0, 0]], np.uint8), np.array([[1, 2, 2, 0, 1, 0]], np.uint8)
    for role, labels in (("reader_1", first), ("reader_2", second)):
        user = User.objects.create(username=role)
        reading = Reading.objects.create(review=review, role=role, user=user)
        for version, stored in ((1, np.zeros_like(labels)), (2, labels)):  # the latest version counts
            MaskVersion.objects.create(
                reading=reading, slice=section, version=version, labels_png=labelmaps.encode_png(stored),
                reticulation_pixels=0, ggo_pixels=0, author=user,
            )  # fmt: skip
    old_map = np.array([[3, 3, 3, 1, 2, 0]], np.uint8)
    old.get_model("annotations", "SliceAgreement").objects.create(
        review=review, slice=section, figures={}, disagreement_png=labelmaps.encode_png(old_map), differing_pixels=3
    )

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    from annotations.models import SliceAgreement

    stored = labelmaps.decode_png(bytes(SliceAgreement.objects.get().disagreement_png))
    assert stored.tolist() == [[4, 5, 3, 1, 2, 0]]
