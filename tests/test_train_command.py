"""`manage.py train_unet` on the demo's phantom truth: a cross-validated run registered, inactive."""

from __future__ import annotations

import json
from io import StringIO

import numpy as np
import pytest
from django.core.management import CommandError, call_command

pytest.importorskip("keras")

from inference.models import ModelVersion  # noqa: E402


@pytest.mark.django_db
def test_train_unet_registers_an_inactive_version_with_its_folds(media_root):
    out = StringIO()
    test_patients = ["phantom-1", "phantom-4"]
    call_command("train_unet", task="merged", variant="text", folds=2, epochs=1, test_patients=test_patients,
                 json=True, stdout=out, stderr=StringIO())  # fmt: skip
    figures = json.loads(out.getvalue())
    version = ModelVersion.objects.get(pk=figures["model_version_id"])
    assert not version.is_active and figures["active"] is False
    assert version.variant == "text", "registered as the variant it was trained as"
    assert version.training_set["test_patients"] == ["phantom-1", "phantom-4"]
    validation = [set(fold["validation_patients"]) for fold in version.training_set["folds"]]
    assert validation[0].isdisjoint(validation[1]) and not {"phantom-1", "phantom-4"} & (validation[0] | validation[1])
    assert len(version.fold_thresholds) == 2 and figures["threshold"] in version.fold_thresholds
    assert set(figures["test"]) == {"dice", "jaccard", "f1", "recall"}
    assert version.weights_file.name.endswith(".weights.h5")


@pytest.mark.django_db
def test_train_unet_refuses_an_unknown_source_and_impossible_folds(media_root):
    with pytest.raises(CommandError, match="unknown training source"):
        call_command("train_unet", task="ggo", source="pacs", stdout=StringIO())
    with pytest.raises(CommandError, match="folds"):
        call_command("train_unet", task="merged", folds=9, stdout=StringIO())
    with pytest.raises(CommandError, match="unknown training setting 'patience'"):
        call_command("train_unet", task="merged", folds=2, overrides=["patience=3"], stdout=StringIO())
    with pytest.raises(CommandError, match="NAME=VALUE"):
        call_command("train_unet", task="merged", folds=2, overrides=["learning_rate"], stdout=StringIO())
    with pytest.raises(CommandError, match="starts from the active reticulation model"):
        call_command("train_unet", task="ggo", folds=2, epochs=1, stdout=StringIO())
    assert not ModelVersion.objects.exists()


@pytest.mark.django_db
def test_ggo_starts_from_the_active_reticulation_model_with_184770_trainable_parameters(media_root, tmp_path):
    import keras

    from inference import services, unet

    keras.utils.set_random_seed(3)
    unet.build_unet("table2").save_weights(tmp_path / "reticulation.weights.h5")
    base = services.model_register(weights=tmp_path / "reticulation.weights.h5", task="reticulation", threshold=0.5)
    out = StringIO()
    call_command("train_unet", task="ggo", folds=2, epochs=1, test_patients=["phantom-5"], json=True, stdout=out,
                 stderr=StringIO())  # fmt: skip
    figures = json.loads(out.getvalue())
    assert figures["trainable_parameters"] == 184_770 and figures["transfer_from"] == base.pk
    version = ModelVersion.objects.get(pk=figures["model_version_id"])
    assert version.training_run["trainable_parameters"] == 184_770

    # The frozen levels kept the reticulation weights; the trained levels moved away from them.
    trained, started = unet.build_unet("table2"), unet.build_unet("table2")
    trained.load_weights(version.weights_file.path)
    started.load_weights(base.weights_file.path)
    for name in ("enc1_conv1", "bottleneck_conv1", "dec2_conv1"):
        kept = zip(trained.get_layer(name).get_weights(), started.get_layer(name).get_weights(), strict=True)
        for mine, theirs in kept:
            np.testing.assert_array_equal(mine, theirs, err_msg=f"{name} is frozen")
    assert not np.array_equal(trained.get_layer("dec4_conv1").get_weights()[0],
                              started.get_layer("dec4_conv1").get_weights()[0]), "dec4 trains"  # fmt: skip


@pytest.mark.django_db
def test_activate_model_switches_with_a_reason_and_records_who(media_root, tmp_path, make_user):
    from inference import services, unet
    from inference.models import ModelActivation

    unet.build_unet("table2").save_weights(tmp_path / "merged.weights.h5")
    first = services.model_register(weights=tmp_path / "merged.weights.h5", task="merged", threshold=0.5)
    second = services.model_register(
        weights=tmp_path / "merged.weights.h5", task="merged", threshold=0.4, activate=False
    )
    make_user("admin", "boss")
    with pytest.raises(CommandError, match="reason"):
        call_command("activate_model", second.pk, reason=" ", stdout=StringIO())
    with pytest.raises(CommandError, match="no model version with id 999"):
        call_command("activate_model", 999, reason="x", stdout=StringIO())
    call_command("activate_model", second.pk, reason="better test Dice", by="boss", stdout=StringIO())
    first.refresh_from_db()
    second.refresh_from_db()
    assert second.is_active and not first.is_active
    trail = [(row.model_version_id, row.active, row.by and row.by.username, row.reason)
             for row in ModelActivation.objects.all()]  # fmt: skip
    assert trail == [
        (first.pk, True, None, "registered as the active model"),
        (first.pk, False, "boss", f"replaced by model {second.pk}: better test Dice"),
        (second.pk, True, "boss", "better test Dice"),
    ]
    call_command("activate_model", second.pk, reason="withdrawn", off=True, stdout=StringIO())
    assert not ModelVersion.objects.filter(is_active=True).exists()


@pytest.mark.django_db
def test_demo_weights_never_replace_weights_an_admin_activated(media_root, tmp_path):
    from ildplatform.models import Job
    from inference import services, unet

    unet.build_unet("table2").save_weights(tmp_path / "m.weights.h5")
    demo = services.model_register(weights=tmp_path / "m.weights.h5", task="merged", threshold=0.5, activate=False,
                                   is_demo=True)  # fmt: skip
    own = services.model_register(weights=tmp_path / "m.weights.h5", task="merged", threshold=0.4)
    services.demo_model_activate(demo)
    demo.refresh_from_db()
    own.refresh_from_db()
    assert own.is_active and not demo.is_active
    assert not Job.objects.filter(kind="inference").exists()
    services.model_set_active(version=own, active=False, reason="withdrawn")
    services.demo_model_activate(demo)
    demo.refresh_from_db()
    assert demo.is_active, "with nothing of an admin's active, the demo's weights go on"
