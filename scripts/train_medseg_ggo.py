"""Train the GGO U-Net on the MedSeg COVID crops with the paper's protocol and print the figures.

    python scripts/train_medseg_ggo.py [MEDSEG_FOLDER] [--folds 5] [--epochs N] [--seed 0] [--out DIR]

TrainingSet slices train and validate (cross-validation), TestingSet slices give the final figures
only: no threshold is tuned on them. The crops carry no patient identity, so each slice is its own
group (slices of one patient may fall into different folds: the validation figures may flatter).
The 8-bit crops are already lung-windowed: the model input is grey / 255, resized to 128 x 128 by the
local mean as production inputs are. There is no reticulation model on this data to start GGO from,
so the GGO model is trained from scratch. Prints the per-fold validation Dice, Jaccard, F1 and
recall, their mean and fold-wise SD, each fold's threshold, and the test figures of the chosen fold.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from skimage.transform import resize_local_mean

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from ildplatform.labels import GGO  # noqa: E402
from inference import preprocessing, trainer, training, unet  # noqa: E402

DEFAULT_FOLDER = REPO_ROOT.parent / "shared" / "data" / "medseg-covid"
PARTS = {"train": "TrainingSet/MultiClassInfection-Train", "test": "TestingSet/MultiClassInfection-Test"}


def medseg_slices(folder: Path) -> trainer.TrainingSlices:
    """Every crop with abnormality; the GGO mask of each (MedSeg: 1 GGO, 2 consolidation)."""
    images, masks, ggo, groups = [], [], [], []
    for part, path in PARTS.items():
        for image in sorted((folder / path / "Imgs").glob("*.jpg"), key=lambda p: int(p.stem)):
            labels = np.asarray(Image.open(image.parent.parent / "GT" / f"{image.stem}.png"))
            if not labels.any():
                continue
            grey = np.asarray(Image.open(image).convert("L"), dtype=np.float32) / 255.0
            images.append(resize_local_mean(grey, (128, 128))[..., None].astype(np.float32))
            masks.append(preprocessing.downsample_mask(labels == GGO)[0])
            ggo.append(bool((labels == GGO).any()))
            groups.append(f"{part}/{image.stem}")
    return trainer.TrainingSlices(
        # No lung region comes with the crops (they are cut around the lungs): the whole crop stands for it.
        images=np.stack(images), masks=np.stack(masks), lungs=np.ones((len(masks), 128, 128), bool),
        ggo_positive=np.array(ggo), patients=np.array(groups),
        references=tuple(groups),
    )  # fmt: skip


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_FOLDER)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="keep the fold weights and a JSON report here")
    options = parser.parse_args(argv[1:])
    if not (options.folder / PARTS["train"]).is_dir():
        print(f"SKIPPED: no MedSeg data at {options.folder}")
        return 0
    slices = medseg_slices(options.folder)
    test = [group for group in slices.patients if group.startswith("test/")]
    split = training.patient_split(list(slices.patients), options.folds, seed=options.seed, test_patients=test)
    settings = trainer.TrainingSettings(max_epochs=options.epochs, seed=options.seed, lung_masked=False)
    workdir = options.out or Path(tempfile.mkdtemp(prefix="medseg-ggo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"{len(slices.patients) - len(test)} training/validation slices, {len(test)} test slices; {workdir}")
    started = time.perf_counter()

    def progress(fold: int, epoch: int, logs: dict) -> None:
        print(f"fold {fold + 1} epoch {epoch:3d}: loss {logs.get('loss', float('nan')):.4f}"
              f" val_loss {logs.get('val_loss', float('nan')):.4f}", flush=True)  # fmt: skip

    run = trainer.cross_validate(slices, split, settings, workdir, lambda: unet.build_unet("table2"), on_epoch=progress)
    seconds = time.perf_counter() - started
    for fold in run.folds:
        figures = ", ".join(f"{name} {value:.3f}" for name, value in fold["validation_metrics"].items())
        print(f"fold {fold['fold'] + 1}: threshold {fold['threshold']:.2f}, best epoch {fold['best_epoch']}"
              f" of {fold['epochs_run']}; validation {figures}")  # fmt: skip
    spread = ", ".join(f"{name} {value['mean']:.3f} ± {value['sd']:.3f}" for name, value in run.over_folds.items())
    print(f"over folds (mean ± SD): {spread}")
    test_figures = ", ".join(f"{name} {value:.3f}" for name, value in run.test_metrics.items())
    print(f"test ({len(test)} slices, fold {run.chosen_fold + 1}'s model at {run.threshold:.2f}): {test_figures}")
    print(f"{seconds:.0f} s in all, {seconds / sum(f['epochs_run'] for f in run.folds):.1f} s per epoch")
    report = {"settings": settings.as_dict(), "folds": run.folds, "over_folds": run.over_folds,
              "chosen_fold": run.chosen_fold, "threshold": run.threshold, "test_metrics": run.test_metrics}  # fmt: skip
    (workdir / "report.json").write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
