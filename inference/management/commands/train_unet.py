import json

from django.core.management.base import BaseCommand, CommandError

from ildplatform.exceptions import DomainError
from inference import services, trainer


class Command(BaseCommand):
    help = (
        "Train a U-Net with the paper's protocol (patient-grouped folds, hold-out test patients, threshold "
        "search) here, without a worker, and register it as an inactive model version. The same run as a "
        "job on the gpu queue: POST /api/v1/models/training/ or the models page."
    )

    def add_arguments(self, parser):
        parser.add_argument("--task", required=True, choices=("reticulation", "ggo", "merged"))
        parser.add_argument("--source", default="phantoms", help="where the training slices come from")
        parser.add_argument("--variant", default="table2", choices=("table2", "text"))
        parser.add_argument("--folds", type=int, default=5)
        parser.add_argument("--epochs", type=int, default=trainer.TrainingSettings.max_epochs)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--test-patients", nargs="*", default=None)
        parser.add_argument(
            "--no-transfer",
            action="store_true",
            help="ggo: train from scratch instead of from the active reticulation model",
        )
        parser.add_argument(
            "--set", action="append", default=[], metavar="NAME=VALUE", dest="overrides",
            help="any other hyperparameter, e.g. --set learning_rate=0.001 --set augmentation.copies=2",
        )  # fmt: skip
        parser.add_argument("--json", action="store_true", help="print the model version's figures as JSON")

    def handle(self, *args, **options):
        overrides = {}
        for setting in options["overrides"]:
            name, equals, value = setting.partition("=")
            if not equals or not name.strip():
                raise CommandError(f"--set takes NAME=VALUE, got {setting!r}")
            overrides[name.strip()] = value.strip()
        request = services.TrainingRequest(
            task=options["task"], source=options["source"], variant=options["variant"], folds=options["folds"],
            epochs=options["epochs"], seed=options["seed"], test_patients=options["test_patients"],
            transfer=not options["no_transfer"], settings=overrides,
        )  # fmt: skip

        def progress(fold: int, epoch: int, logs: dict) -> None:
            self.stderr.write(f"fold {fold + 1} epoch {epoch}: val_loss {logs.get('val_loss', float('nan')):.4f}")

        try:
            version = services.training_execute(
                request=request, on_epoch=progress, trained_by=f"train_unet --source {options['source']}"
            )
        except DomainError as error:
            raise CommandError(error.message) from None
        metrics, run = version.metrics, version.training_run
        figures = {
            "model_version_id": version.pk, "task": version.task, "threshold": version.threshold,
            "fold_thresholds": version.fold_thresholds, "over_folds": metrics["over_folds"], "test": metrics["test"],
            "involvement": metrics["involvement"], "trainable_parameters": run["trainable_parameters"],
            "transfer_from": run["transfer_from"], "active": version.is_active,
        }  # fmt: skip
        if options["json"]:
            self.stdout.write(json.dumps(figures))
        else:
            self.stdout.write(
                f"registered {version} (inactive); {run['trainable_parameters']:,} trainable parameters; "
                f"over folds {metrics['over_folds']}; test {metrics['test']}"
            )
