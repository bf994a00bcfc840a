"""Where training slices come from: sources by name (the demo's phantoms here; consensus readings are
registered by the app that holds them), each giving (patient, reference, HU slices, label maps) per
series, turned into the model's inputs and the task's masks (no Django)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from ildplatform.labels import GGO, RETICULATION

from . import preprocessing
from .trainer import TrainingSlices

# A source yields, per series: patient, series reference, HU (z, rows, columns), labels (z, rows, columns)
# and the lung region (z, rows, columns; bool) that inference would use on that series.
SourceSeries = tuple[str, str, np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class TrainingSource:
    name: str
    series: Callable[..., Iterable[SourceSeries]]
    lung_method: str  # where its lung regions come from, recorded with each model trained on it
    synthetic: bool = False  # what is trained on it is demo weights, never for patients

    def __call__(self, **options) -> Iterable[SourceSeries]:
        return self.series(**options)


_SOURCES: dict[str, TrainingSource] = {}


def training_source_register(
    name: str, series: Callable[..., Iterable[SourceSeries]], *, lung_method: str, synthetic: bool = False
) -> None:
    _SOURCES[name] = TrainingSource(name=name, series=series, lung_method=lung_method, synthetic=synthetic)


def training_source(name: str) -> TrainingSource:
    if name not in _SOURCES:
        raise ValueError(f"unknown training source {name!r}; choose one of {', '.join(sorted(_SOURCES))}")
    return _SOURCES[name]


def task_mask(labels: np.ndarray, task: str) -> np.ndarray:
    """The pattern a task's model learns: reticulation, GGO, or either (merged)."""
    if task == "reticulation":
        return labels == RETICULATION
    if task == "ggo":
        return labels == GGO
    if task == "merged":
        return labels > 0
    raise ValueError(f"unknown task {task!r}")


def training_slices(series: Iterable[SourceSeries], task: str, *, lung_masked: bool = True) -> TrainingSlices:
    """Every slice with abnormality (the paper leaves the others out) as a model input (lung-masked as
    inference masks it, unless `lung_masked` is off), its mask and its lung region."""
    images, masks, lungs, ggo, patients, references = [], [], [], [], [], []
    for patient, reference, hu, labels, lung in series:
        rows = np.flatnonzero((labels > 0).any(axis=(1, 2)))
        if rows.size == 0:
            continue
        images.append(preprocessing.preprocess(hu[rows], lung=lung[rows] if lung_masked else None))
        masks.append(preprocessing.downsample_mask(task_mask(labels[rows], task)))
        lungs.append(preprocessing.downsample_mask(lung[rows]))
        ggo.append((labels[rows] == GGO).any(axis=(1, 2)))
        patients.extend([patient] * rows.size)
        references.extend(f"{reference}/{z}" for z in rows)
    if not images:
        raise ValueError("no slice with abnormality to train on")
    return TrainingSlices(
        images=np.concatenate(images), masks=np.concatenate(masks), lungs=np.concatenate(lungs),
        ggo_positive=np.concatenate(ggo),
        patients=np.array(patients), references=tuple(references),
    )  # fmt: skip


def phantom_source(*, patients: int = 6, slices: int = 12, seed: int = 4242) -> Iterator[tuple]:
    """The demo's phantom truth (synthetic; demo weights only, never for patients): one visit each, with
    the phantom's true lung as its region. Not the demo patients' seed: the demo's model is shown on
    patients it never trained on."""
    from ildplatform.demo import phantoms

    for patient in range(patients):
        series = phantoms.phantom_series(seed, patient, 0, n_slices=slices)
        yield f"phantom-{patient}", f"phantom-{patient}-visit-0", series.hu, series.labels, series.lung


training_source_register("phantoms", phantom_source, lung_method="phantom truth (the synthetic lung)", synthetic=True)
