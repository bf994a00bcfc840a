"""Agreement statistics: between two sources over patients, and between two masks per slice.

Per-patient figures (paper Tables 6-7, Figure 8): `mean_absolute_error`, `bland_altman`.
Per-slice pixel-level segmentation metrics (paper Tables 3-5): `dice`, `jaccard`, `recall`,
`precision`, `f1`, and `cohen_kappa` for multi-class label maps inside a region.

Empty masks: a slice on which neither source marks anything is perfect agreement, so every overlap
metric is 1.0 when both masks are empty. More generally, when a metric's denominator is zero it is
1.0 if both masks are empty and 0.0 otherwise (recall with an empty truth but a non-empty prediction
is 0.0, as scikit-learn's default; precision with an empty prediction but a non-empty truth is 0.0).
This keeps per-slice averages defined on normal slices and makes a hallucination on a normal slice
count as a failure.
"""

from __future__ import annotations

import numpy as np


def _paired(a: np.ndarray | list[float], b: np.ndarray | list[float]) -> tuple[np.ndarray, np.ndarray]:
    first = np.asarray(a, dtype=float).ravel()
    second = np.asarray(b, dtype=float).ravel()
    if first.shape != second.shape:
        raise ValueError(f"paired values must have the same length, got {first.size} and {second.size}")
    if first.size == 0:
        raise ValueError("no paired values")
    return first, second


def mean_absolute_error(a: np.ndarray | list[float], b: np.ndarray | list[float]) -> float:
    """mean(|a - b|) over patients (same unit as the inputs, e.g. involvement percentage points)."""
    first, second = _paired(a, b)
    return float(np.mean(np.abs(first - second)))


def bland_altman(a: np.ndarray | list[float], b: np.ndarray | list[float]) -> tuple[float, float, float]:
    """(bias, lower, upper): bias = mean(a - b), 95 % limits of agreement = bias -/+ 1.96 SD (ddof=1)."""
    first, second = _paired(a, b)
    if first.size < 2:
        raise ValueError("limits of agreement need at least two pairs")
    differences = first - second
    bias = float(np.mean(differences))
    spread = 1.96 * float(np.std(differences, ddof=1))
    return bias, bias - spread, bias + spread


def _masks(truth: np.ndarray, prediction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    truth = np.asarray(truth, dtype=bool)
    prediction = np.asarray(prediction, dtype=bool)
    if truth.shape != prediction.shape:
        raise ValueError(f"masks must have the same shape, got {truth.shape} and {prediction.shape}")
    return truth, prediction


def _ratio(numerator: int, denominator: int, both_empty: bool) -> float:
    if denominator == 0:
        return 1.0 if both_empty else 0.0
    return numerator / denominator


def dice(truth: np.ndarray, prediction: np.ndarray) -> float:
    """2 |A n B| / (|A| + |B|); 1.0 when both are empty."""
    truth, prediction = _masks(truth, prediction)
    overlap = int(np.count_nonzero(truth & prediction))
    sizes = int(np.count_nonzero(truth)) + int(np.count_nonzero(prediction))
    return _ratio(2 * overlap, sizes, sizes == 0)


def jaccard(truth: np.ndarray, prediction: np.ndarray) -> float:
    """|A n B| / |A u B|; 1.0 when both are empty."""
    truth, prediction = _masks(truth, prediction)
    overlap = int(np.count_nonzero(truth & prediction))
    union = int(np.count_nonzero(truth | prediction))
    return _ratio(overlap, union, union == 0)


def recall(truth: np.ndarray, prediction: np.ndarray) -> float:
    """TP / (TP + FN), the share of the truth found; 1.0 when both empty, 0.0 if only truth is empty."""
    truth, prediction = _masks(truth, prediction)
    true_positive = int(np.count_nonzero(truth & prediction))
    positives = int(np.count_nonzero(truth))
    return _ratio(true_positive, positives, not prediction.any())


def precision(truth: np.ndarray, prediction: np.ndarray) -> float:
    """TP / (TP + FP); 1.0 when both empty, 0.0 if only the prediction is empty."""
    truth, prediction = _masks(truth, prediction)
    true_positive = int(np.count_nonzero(truth & prediction))
    predicted = int(np.count_nonzero(prediction))
    return _ratio(true_positive, predicted, not truth.any())


def f1(truth: np.ndarray, prediction: np.ndarray) -> float:
    """Harmonic mean of precision and recall at pixel level.

    For one pair of binary masks this equals `dice` (2TP / (2TP + FP + FN)); it is kept as its own
    name because the paper reports both, which only differ when averaged differently (e.g. F1 over
    pooled pixels vs Dice per slice). 1.0 when both are empty.
    """
    truth, prediction = _masks(truth, prediction)
    p, r = precision(truth, prediction), recall(truth, prediction)
    if p + r == 0:
        return 0.0
    return 2 * p * r / (p + r)


def cohen_kappa(labels_a: np.ndarray, labels_b: np.ndarray, within: np.ndarray | None = None) -> float:
    """Pixel-level Cohen's kappa between two label maps (any integer classes) over the pixels `within`.

    within: bool mask of the pixels that count (normally the lung region), None for all pixels.
    kappa = (p_o - p_e) / (1 - p_e). When p_e = 1 both sources used one and the same class on every
    pixel, so agreement is perfect and kappa is 1.0; an empty `within` is vacuous agreement, also 1.0.
    """
    labels_a = np.asarray(labels_a)
    labels_b = np.asarray(labels_b)
    if labels_a.shape != labels_b.shape:
        raise ValueError(f"label maps must have the same shape, got {labels_a.shape} and {labels_b.shape}")
    if within is not None:
        within = np.asarray(within, dtype=bool)
        if within.shape != labels_a.shape:
            raise ValueError(f"within {within.shape} must match the label maps {labels_a.shape}")
        labels_a, labels_b = labels_a[within], labels_b[within]
    first = labels_a.astype(np.int64).ravel()
    second = labels_b.astype(np.int64).ravel()
    if first.size == 0:
        return 1.0
    if min(first.min(), second.min()) < 0:
        raise ValueError("labels must be non-negative integers")
    n_classes = int(max(first.max(), second.max())) + 1
    confusion = np.bincount(first * n_classes + second, minlength=n_classes * n_classes).reshape(n_classes, n_classes)
    total = confusion.sum()
    observed = np.trace(confusion) / total
    expected = float(confusion.sum(axis=1) @ confusion.sum(axis=0)) / (total * total)
    if expected >= 1.0:
        return 1.0
    return float((observed - expected) / (1.0 - expected))


def minimal_detectable_change(a: np.ndarray | list[float], b: np.ndarray | list[float]) -> dict[str, float]:
    """Reader noise from paired readings of the same series (a: reader 1, b: reader 2): with d = a - b,
    SEM = SD(d)/sqrt(2) and MDC95 = 1.96 * sqrt(2) * SEM (= 1.96 SD(d), ddof=1): a change between two
    visits larger than MDC95 is beyond what two readers would disagree by, 95 % of the time. Its 95 %
    confidence interval follows SD(d)'s (chi-square with n-1 degrees of freedom)."""
    from scipy.stats import chi2

    first, second = _paired(a, b)
    if first.size < 2:
        raise ValueError("reader noise needs at least two series read twice")
    differences = first - second
    n = int(differences.size)
    sd = float(np.std(differences, ddof=1))
    sem = sd / np.sqrt(2)
    mdc95 = 1.96 * np.sqrt(2) * sem
    low, high = (np.sqrt((n - 1) / chi2.ppf(q, n - 1)) for q in (0.975, 0.025))
    return {"n": n, "sd": sd, "sem": float(sem), "mdc95": float(mdc95),
            "mdc95_ci_low": float(mdc95 * low), "mdc95_ci_high": float(mdc95 * high)}  # fmt: skip


def median_ratio_with_bootstrap_ci(
    numerator: np.ndarray | list[float], denominator: np.ndarray | list[float], *, resamples: int = 5000, seed: int = 0
) -> dict[str, float]:
    """median(numerator) / median(denominator) of two independent groups, with a percentile bootstrap 95 %
    confidence interval (each group resampled with replacement on its own, seeded)."""
    top, bottom = (np.asarray(values, dtype=float).ravel() for values in (numerator, denominator))
    if top.size < 2 or bottom.size < 2:
        raise ValueError("a ratio of medians needs at least two values in each group")
    if np.median(bottom) <= 0:
        raise ValueError("the denominator group's median must be positive")
    rng = np.random.default_rng(seed)
    top_medians = np.median(rng.choice(top, (resamples, top.size)), axis=1)
    bottom_medians = np.median(rng.choice(bottom, (resamples, bottom.size)), axis=1)
    ratios = top_medians / np.where(bottom_medians > 0, bottom_medians, np.nan)
    low, high = np.nanpercentile(ratios, [2.5, 97.5])
    return {"ratio": float(np.median(top) / np.median(bottom)), "ci_low": float(low), "ci_high": float(high),
            "n_numerator": int(top.size), "n_denominator": int(bottom.size)}  # fmt: skip
