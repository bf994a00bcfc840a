"""`manage.py train_unet` on the demo's phantom truth: a cross-validated run registered, inactive."""

from __future__ import annotations

import json
from io import StringIO

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
        call_command("train_unet", task="ggo", folds=9, stdout=StringIO())
    assert not ModelVersion.objects.exists()
