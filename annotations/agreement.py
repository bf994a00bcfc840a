"""Agreement between two readers' label maps (no Django here): per slice and per series."""

from __future__ import annotations

import numpy as np

from ildplatform.labels import (
    AGREE_GGO,
    AGREE_RETICULATION,
    DIFFERENT_PATTERN,
    GGO,
    ONLY_READER_1,
    ONLY_READER_2,
    RETICULATION,
)
from inference.statistics import cohen_kappa, dice, jaccard


def agreement_figures(reader_1: np.ndarray, reader_2: np.ndarray, lung_region: np.ndarray) -> dict[str, float]:
    """Dice and Jaccard per class and combined (any abnormality), and Cohen's kappa inside the lung.

    Works on one slice or a whole series alike (the arrays only need the same shape).
    """
    figures = {}
    for name, first, second in (
        ("reticulation", reader_1 == RETICULATION, reader_2 == RETICULATION),
        ("ggo", reader_1 == GGO, reader_2 == GGO),
        ("combined", reader_1 > 0, reader_2 > 0),
    ):
        figures[f"dice_{name}"] = dice(first, second)
        figures[f"jaccard_{name}"] = jaccard(first, second)
    figures["kappa_lung"] = cohen_kappa(reader_1, reader_2, within=lung_region)
    return figures


def disagreement_map(reader_1: np.ndarray, reader_2: np.ndarray) -> np.ndarray:
    """What the readers said at each pixel: only reader 1 marked it (1), only reader 2 (2), both with
    different patterns (3), both reticulation (4), both GGO (5); 0 where neither did."""
    first, second = reader_1 > 0, reader_2 > 0
    result = np.zeros(reader_1.shape, dtype=np.uint8)
    result[first & ~second] = ONLY_READER_1
    result[second & ~first] = ONLY_READER_2
    result[first & second & (reader_1 != reader_2)] = DIFFERENT_PATTERN
    result[(reader_1 == RETICULATION) & (reader_2 == RETICULATION)] = AGREE_RETICULATION
    result[(reader_1 == GGO) & (reader_2 == GGO)] = AGREE_GGO
    return result


def differing_pixels(reader_1: np.ndarray, reader_2: np.ndarray) -> int:
    """Pixels whose labels differ (pattern or presence): what slices are ranked by."""
    return int(np.count_nonzero(reader_1 != reader_2))


def consensus_labels(decision: str, reader_1: np.ndarray, reader_2: np.ndarray) -> np.ndarray:
    """The consensus of one slice from a decision other than `edited`.

    Union and intersection work on the abnormal area; where the readers named different patterns,
    reader 1's pattern is kept for union and intersection alike (the adjudicator edits when that is wrong).
    """
    if decision == "reader_1":
        return reader_1.copy()
    if decision == "reader_2":
        return reader_2.copy()
    if decision == "union":
        return np.where(reader_1 > 0, reader_1, reader_2).astype(np.uint8)
    if decision == "intersection":
        return np.where((reader_1 > 0) & (reader_2 > 0), reader_1, 0).astype(np.uint8)
    raise ValueError(f"no automatic consensus for decision {decision!r}")
