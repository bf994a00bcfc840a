import json
import tempfile
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ildplatform.exceptions import DomainError
from inference import services, trainer, training, training_data, unet


class Command(BaseCommand):
    help = (
        "Train a U-Net with the paper's protocol (patient-grouped folds, hold-out test patients, threshold "
        "search) and register it as an inactive model version."
    )

    def add_arguments(self, parser):
        parser.add_argument("--task", required=True, choices=("reticulation", "ggo", "merged"))
        parser.add_argument("--source", default="phantoms", help="where the training slices come from")
        parser.add_argument("--variant", default="table2", choices=("table2", "text"))
        parser.add_argument("--folds", type=int, default=5)
        parser.add_argument("--epochs", type=int, default=trainer.TrainingSettings.max_epochs)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--test-patients", nargs="*", default=None)
        parser.add_argument("--json", action="store_true", help="print the model version's figures as JSON")

    def handle(self, *args, **options):
        try:
            slices = training_data.training_slices(training_data.training_source(options["source"])(), options["task"])
            split = training.patient_split(
                sorted(set(slices.patients)), options["folds"], seed=options["seed"],
                test_patients=options["test_patients"],
            )  # fmt: skip
        except ValueError as error:
            raise CommandError(str(error)) from None
        settings = trainer.TrainingSettings(max_epochs=options["epochs"], seed=options["seed"])
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="train-unet-") as workdir:
            run = trainer.cross_validate(
                slices, split, settings, Path(workdir), lambda: unet.build_unet(options["variant"]),
                on_epoch=lambda fold, epoch, logs: self.stderr.write(
                    f"fold {fold + 1} epoch {epoch}: val_loss {logs.get('val_loss', float('nan')):.4f}"
                ),
            )  # fmt: skip
            try:
                version = services.model_register_cross_validation(
                    run=run, task=options["task"], settings=settings, duration_s=time.perf_counter() - started,
                    variant=options["variant"],
                    lung_method="none: the inputs are not lung-masked, as in inference",
                    trained_by=f"train_unet --source {options['source']}",
                )  # fmt: skip
            except DomainError as error:
                raise CommandError(error.message) from None
        figures = {
            "model_version_id": version.pk, "task": version.task, "threshold": version.threshold,
            "fold_thresholds": version.fold_thresholds, "over_folds": run.over_folds, "test": run.test_metrics,
            "active": version.is_active,
        }  # fmt: skip
        if options["json"]:
            self.stdout.write(json.dumps(figures))
        else:
            self.stdout.write(f"registered {version} (inactive); over folds {run.over_folds}; test {run.test_metrics}")
