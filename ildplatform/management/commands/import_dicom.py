import json
from datetime import date
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ildplatform import services
from ildplatform.dicom_import import read_sources
from ildplatform.exceptions import DomainError, ImportRejected


class Command(BaseCommand):
    help = "Import CT series from DICOM files, folders or .zip archives (all-or-nothing, de-identified)."

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", type=Path)
        parser.add_argument("--patient", help="pseudonym to file the series under (one patient only)")
        parser.add_argument("--visit-date", type=date.fromisoformat, help="YYYY-MM-DD, overrides StudyDate")
        parser.add_argument("--allow-modality", action="append", default=[], help="accept this modality too")
        parser.add_argument("--json", action="store_true", help="print the result as JSON")

    def handle(self, *args, **options):
        sources, problems = read_sources(options["paths"], services.archive_limits())
        try:
            if problems:
                raise ImportRejected(problems)
            report = services.series_import(
                sources=sources,
                patient_pseudonym=options["patient"],
                visit_date=options["visit_date"],
                allowed_modalities=tuple(options["allow_modality"]),
            )
        except DomainError as refused:
            if options["json"]:
                self.stdout.write(json.dumps(refused.as_dict(), indent=2))
            raise CommandError(str(refused)) from None
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict(), indent=2))
            return
        for skipped in report.skipped:
            self.stdout.write(f"skipped {skipped}")
        for result in report.series:
            self.stdout.write(
                f"{result.as_dict()['message']}: patient {result.patient}, visit {result.visit_date} "
                f"({result.visit_label}), series {result.series_id}, {result.slices} slices"
            )
