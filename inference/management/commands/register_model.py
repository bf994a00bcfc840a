from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ildplatform.exceptions import DomainError
from inference import services


class Command(BaseCommand):
    help = "Register U-Net weights (.weights.h5) for a task and make them the active model of that task."

    def add_arguments(self, parser):
        parser.add_argument("weights", type=Path)
        parser.add_argument("--task", required=True, choices=("reticulation", "ggo", "merged"))
        parser.add_argument("--threshold", type=float, required=True)
        parser.add_argument("--variant", default="table2", choices=("table2", "text"))
        parser.add_argument("--trained-by", default="")
        parser.add_argument("--inactive", action="store_true", help="register without activating")

    def handle(self, *args, **options):
        if not options["weights"].is_file():
            raise CommandError(f"{options['weights']}: no such file")
        try:
            version = services.model_register(
                weights=options["weights"], task=options["task"], threshold=options["threshold"],
                variant=options["variant"], trained_by=options["trained_by"], activate=not options["inactive"],
            )  # fmt: skip
        except DomainError as error:
            raise CommandError(error.message) from None
        self.stdout.write(f"registered {version} as {'active' if version.is_active else 'inactive'}")
