"""Seeding a demo site: one user per role, phantom patients with several visits imported through
the ordinary DICOM import, and demo lung function beside them. Idempotent: a second run adds nothing.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import date
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User

from ildplatform import services
from ildplatform.dicom_import import read_sources
from ildplatform.models import Visit

from . import phantoms

# One user per role; the embedded default is bound to 127.0.0.1, so fixed demo passwords are acceptable.
DEMO_USERS = (
    ("admin", "admin"),
    ("reader1", "reader"),
    ("reader2", "reader"),
    ("adjudicator", "adjudicator"),
    ("clinician", "clinician"),
)
DEMO_SEED = 2026

# Demo lung function that worsens with involvement, so the trend page has PFTs beside it:
# % predicted = healthy value - slope * total involvement %.
_FVC_HEALTHY_PCT, _FVC_PER_INVOLVEMENT_PCT = 98.0, 1.1
_DLCO_HEALTHY_PCT, _DLCO_PER_INVOLVEMENT_PCT = 92.0, 1.6


def demo_password(username: str) -> str:
    return f"{username}-demo"


def demo_users_create() -> list[str]:
    """Create the demo users that do not exist yet; return their names."""
    created = []
    for username, role in DEMO_USERS:
        if not User.objects.filter(username=username).exists():
            services.user_create(username=username, role=role, password=demo_password(username))
            created.append(username)
    return created


def demo_phantom_folder(*, patients: int, visits: int, slices: int) -> Path:
    return settings.VAR_DIR / f"demo-phantoms-{patients}x{visits}x{slices}"


def demo_phantom_set_write(*, folder: Path, patients: int, visits: int, slices: int) -> None:
    """Write the demo phantom set aside and rename it, so an interrupted run leaves nothing half-written."""
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.rmtree(folder, ignore_errors=True)
    phantoms.write_phantom_set(partial, patients, visits, DEMO_SEED, slices)
    partial.rename(folder)


def demo_lung_function(total_pct: float) -> tuple[float, float]:
    """(FVC, DLCO) in % predicted for a visit with this total involvement."""
    fvc = round(_FVC_HEALTHY_PCT - _FVC_PER_INVOLVEMENT_PCT * total_pct, 1)
    dlco = round(_DLCO_HEALTHY_PCT - _DLCO_PER_INVOLVEMENT_PCT * total_pct, 1)
    return fvc, dlco


def demo_visit_import(*, folder: Path, patient: dict, visit: dict) -> None:
    """Import one manifest visit (a re-import adds nothing) and give it demo lung function."""
    sources, _ = read_sources([folder / visit["folder"]], services.archive_limits())
    report = services.series_import(
        sources=sources,
        patient_pseudonym=patient["pseudonym"],
        visit_date=date.fromisoformat(visit["date"]),
    )
    fvc, dlco = demo_lung_function(visit["involvement"]["total_pct"])
    Visit.objects.filter(pk=report.series[0].visit_id).update(fvc_pct_pred=fvc, dlco_pct_pred=dlco)


def demo_patients_seed(
    *, patients: int, visits: int, slices: int, before_writing: Callable[[Path], None] | None = None
) -> dict:
    """Write the demo phantom set unless it exists (calling `before_writing` with its folder first, as
    writing takes a while), import every visit and return the set's manifest."""
    folder = demo_phantom_folder(patients=patients, visits=visits, slices=slices)
    if not (folder / phantoms.MANIFEST_NAME).exists():
        if before_writing is not None:
            before_writing(folder)
        demo_phantom_set_write(folder=folder, patients=patients, visits=visits, slices=slices)
    manifest = json.loads((folder / phantoms.MANIFEST_NAME).read_text())
    for patient in manifest["patients"]:
        for visit in patient["visits"]:
            demo_visit_import(folder=folder, patient=patient, visit=visit)
    return manifest
