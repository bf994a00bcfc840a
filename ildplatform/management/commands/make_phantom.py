from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ildplatform.demo import phantoms


class Command(BaseCommand):
    help = (
        "Write synthetic SSc-ILD chest CT phantoms: one DICOM series per patient visit with truth.npz "
        "(lung mask, reticulation/GGO labels) beside it, and phantoms.json with the true involvement."
    )

    def add_arguments(self, parser):
        parser.add_argument("out_dir", type=Path, help="new or empty folder to write into")
        parser.add_argument("--patients", type=int, default=3)
        parser.add_argument("--visits", type=int, default=3, help="baseline plus follow-ups per patient")
        parser.add_argument("--seed", type=int, default=0, help="same seed, same bytes")
        parser.add_argument("--slices", type=int, default=24, help="slices per series")
        parser.add_argument("--slice-spacing", type=float, default=5.0, help="mm between slices")

    def handle(self, *args, **options):
        try:
            manifest = phantoms.write_phantom_set(
                options["out_dir"],
                patients=options["patients"],
                visits=options["visits"],
                seed=options["seed"],
                slices=options["slices"],
                slice_spacing=options["slice_spacing"],
            )
        except (FileExistsError, ValueError) as refused:
            raise CommandError(str(refused)) from None
        for patient in manifest["patients"]:
            for visit in patient["visits"]:
                figures = visit["involvement"]
                self.stdout.write(
                    f"{visit['folder']}: {patient['pseudonym']} {visit['label']} {visit['date']}, "
                    f"{visit['slice_count']} slices, reticulation {figures['reticulation_pct']:.1f} %, "
                    f"GGO {figures['ggo_pct']:.1f} %, total {figures['total_pct']:.1f} %"
                )
        self.stdout.write(f"wrote {Path(options['out_dir']) / phantoms.MANIFEST_NAME}")
