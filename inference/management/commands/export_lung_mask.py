from pathlib import Path

import numpy as np
from django.core.management.base import BaseCommand, CommandError

from ildplatform.exceptions import DomainError
from ildplatform.selectors import series_get
from inference import lungs, services


class Command(BaseCommand):
    help = (
        "Write a series' lung region as a boolean .npy (slices in stored z order, rows, columns), "
        "computing it here first when it is not stored (no worker needed)."
    )

    def add_arguments(self, parser):
        parser.add_argument("series_id", type=int)
        parser.add_argument("out", type=Path)
        parser.add_argument("--method", choices=lungs.LUNG_METHODS, help="default: the series' stored method")

    def handle(self, *args, **options):
        try:
            series = series_get(series_id=options["series_id"])
        except DomainError as error:
            raise CommandError(error.message) from None
        lung = services.series_lung_volume_for_export(series=series, method=options["method"])
        np.save(options["out"], lung.astype(bool))
        self.stdout.write(f"wrote {options['out']}: {lung.shape}, {int(lung.sum())} lung voxels")
