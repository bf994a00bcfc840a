import json
import shutil
from datetime import date

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand

from ildplatform import phantoms, services
from ildplatform.dicom_import import read_sources
from ildplatform.models import Visit

# One user per role; the embedded default is bound to 127.0.0.1, so fixed demo passwords are acceptable.
DEMO_USERS = (
    ("admin", "admin"),
    ("reader1", "reader"),
    ("reader2", "reader"),
    ("adjudicator", "adjudicator"),
    ("clinician", "clinician"),
)
DEMO_SEED = 2026


def demo_password(username: str) -> str:
    return f"{username}-demo"


class Command(BaseCommand):
    help = "Create demo users (one per role) and demo phantom patients with several visits (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--patients", type=int, default=3)
        parser.add_argument("--visits", type=int, default=3)
        parser.add_argument("--slices", type=int, default=24)

    def handle(self, *args, **options):
        for username, role in DEMO_USERS:
            if not User.objects.filter(username=username).exists():
                services.user_create(username=username, role=role, password=demo_password(username))
        folder = settings.VAR_DIR / f"demo-phantoms-{options['patients']}x{options['visits']}x{options['slices']}"
        if not (folder / phantoms.MANIFEST_NAME).exists():
            self.stdout.write(f"writing demo phantoms to {folder} ...")
            # Written aside and renamed, so an interrupted run leaves nothing half-written behind.
            partial = folder.with_name(folder.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            shutil.rmtree(folder, ignore_errors=True)
            phantoms.write_phantom_set(partial, options["patients"], options["visits"], DEMO_SEED, options["slices"])
            partial.rename(folder)
        manifest = json.loads((folder / phantoms.MANIFEST_NAME).read_text())
        for patient in manifest["patients"]:
            for visit in patient["visits"]:
                sources, _ = read_sources([folder / visit["folder"]], services.archive_limits())
                report = services.series_import(
                    sources=sources,
                    patient_pseudonym=patient["pseudonym"],
                    visit_date=date.fromisoformat(visit["date"]),
                )
                # Demo lung function that worsens with involvement, so the trend page has PFTs beside it.
                total = visit["involvement"]["total_pct"]
                Visit.objects.filter(pk=report.series[0].visit_id).update(
                    fvc_pct_pred=round(98.0 - 1.1 * total, 1), dlco_pct_pred=round(92.0 - 1.6 * total, 1)
                )
        self.stdout.write(
            f"demo patients: {len(manifest['patients'])} x {options['visits']} visits ({options['slices']} slices each)"
        )
        self.stdout.write("demo users (user / password / role):")
        for username, role in DEMO_USERS:
            self.stdout.write(f"  {username:<12} {demo_password(username):<18} {role}")
