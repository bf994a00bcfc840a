"""SSc-ILD pathology: where reticulation and ground-glass opacity (GGO) appear, how they look and
how they progress from visit to visit (no Django, no global state).

Each slice gets a score per pattern (0..1, high where SSc-ILD starts: subpleural, posterior,
basal); a visit shows a pattern wherever its score is above 1 - severity, and the severity grows
with the visit, so earlier pathology stays and spreads.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage, special

from ildplatform.labels import BACKGROUND, GGO, RETICULATION

from .anatomy import Anatomy
from .chest_slice import SliceGeometry
from .randomness import STREAM_NET, FourierField, rng
from .shapes import MATRIX, inside, smoothstep


@dataclass(frozen=True)
class _Distribution:
    """Where a pattern appears: score = subpleural weight * posterior weight * basal weight * patchiness,
    each weight `floor + gain * x`; the subpleural weight fades to 0 at `depth_mm` from the costal pleura."""

    depth_mm: float
    depth_curve: float
    posterior: tuple[float, float]  # floor, gain
    basal: tuple[float, float]
    basal_power: float  # of t: reticulation concentrates at the base more than GGO
    patchiness: tuple[float, float]


_RETICULATION = _Distribution(
    depth_mm=20.0, depth_curve=0.7, posterior=(0.3, 0.7), basal=(0.25, 0.75), basal_power=1.5, patchiness=(0.4, 0.6)
)
_GGO = _Distribution(
    depth_mm=42.0, depth_curve=0.6, posterior=(0.45, 0.55), basal=(0.35, 0.65), basal_power=1.0, patchiness=(0.3, 0.7)
)
# The mediastinal gap between the lungs counts as inside: mediastinal and cardiac borders are not
# subpleural in the SSc sense (fractions of the cavity half axes).
_GAP_HALF_WIDTH_FRACTION, _GAP_HALF_DEPTH_FRACTION = 0.6, 0.85
_POSTERIOR_SCALE_FRACTION = 0.22

# HU of the patterns, varying with a smooth density field (0..1).
_GGO_HU, _GGO_HU_RANGE = -650.0, 220.0
_LINE_HU, _LINE_HU_RANGE = -220.0, 200.0
_HAZE_HU, _HAZE_WEIGHT = -720.0, 0.7  # hazy background between the reticular lines

# Reticular net: zero crossings of a 2-D random wave field (3.5-6 mm cells), lines ~1-2 px wide,
# gated by a coarser field: real reticulation is interrupted, not a closed honeycomb.
_NET_FIELD = (24, (3.5, 6.0))
_GATE_FIELD = (12, (8.0, 14.0))
_GATE_EDGES = (0.3, 0.45)
_LINE_HALF_WIDTH_PX = 1.2
# Soft pattern edges: full effect this far above the threshold, label at half.
_RETICULATION_EDGE, _GGO_EDGE = 0.05, 0.08


def severity(course: tuple[float, float, float], visit_index: int) -> float:
    # Saturating growth: strictly increasing with the visit, never past the plateau.
    start, plateau, rate = course
    return plateau - (plateau - start) * float(np.exp(-rate * visit_index))


@dataclass(frozen=True, eq=False)
class DiseaseFields:
    """What does not change between visits, on one slice (float32 images)."""

    ret_score: np.ndarray  # 0..1, grows with subpleural, posterior, basal position; 0 outside the lung
    ggo_score: np.ndarray
    ggo_hu: np.ndarray
    net: np.ndarray  # reticular line coverage 0..1
    line_hu: np.ndarray


def _probability(field: FourierField, g: SliceGeometry) -> np.ndarray:
    """The field mapped through the normal CDF: uniform-ish on 0..1."""
    return special.ndtr(field.evaluate(g.xs, g.ys, np.float32(g.z_nominal))).astype(np.float32)


def _costal_depth_mm(g: SliceGeometry, envelope: np.ndarray, pixel_spacing: float) -> np.ndarray:
    gap = inside(
        g.xs,
        g.ys,
        0,
        g.lung_y,
        _GAP_HALF_WIDTH_FRACTION * g.cavity_ax,
        _GAP_HALF_DEPTH_FRACTION * g.cavity_ay * g.lung_extent,
    )
    return ndimage.distance_transform_edt(envelope | gap, sampling=pixel_spacing).astype(np.float32)


def _score(
    pattern: _Distribution, depth_mm: np.ndarray, posterior: np.ndarray, t: float, field: np.ndarray
) -> np.ndarray:
    subpleural = np.clip(1 - depth_mm / np.float32(pattern.depth_mm), 0, 1) ** pattern.depth_curve
    posterior_weight = pattern.posterior[0] + pattern.posterior[1] * posterior
    basal_weight = np.float32(pattern.basal[0] + pattern.basal[1] * t**pattern.basal_power)
    patchiness = pattern.patchiness[0] + pattern.patchiness[1] * field
    return subpleural * posterior_weight * basal_weight * patchiness


def _pattern_scores(
    g: SliceGeometry, anatomy: Anatomy, envelope: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(reticulation score, GGO score, density field) of one slice, before masking to the lung."""
    depth = _costal_depth_mm(g, envelope, anatomy.pixel_spacing)
    posterior_scale = np.float32(_POSTERIOR_SCALE_FRACTION * g.cavity_ay)
    posterior = special.expit((g.ys - g.lung_y) / posterior_scale).astype(np.float32)[:, None]
    ret_score = _score(_RETICULATION, depth, posterior, g.t, _probability(anatomy.ret_field, g))
    ggo_score = _score(_GGO, depth, posterior, g.t, _probability(anatomy.ggo_field, g))
    return ret_score, ggo_score, _probability(anatomy.density_field, g)


def reticular_net(seed: int, patient_index: int, slice_index: int, g: SliceGeometry) -> np.ndarray:
    """Coverage (0..1) of thin reticular lines: where a random wave field is within ~1 px of zero."""
    n_modes, wavelengths = _NET_FIELD
    net_field = FourierField.draw(rng(seed, STREAM_NET, patient_index, slice_index), n_modes, wavelengths, 2)
    wave = net_field.evaluate(g.xs, g.ys, 0.0)
    grad_y, grad_x = np.gradient(wave)
    distance_px = np.abs(wave) / (np.hypot(grad_x, grad_y) + np.float32(1e-6))
    n_modes, wavelengths = _GATE_FIELD
    gate_field = FourierField.draw(rng(seed, STREAM_NET, patient_index, slice_index, 1), n_modes, wavelengths, 2)
    gate = smoothstep(special.ndtr(gate_field.evaluate(g.xs, g.ys, 0.0)), *_GATE_EDGES)
    return np.clip(np.float32(_LINE_HALF_WIDTH_PX) - distance_px, 0, 1) * gate


def disease_fields(
    seed: int,
    patient_index: int,
    slice_index: int,
    g: SliceGeometry,
    anatomy: Anatomy,
    lung: np.ndarray,
    envelope: np.ndarray,
) -> DiseaseFields:
    ret_score, ggo_score, density = _pattern_scores(g, anatomy, envelope)
    net = reticular_net(seed, patient_index, slice_index, g)
    return DiseaseFields(
        ret_score=np.where(lung, ret_score, 0).astype(np.float32),
        ggo_score=np.where(lung, ggo_score, 0).astype(np.float32),
        ggo_hu=(_GGO_HU + _GGO_HU_RANGE * density).astype(np.float32),
        net=net.astype(np.float32),
        line_hu=(_LINE_HU + _LINE_HU_RANGE * density).astype(np.float32),
    )


def pattern_weights(
    fields: DiseaseFields, lung: np.ndarray, anatomy: Anatomy, visit_index: int
) -> tuple[np.ndarray, np.ndarray]:
    """(reticulation, GGO) weights 0..1 at one visit: soft-edged where the score passes the threshold."""
    ret_threshold = 1.0 - severity(anatomy.ret_course, visit_index)
    ggo_threshold = 1.0 - severity(anatomy.ggo_course, visit_index)
    edge_ret, edge_ggo = _RETICULATION_EDGE, _GGO_EDGE
    ret = smoothstep(fields.ret_score, ret_threshold - edge_ret, ret_threshold + edge_ret) * lung
    ggo = smoothstep(fields.ggo_score, ggo_threshold - edge_ggo, ggo_threshold + edge_ggo) * lung
    return ret, ggo


def add_pathology_hu(hu: np.ndarray, fields: DiseaseFields, ret: np.ndarray, ggo: np.ndarray) -> None:
    """Blend GGO, then the reticular haze and lines, into the parenchyma (in place)."""
    hu += ggo * (fields.ggo_hu - hu)
    hu += ret * _HAZE_WEIGHT * (np.float32(_HAZE_HU) - hu)
    hu += ret * fields.net * (fields.line_hu - hu)


def pattern_labels(ret: np.ndarray, ggo: np.ndarray, lung: np.ndarray) -> np.ndarray:
    """The truth label map: a pattern where its weight is at least half, only inside the lung."""
    labels = np.zeros((MATRIX, MATRIX), dtype=np.uint8)
    labels[ggo >= 0.5] = GGO
    labels[ret >= 0.5] = RETICULATION  # reticulation wins where both are present
    labels[~lung] = BACKGROUND
    return labels
