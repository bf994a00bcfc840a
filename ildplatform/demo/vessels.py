"""Pulmonary vessels and intrapulmonary bronchi: a branching 3-D tree per lung, drawn into each
slice as anti-aliased disks where the tree crosses the slab.

Tree coordinates are mm relative to the body centre, z along the nominal lung height (0 apex).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .anatomy import (
    HILUM_LATERAL_MM,
    HILUM_T,
    HILUM_Y_FRACTION,
    LUNG_CENTRE_X_FRACTION,
    Anatomy,
    lung_centre_y,
    lung_extent,
    mediastinum_half_width,
)
from .randomness import STREAM_VESSELS, rng
from .shapes import MATRIX, NOMINAL_LUNG_HEIGHT_MM

# Vessel radius (mm) per generation, and the fraction of the way from the hilum to the branch's
# goal reached at the end of each generation.
_RADII_MM = (4.2, 3.0, 2.1, 1.5, 1.1, 0.8)
_REACH = (0.22, 0.42, 0.60, 0.76, 0.89, 1.0)
_BRONCHIAL_GENERATIONS = 2  # the first generations carry a bronchus beside the artery
_BRANCHES_PER_HILUM = 16
_CHILDREN = 2
# Spread of a child's goal around its parent's: fractions of cavity width, depth and lung height,
# narrowing by 10 % per generation.
_GOAL_SPREAD = (0.10, 0.10, 0.06)
_SPREAD_NARROWING = 0.1
_GOAL_T = (0.03, 0.98)  # goals are spread over nearly the whole lung height
# Goals lie in an ellipse around each lung's centre (fractions of the cavity half axes).
_GOAL_HALF_WIDTH_FRACTION, _GOAL_HALF_DEPTH_FRACTION = 0.40, 0.82
_SAMPLE_STEP_RADII = 0.45  # centre-line points every 0.45 radii: disks overlap into a tube

_RADIUS_STEP_MM = 0.2  # disk kernels are cached per 0.2 mm of radius
# Vessels and airways stop 2.5 mm short of the pleura: one crossing a narrow part of the lung
# would cut it in two, which real lungs never show and which breaks region-based lung masking.
_PLEURA_CLEARANCE_MM = 2.5
# A bronchus runs beside its artery: lumen 0.7 of the artery radius, wall 0.25 of the lumen
# (at least 0.9 mm), centres 1.75 radii + 1 mm apart.
_BRONCHUS_OFFSET_RADII, _BRONCHUS_OFFSET_MM = 1.75, 1.0
_LUMEN_OF_ARTERY, _WALL_OF_LUMEN, _MIN_WALL_MM = 0.7, 0.25, 0.9


@dataclass(frozen=True)
class Tubes:
    """Points sampled along tube centre lines: x, y, z (mm rel. to body centre, nominal z), radius."""

    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    radius: np.ndarray
    # In-plane unit normal of the centre line, used to place a bronchus beside its artery.
    nx: np.ndarray
    ny: np.ndarray


@dataclass
class _Tree:
    """The tree while it grows: its random stream, the goal jitter and the segments so far."""

    draw: np.random.Generator
    spread: np.ndarray
    vessels: list[np.ndarray]
    bronchi: list[np.ndarray]


def _branch_goal(draw: np.random.Generator, side: int, cavity_ax: float, cavity_ay: float) -> np.ndarray:
    """A random point in one lung that a first-generation branch heads for."""
    t = draw.uniform(*_GOAL_T)
    f = lung_extent(t)
    while True:
        u, v = draw.uniform(-1, 1, size=2)
        if u * u + v * v <= 1:
            break
    return np.array(
        [
            side * (LUNG_CENTRE_X_FRACTION * cavity_ax + u * _GOAL_HALF_WIDTH_FRACTION * cavity_ax * f),
            lung_centre_y(cavity_ay, f) + v * _GOAL_HALF_DEPTH_FRACTION * cavity_ay * f,
            t * NOMINAL_LUNG_HEIGHT_MM,
        ]
    )


def _segment(start: np.ndarray, end: np.ndarray, radius: float) -> np.ndarray:
    """Centre-line points of one straight vessel segment: rows of x, y, z, radius, nx, ny."""
    n = max(2, int(np.linalg.norm(end - start) / (_SAMPLE_STEP_RADII * radius)) + 1)
    points = start + (end - start) * np.linspace(0.0, 1.0, n)[:, None]
    normal = np.array([start[1] - end[1], end[0] - start[0]])
    length = float(np.hypot(*normal))
    normal = normal / length if length > 1e-6 else np.array([1.0, 0.0])
    return np.column_stack([points, np.full(n, radius), np.full(n, normal[0]), np.full(n, normal[1])])


def _grow(tree: _Tree, start: np.ndarray, hilum: np.ndarray, goal: np.ndarray, generation: int) -> None:
    """One segment towards the goal, then (depth first) its children towards jittered goals."""
    end = hilum + (goal - hilum) * _REACH[generation]
    block = _segment(start, end, _RADII_MM[generation])
    tree.vessels.append(block)
    if generation < _BRONCHIAL_GENERATIONS:
        tree.bronchi.append(block)
    if generation + 1 < len(_RADII_MM):
        for _ in range(_CHILDREN):
            jitter = tree.draw.normal(scale=tree.spread * (1.0 - _SPREAD_NARROWING * generation))
            _grow(tree, end, hilum, goal + jitter, generation + 1)


def _pack(blocks: list[np.ndarray]) -> Tubes:
    data = np.concatenate(blocks).astype(np.float32)
    return Tubes(*(np.ascontiguousarray(data[:, i]) for i in range(6)))


def vessel_tree(seed: int, patient_index: int, anatomy: Anatomy) -> tuple[Tubes, Tubes]:
    """(vessels, bronchi): branching pulmonary arteries from each hilum; the first two generations
    carry a bronchus."""
    cavity_ax, cavity_ay = anatomy.cavity_ax, anatomy.cavity_ay
    spread = np.array(
        [
            _GOAL_SPREAD[0] * cavity_ax,
            _GOAL_SPREAD[1] * cavity_ay,
            _GOAL_SPREAD[2] * NOMINAL_LUNG_HEIGHT_MM,
        ]
    )
    tree = _Tree(rng(seed, STREAM_VESSELS, patient_index), spread, [], [])
    hilum_x = mediastinum_half_width(HILUM_T) + HILUM_LATERAL_MM
    for side in (-1, 1):
        hilum = np.array([side * hilum_x, HILUM_Y_FRACTION * cavity_ay, HILUM_T * NOMINAL_LUNG_HEIGHT_MM])
        for _ in range(_BRANCHES_PER_HILUM):
            _grow(tree, hilum, hilum, _branch_goal(tree.draw, side, cavity_ax, cavity_ay), 0)
    return _pack(tree.vessels), _pack(tree.bronchi)


@functools.lru_cache(maxsize=1024)
def _disk_kernel(pixel_spacing: float, radius_step: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixel offsets and anti-aliased coverage of a disk of radius `radius_step` * 0.2 mm."""
    r_px = radius_step * _RADIUS_STEP_MM / pixel_spacing
    reach = int(np.ceil(r_px + 1))
    dy, dx = np.mgrid[-reach : reach + 1, -reach : reach + 1]
    coverage = np.clip(r_px + 0.5 - np.hypot(dx, dy), 0, 1).astype(np.float32)
    keep = coverage > 0
    return dy[keep], dx[keep], coverage[keep]


def _stamp(rows: np.ndarray, cols: np.ndarray, radius_mm: np.ndarray, pixel_spacing: float) -> np.ndarray:
    """Coverage image (0..1) of disks at (rows, cols) with the given radii, max-combined."""
    coverage = np.zeros(MATRIX * MATRIX, dtype=np.float32)
    steps = np.maximum(np.rint(radius_mm / _RADIUS_STEP_MM).astype(np.int64), 1)
    for step in np.unique(steps):
        chosen = steps == step
        dy, dx, weight = _disk_kernel(pixel_spacing, int(step))
        r = rows[chosen][:, None] + dy[None, :]
        c = cols[chosen][:, None] + dx[None, :]
        ok = (r >= 0) & (r < MATRIX) & (c >= 0) & (c < MATRIX)
        np.maximum.at(coverage, (r * MATRIX + c)[ok], np.broadcast_to(weight, r.shape)[ok])
    return coverage.reshape(MATRIX, MATRIX)


def _tube_section(tubes: Tubes, z: float, thickness: float) -> tuple[np.ndarray, np.ndarray]:
    """Which tube points cut a slab of `thickness` at height z, and their in-slab radius."""
    dz = np.abs(tubes.z - z) - 0.5 * thickness
    hit = dz < tubes.radius
    # A tube ending just outside the slab shows a smaller cross-section (partial volume).
    radius = np.where(dz[hit] > 0, np.sqrt(np.maximum(tubes.radius[hit] ** 2 - dz[hit] ** 2, 0)), tubes.radius[hit])
    return hit, radius


@dataclass(frozen=True, eq=False)
class VesselCut:
    """Coverage (0..1, float32) of one slice by lung vessels, bronchial walls and bronchial lumen."""

    vessel: np.ndarray
    bronchus_wall: np.ndarray
    bronchus_lumen: np.ndarray


def vessels_in_slice(
    anatomy: Anatomy, vessels: Tubes, bronchi: Tubes, lung: np.ndarray, z_nominal: float, slice_thickness: float
) -> VesselCut:
    """What of the 3-D tree lies in this slab; only what lies inside the lung is lung vessel."""
    ps = anatomy.pixel_spacing
    to_row = (MATRIX - 1) / 2 + anatomy.body_y / ps
    to_col = (MATRIX - 1) / 2 + anatomy.body_x / ps
    interior = ndimage.distance_transform_edt(lung, sampling=ps) > _PLEURA_CLEARANCE_MM

    hit, radius = _tube_section(vessels, z_nominal, slice_thickness)
    rows = np.rint(vessels.y[hit] / ps + to_row).astype(np.int64)
    cols = np.rint(vessels.x[hit] / ps + to_col).astype(np.int64)
    vessel = _stamp(rows, cols, radius, ps) * interior

    hit, radius = _tube_section(bronchi, z_nominal, slice_thickness)
    offset = bronchi.radius[hit] * _BRONCHUS_OFFSET_RADII + _BRONCHUS_OFFSET_MM
    rows = np.rint((bronchi.y[hit] + offset * bronchi.ny[hit]) / ps + to_row).astype(np.int64)
    cols = np.rint((bronchi.x[hit] + offset * bronchi.nx[hit]) / ps + to_col).astype(np.int64)
    lumen_radius = _LUMEN_OF_ARTERY * radius
    wall_radius = lumen_radius + np.maximum(_MIN_WALL_MM, _WALL_OF_LUMEN * lumen_radius)
    return VesselCut(
        vessel=vessel.astype(np.float32),
        bronchus_wall=(_stamp(rows, cols, wall_radius, ps) * interior).astype(np.float32),
        bronchus_lumen=(_stamp(rows, cols, lumen_radius, ps) * interior).astype(np.float32),
    )
