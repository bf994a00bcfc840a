import json

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Parameter counts of a U-Net variant, before and after the GGO transfer freeze."

    def add_arguments(self, parser):
        parser.add_argument("--variant", default="table2", choices=("table2", "text"))
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **options):
        from inference import unet

        counts = unet.summary_counts(options["variant"])
        if options["json"]:
            self.stdout.write(json.dumps(counts))
        else:
            for name, value in counts.items():
                self.stdout.write(f"{name:<24} {value:>12,}")
