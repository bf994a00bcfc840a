import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from ildplatform.models import Job, Patient, Series


def test_make_phantom_writes_dicom_truth_and_manifest(tmp_path):
    out = tmp_path / "ph"
    call_command("make_phantom", str(out), "--patients", "1", "--visits", "2", "--seed", "3", "--slices", "4",
                 stdout=io.StringIO())  # fmt: skip
    manifest = json.loads((out / "phantoms.json").read_text())
    visits = manifest["patients"][0]["visits"]
    assert len(visits) == 2 and visits[0]["involvement"]["total_pct"] < visits[1]["involvement"]["total_pct"]
    assert len(list((out / visits[0]["folder"]).glob("*.dcm"))) == 4
    with pytest.raises(CommandError):
        call_command("make_phantom", str(out), "--patients", "1", "--visits", "1", "--seed", "3", stdout=io.StringIO())


@pytest.mark.django_db
def test_seed_demo_creates_users_and_patients_once(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    for _ in range(2):
        out = io.StringIO()
        call_command("seed_demo", "--patients", "3", "--visits", "3", "--slices", "4", stdout=out)
    assert "reader1-demo" in out.getvalue()
    assert Patient.objects.count() == 3 and Series.objects.count() == 9
    assert all(p.visits.count() == 3 and p.visits.first().fvc_pct_pred for p in Patient.objects.all())
    assert Job.objects.filter(kind="lung_masks").count() == 9  # one per series, not per run
    assert set(Series.objects.values_list("kernel", flat=True)) == {"STANDARD"}
