"""Where training slices come from: sources by name (the demo's phantoms here; consensus readings are
registered by the app that holds them), each giving (patient, reference, HU slices, label maps) per
series, turned into the model's inputs and the task's masks (no Django)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np

from ildplatform.labels import GGO, RETICULATION

from . import preprocessing
from .trainer import TrainingSlices

# A source yields, per series: patient, series reference, HU (z, rows, columns), labels (z, rows, columns).
Source = Callable[..., Iterable[tuple[str, str, np.ndarray, np.ndarray]]]
_SOURCES: dict[str, Source] = {}


def training_source_register(name: str, source: Source) -> None:
    _SOURCES[name] = source


def training_source(name: str) -> Source:
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


def training_slices(series: Iterable[tuple[str, str, np.ndarray, np.ndarray]], task: str) -> TrainingSlices:
    """Every slice with abnormality (the paper leaves the others out) as a model input and its mask."""
    images, masks, ggo, patients, references = [], [], [], [], []
    for patient, reference, hu, labels in series:
        rows = np.flatnonzero((labels > 0).any(axis=(1, 2)))
        if rows.size == 0:
            continue
        images.append(preprocessing.preprocess(hu[rows]))
        masks.append(preprocessing.downsample_mask(task_mask(labels[rows], task)))
        ggo.append((labels[rows] == GGO).any(axis=(1, 2)))
        patients.extend([patient] * rows.size)
        references.extend(f"{reference}/{z}" for z in rows)
    if not images:
        raise ValueError("no slice with abnormality to train on")
    return TrainingSlices(
        images=np.concatenate(images), masks=np.concatenate(masks), ggo_positive=np.concatenate(ggo),
        patients=np.array(patients), references=tuple(references),
    )  # fmt: skip


def phantom_source(*, patients: int = 6, slices: int = 12, seed: int = 2026) -> Iterator[tuple]:
    """The demo's phantom truth (synthetic; demo weights only, never for patients): one visit each."""
    from ildplatform.demo import phantoms

    for patient in range(patients):
        series = phantoms.phantom_series(seed, patient, 0, n_slices=slices)
        yield f"phantom-{patient}", f"phantom-{patient}-visit-0", series.hu, series.labels


training_source_register("phantoms", phantom_source)
