"""One axial slice of the chest without pathology, vessels or noise: couch, chest wall, ribs,
spine, sternum, lungs, mediastinal organs, diaphragm and central airways.

The drawing functions paint Hounsfield units into a float32 image in a fixed order (later paint
wins) and carve the soft-tissue organs out of the lung mask. Lengths are mm from the body centre;
`*_FRACTION` constants are fractions of the pleural cavity's half axes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from .anatomy import (
    LUNG_CENTRE_X_FRACTION,
    Anatomy,
    lung_centre_y,
    lung_extent,
    mediastinum_half_width,
    nominal_height_mm,
)
from .shapes import MATRIX, bump, inside, inside_rotated, pixel_centres_mm

AIR_HU = -1000.0
SOFT_TISSUE_HU = 40.0  # skin, heart, great vessels, airway walls
_COUCH_HU = 120.0  # carbon-fibre couch top, full width
_FAT_HU = -100.0
_MUSCLE_HU = 45.0
_MEDIASTINAL_FAT_HU = -80.0  # also the extrapleural fat
_RIB_HU = 850.0
_CARTILAGE_HU = 160.0
_VERTEBRA_CORTEX_HU = 1150.0  # cortical rim > 1000 HU
_VERTEBRA_CANCELLOUS_HU = 260.0
_NEURAL_ARCH_HU = 900.0
_SPINAL_CANAL_HU = 15.0
_STERNUM_CORTEX_HU = 1050.0
_STERNUM_MARROW_HU = 300.0
_LIVER_HU = 60.0
_SPLEEN_HU = 48.0
# Parenchyma: denser in the dependent (posterior) lung, with a faint texture.
_PARENCHYMA_HU = -865.0
_DEPENDENT_GAIN_HU = 45.0
_TEXTURE_HU = 8.0
_DEPENDENT_SCALE_FRACTION = 0.25

_COUCH_THICKNESS_MM = 7.0
_BODY_SHAPE_POWER = 2.2  # between an ellipse and a rounded rectangle
_LUNG_SHAPE_POWER = 2.8
_SKIN_MM = 2.5
_PLEURA_INSET_MM = 2.0  # lungs stay inside the cavity by this much
_LUNG_HALF_WIDTH_FRACTION = 0.56
_LUNG_HALF_DEPTH_FRACTION = 1.05

# Ribs: bone bands sloping down anteriorly and laterally, one per pitch, 42 % of it bone; costal
# cartilage instead of bone in front (anterior of 0.55 of the body depth, central third of the width).
_RIB_THICKNESS_MM = 8.0
_RIB_SLOPE_AP = 0.45
_RIB_SLOPE_LATERAL = 0.12
_RIB_PITCH_MM = 24.0
_RIB_BONE_FRACTION = 0.42
_CARTILAGE_Y_OF_BODY = -0.55
_CARTILAGE_X_OF_BODY = 0.33

# Spine: vertebral body centre 49 mm in front of the back skin; neural arch, canal and spinous
# process behind it (offsets posterior of the vertebral body centre). Half axes are (x, y) in mm.
_VERTEBRA_DEPTH_MM = 49.0
_VERTEBRA_HALF_AXES = (15.0, 14.0)
_CANCELLOUS_HALF_AXES = (12.5, 11.5)
_NEURAL_ARCH_OFFSET_MM = 21.0
_NEURAL_ARCH_HALF_AXES = (11.0, 11.0)
_NEURAL_ARCH_FROM_MM = 16.0  # only the posterior part of that circle is bone
_CANAL_HALF_AXES = (7.0, 6.5)
_SPINOUS_OFFSET_MM = 36.0
_SPINOUS_HALF_AXES = (3.5, 10.0)
_PARAVERTEBRAL_HALF_AXES = (19.0, 18.0)  # soft tissue the lung leaves around the vertebra
_STERNUM_T = (0.12, 0.88)
_STERNUM_BEHIND_RIBS_MM = 4.0
_STERNUM_HALF_AXES = (13.0, 5.0)
_STERNUM_MARROW_HALF_AXES = (10.5, 2.8)

# Mediastinal organs; the lung gives way to them by a margin, so no lung pixel touches them.
_ORGAN_MARGIN_MM = 3.0
_HILAR_MARGIN_MM = 2.0
_HEART_T = (0.33, 0.55, 0.8, 1.05)  # trapezoid: grows in, full, (past the base)
_HEART_HALF_AXES_FRACTION = (0.33, 0.43)
_HEART_CENTRE_FRACTION = (0.16, -0.28)  # left of the midline, anterior
_HEART_AXIS_DEG = 28.0
_HEART_APEX_SCALE = 0.6  # the heart grows in from its top
_HEART_GAIN = 0.4
_ASCENDING_AORTA_T = (0.18, 0.52)
_ASCENDING_AORTA_X_MM = -10.0
_ASCENDING_AORTA_Y_FRACTION = -0.30
_AORTA_RADIUS_MM = 14.0
_AORTIC_ARCH_T = (0.12, 0.2)
_AORTIC_ARCH_X_MM = 5.0
_AORTIC_ARCH_Y_FRACTION = -0.05
_AORTIC_ARCH_HALF_WIDTH_MM = 13.0
_AORTIC_ARCH_HALF_LENGTH_FRACTION = 0.42
_AORTIC_ARCH_AXIS_DEG = -25.0  # running backwards to the left
_DESCENDING_AORTA_FROM_T = 0.12
_DESCENDING_AORTA_X_MM = 21.0
_DESCENDING_AORTA_AHEAD_OF_SPINE_MM = 6.0
_DESCENDING_AORTA_RADIUS_MM = 12.0
_PULMONARY_T = (0.34, 0.52)
_PULMONARY_TRUNK_X_MM = 16.0
_PULMONARY_TRUNK_Y_FRACTION = -0.26
_PULMONARY_TRUNK_RADIUS_MM = 13.0
_HILAR_ARTERY_LATERAL_MM = 2.0  # beyond the mediastinal border
_HILAR_ARTERY_Y_FRACTION = -0.02
_HILAR_ARTERY_HALF_AXES = (9.0, 8.0)

# Diaphragm domes (liver right, spleen left) rise from t = 0.78 to the base.
_DOME_FROM_T = 0.78
_DOME_RISE_T = 0.22
_DOME_MAX = 0.65
_DOME_CURVE = 0.8
_DOME_HALF_AXES_FRACTION = (0.62, 1.15)
_DOME_LATERAL_MM = 6.0
_DOME_CENTRE_AHEAD_FRACTION = 0.55 * 0.92  # anterior of the lung centre

# Central airways: trachea above the carina, main bronchi below it down to t = 0.47.
_CARINA_T = 0.36
_MAIN_BRONCHI_END_T = 0.47
_TRACHEA_Y_FRACTION = -0.08
_TRACHEA_OUTER = (11.0, 10.0)
_TRACHEA_LUMEN = (9.0, 8.0)
_MAIN_BRONCHUS_X_MM = 13.0
_MAIN_BRONCHUS_Y_FRACTION = -0.04
_MAIN_BRONCHUS_OUTER = (7.5, 7.0)
_MAIN_BRONCHUS_LUMEN = (5.5, 5.0)


@dataclass(frozen=True, eq=False)
class SliceGeometry:
    """Where things are on one slice: coordinate vectors and sizes in mm at height t."""

    t: float
    z_nominal: float  # mm from the apex towards the base along the nominal lung height
    xs: np.ndarray  # float32 mm per column, relative to the body centre
    ys: np.ndarray  # float32 mm per row
    body_ax: float
    body_ay: float
    cavity_ax: float
    cavity_ay: float
    vertebra_y: float
    lung_extent: float
    mediastinum_half_width: float
    lung_y: float


def slice_geometry(anatomy: Anatomy, t: float) -> SliceGeometry:
    centres = pixel_centres_mm(anatomy.pixel_spacing)
    body_ay = anatomy.body_ay * anatomy.depth_scale(t)
    cavity_ay = anatomy.cavity_ay * anatomy.depth_scale(t)
    extent = lung_extent(t)
    return SliceGeometry(
        t=t,
        z_nominal=nominal_height_mm(t),
        xs=centres - np.float32(anatomy.body_x),
        ys=centres - np.float32(anatomy.body_y),
        body_ax=anatomy.body_ax * anatomy.width_scale(t),
        body_ay=body_ay,
        cavity_ax=anatomy.cavity_ax * anatomy.width_scale(t),
        cavity_ay=cavity_ay,
        vertebra_y=body_ay - _VERTEBRA_DEPTH_MM,
        lung_extent=extent,
        mediastinum_half_width=mediastinum_half_width(t),
        lung_y=lung_centre_y(cavity_ay, extent),
    )


@dataclass(frozen=True, eq=False)
class ChestSlice:
    tissue: np.ndarray  # float32 HU; inside the lung the healthy parenchyma
    lung: np.ndarray  # bool, both lungs
    envelope: np.ndarray  # bool, the lungs before the mediastinum and its organs were cut out


def _body_ellipse(g: SliceGeometry, inset_mm: float) -> np.ndarray:
    return inside(g.xs, g.ys, 0, 0, g.body_ax - inset_mm, g.body_ay - inset_mm, _BODY_SHAPE_POWER)


def draw_couch_and_chest_wall(hu: np.ndarray, g: SliceGeometry, anatomy: Anatomy) -> None:
    couch_y = anatomy.table_y - anatomy.body_y
    hu[(g.ys >= couch_y) & (g.ys <= couch_y + _COUCH_THICKNESS_MM), :] = _COUCH_HU
    hu[_body_ellipse(g, 0)] = SOFT_TISSUE_HU  # skin
    hu[_body_ellipse(g, _SKIN_MM)] = _FAT_HU
    hu[_body_ellipse(g, anatomy.fat_mm)] = _MUSCLE_HU


def draw_ribs(hu: np.ndarray, g: SliceGeometry, anatomy: Anatomy) -> None:
    """A ring of bone cut by oblique bands (ribs slope down anteriorly), cartilage near the sternum."""
    rib_out = anatomy.rib_depth_mm
    ring = _body_ellipse(g, rib_out) & ~_body_ellipse(g, rib_out + _RIB_THICKNESS_MM)
    rib_coord = (
        g.z_nominal + _RIB_SLOPE_AP * g.ys[:, None] + _RIB_SLOPE_LATERAL * np.abs(g.xs)[None, :]
    ) / _RIB_PITCH_MM + anatomy.rib_phase
    rib = ring & ((rib_coord - np.floor(rib_coord)) < _RIB_BONE_FRACTION)
    cartilage = (g.ys[:, None] < _CARTILAGE_Y_OF_BODY * g.body_ay) & (
        np.abs(g.xs)[None, :] < _CARTILAGE_X_OF_BODY * g.body_ax
    )
    hu[rib & ~cartilage] = _RIB_HU
    hu[rib & cartilage] = _CARTILAGE_HU


def draw_spine_and_sternum(hu: np.ndarray, g: SliceGeometry, anatomy: Anatomy) -> None:
    """Vertebral body (cancellous, cortical rim > 1000 HU), arch, spinous process, canal; sternum."""
    xs, ys, vb_y = g.xs, g.ys, g.vertebra_y
    hu[inside(xs, ys, 0, vb_y, *_VERTEBRA_HALF_AXES)] = _VERTEBRA_CORTEX_HU
    hu[inside(xs, ys, 0, vb_y, *_CANCELLOUS_HALF_AXES)] = _VERTEBRA_CANCELLOUS_HU
    arch_y = vb_y + _NEURAL_ARCH_OFFSET_MM
    behind_body = ys[:, None] > vb_y + _NEURAL_ARCH_FROM_MM
    hu[inside(xs, ys, 0, arch_y, *_NEURAL_ARCH_HALF_AXES) & behind_body] = _NEURAL_ARCH_HU
    hu[inside(xs, ys, 0, vb_y + _SPINOUS_OFFSET_MM, *_SPINOUS_HALF_AXES)] = _NEURAL_ARCH_HU
    hu[inside(xs, ys, 0, arch_y, *_CANAL_HALF_AXES)] = _SPINAL_CANAL_HU
    if _STERNUM_T[0] < g.t < _STERNUM_T[1]:
        sternum_y = -g.body_ay + anatomy.rib_depth_mm + _STERNUM_BEHIND_RIBS_MM
        hu[inside(xs, ys, 0, sternum_y, *_STERNUM_HALF_AXES)] = _STERNUM_CORTEX_HU
        hu[inside(xs, ys, 0, sternum_y, *_STERNUM_MARROW_HALF_AXES)] = _STERNUM_MARROW_HU


def lung_outlines(g: SliceGeometry, anatomy: Anatomy) -> tuple[np.ndarray, np.ndarray]:
    """(lung, envelope): a super-ellipse per side inside the cavity; the lung stops at the mediastinum."""
    xs, ys = g.xs, g.ys
    pleural_cavity = inside(
        xs, ys, 0, 0, g.cavity_ax - _PLEURA_INSET_MM, g.cavity_ay - _PLEURA_INSET_MM, _BODY_SHAPE_POWER
    )
    envelope = np.zeros((MATRIX, MATRIX), dtype=bool)
    lungs = []
    for side, scale in zip((-1, 1), anatomy.lung_scale, strict=True):
        shape = inside(
            xs,
            ys,
            side * LUNG_CENTRE_X_FRACTION * g.cavity_ax,
            g.lung_y,
            _LUNG_HALF_WIDTH_FRACTION * g.cavity_ax * g.lung_extent * scale,
            _LUNG_HALF_DEPTH_FRACTION * g.cavity_ay * g.lung_extent,
            _LUNG_SHAPE_POWER,
        )
        shape &= pleural_cavity
        envelope |= shape
        shape &= (side * xs)[None, :] > g.mediastinum_half_width
        lungs.append(shape)
    return lungs[0] | lungs[1], envelope


def carve_heart(g: SliceGeometry, lung: np.ndarray, organ: np.ndarray) -> None:
    """The heart, its long axis turned 28 degrees, growing in from its top towards the base."""
    size = bump(g.t, *_HEART_T)
    if size <= 0:
        return
    growth = _HEART_APEX_SCALE + _HEART_GAIN * size
    half_x = _HEART_HALF_AXES_FRACTION[0] * g.cavity_ax * growth
    half_y = _HEART_HALF_AXES_FRACTION[1] * g.cavity_ay * growth
    cx, cy = _HEART_CENTRE_FRACTION[0] * g.cavity_ax, _HEART_CENTRE_FRACTION[1] * g.cavity_ay
    organ |= inside_rotated(g.xs, g.ys, cx, cy, half_x, half_y, _HEART_AXIS_DEG)
    margin = _ORGAN_MARGIN_MM
    lung &= ~inside_rotated(g.xs, g.ys, cx, cy, half_x + margin, half_y + margin, _HEART_AXIS_DEG)


def carve_aorta(g: SliceGeometry, lung: np.ndarray, organ: np.ndarray) -> None:
    """Ascending aorta, the arch running backwards to the left, descending aorta beside the spine."""
    xs, ys, t, margin = g.xs, g.ys, g.t, _ORGAN_MARGIN_MM
    if _ASCENDING_AORTA_T[0] < t < _ASCENDING_AORTA_T[1]:
        cy = _ASCENDING_AORTA_Y_FRACTION * g.cavity_ay
        organ |= inside(xs, ys, _ASCENDING_AORTA_X_MM, cy, _AORTA_RADIUS_MM, _AORTA_RADIUS_MM)
    if _AORTIC_ARCH_T[0] <= t <= _AORTIC_ARCH_T[1]:
        cy = _AORTIC_ARCH_Y_FRACTION * g.cavity_ay
        half_width, half_length = _AORTIC_ARCH_HALF_WIDTH_MM, _AORTIC_ARCH_HALF_LENGTH_FRACTION * g.cavity_ay
        organ |= inside_rotated(xs, ys, _AORTIC_ARCH_X_MM, cy, half_width, half_length, _AORTIC_ARCH_AXIS_DEG)
        lung &= ~inside_rotated(
            xs, ys, _AORTIC_ARCH_X_MM, cy, half_width + margin, half_length + margin, _AORTIC_ARCH_AXIS_DEG
        )
    if t >= _DESCENDING_AORTA_FROM_T:
        cy, radius = g.vertebra_y - _DESCENDING_AORTA_AHEAD_OF_SPINE_MM, _DESCENDING_AORTA_RADIUS_MM
        organ |= inside(xs, ys, _DESCENDING_AORTA_X_MM, cy, radius, radius)
        lung &= ~inside(xs, ys, _DESCENDING_AORTA_X_MM, cy, radius + margin, radius + margin)


def carve_pulmonary_arteries(g: SliceGeometry, lung: np.ndarray, organ: np.ndarray) -> None:
    """Pulmonary trunk and the hilar arteries beside the mediastinum."""
    if not _PULMONARY_T[0] < g.t < _PULMONARY_T[1]:
        return
    xs, ys = g.xs, g.ys
    trunk_y, radius = _PULMONARY_TRUNK_Y_FRACTION * g.cavity_ay, _PULMONARY_TRUNK_RADIUS_MM
    organ |= inside(xs, ys, _PULMONARY_TRUNK_X_MM, trunk_y, radius, radius)
    half_x, half_y = _HILAR_ARTERY_HALF_AXES
    hilar_y = _HILAR_ARTERY_Y_FRACTION * g.cavity_ay
    for side in (-1, 1):
        cx = side * (g.mediastinum_half_width + _HILAR_ARTERY_LATERAL_MM)
        organ |= inside(xs, ys, cx, hilar_y, half_x, half_y)
        lung &= ~inside(xs, ys, cx, hilar_y, half_x + _HILAR_MARGIN_MM, half_y + _HILAR_MARGIN_MM)


def draw_diaphragm(hu: np.ndarray, lung: np.ndarray, g: SliceGeometry, cavity: np.ndarray) -> None:
    """Diaphragm domes (liver right, spleen left), anchored at the antero-medial lung corner so the
    lung becomes a posterolateral crescent, never a ring around soft tissue."""
    dome = _DOME_MAX * max(0.0, (g.t - _DOME_FROM_T) / _DOME_RISE_T) ** _DOME_CURVE
    if dome <= 0:
        return
    f = g.lung_extent
    centre_y = g.lung_y - _DOME_CENTRE_AHEAD_FRACTION * g.cavity_ay * f
    for side, dome_hu in ((-1, _LIVER_HU), (1, _SPLEEN_HU)):
        half_x = dome * _DOME_HALF_AXES_FRACTION[0] * g.cavity_ax
        half_y = dome * _DOME_HALF_AXES_FRACTION[1] * g.cavity_ay * f
        cx = side * (g.mediastinum_half_width + _DOME_LATERAL_MM)
        hu[inside(g.xs, g.ys, cx, centre_y, half_x, half_y) & cavity] = dome_hu
        margin = _ORGAN_MARGIN_MM
        lung &= ~inside(g.xs, g.ys, cx, centre_y, half_x + margin, half_y + margin)


def draw_central_airways(hu: np.ndarray, g: SliceGeometry) -> None:
    """Trachea above the carina, main bronchi below it: a soft-tissue wall around air."""
    if g.t < _CARINA_T:
        cy = _TRACHEA_Y_FRACTION * g.cavity_ay
        hu[inside(g.xs, g.ys, 0, cy, *_TRACHEA_OUTER)] = SOFT_TISSUE_HU
        hu[inside(g.xs, g.ys, 0, cy, *_TRACHEA_LUMEN)] = AIR_HU
    elif g.t < _MAIN_BRONCHI_END_T:
        cy = _MAIN_BRONCHUS_Y_FRACTION * g.cavity_ay
        for side in (-1, 1):
            hu[inside(g.xs, g.ys, side * _MAIN_BRONCHUS_X_MM, cy, *_MAIN_BRONCHUS_OUTER)] = SOFT_TISSUE_HU
            hu[inside(g.xs, g.ys, side * _MAIN_BRONCHUS_X_MM, cy, *_MAIN_BRONCHUS_LUMEN)] = AIR_HU


def fill_parenchyma(hu: np.ndarray, lung: np.ndarray, g: SliceGeometry, anatomy: Anatomy) -> np.ndarray:
    """Lung HU: denser in the dependent (posterior) lung, with a faint texture."""
    dependent_scale = np.float32(_DEPENDENT_SCALE_FRACTION * g.cavity_ay)
    dependent = special.expit((g.ys - g.lung_y) / dependent_scale).astype(np.float32)
    texture = anatomy.texture_field.evaluate(g.xs, g.ys, np.float32(g.z_nominal))
    parenchyma = _PARENCHYMA_HU + _DEPENDENT_GAIN_HU * dependent[:, None] + _TEXTURE_HU * texture
    return np.where(lung, parenchyma, hu).astype(np.float32)


def chest_slice(anatomy: Anatomy, g: SliceGeometry) -> ChestSlice:
    """Tissue HU and lung mask of one slice; later paint wins, so the order below matters."""
    hu = np.full((MATRIX, MATRIX), AIR_HU, dtype=np.float32)
    draw_couch_and_chest_wall(hu, g, anatomy)
    draw_ribs(hu, g, anatomy)
    cavity = inside(g.xs, g.ys, 0, 0, g.cavity_ax, g.cavity_ay, _BODY_SHAPE_POWER)
    hu[cavity] = _MEDIASTINAL_FAT_HU
    draw_spine_and_sternum(hu, g, anatomy)

    lung, envelope = lung_outlines(g, anatomy)
    organ = np.zeros((MATRIX, MATRIX), dtype=bool)  # soft-tissue organs, excluded from the lung
    carve_heart(g, lung, organ)
    carve_aorta(g, lung, organ)
    carve_pulmonary_arteries(g, lung, organ)
    lung &= ~inside(g.xs, g.ys, 0, g.vertebra_y, *_PARAVERTEBRAL_HALF_AXES)  # soft tissue around the vertebra
    draw_diaphragm(hu, lung, g, cavity)
    hu[organ & cavity & ~lung] = SOFT_TISSUE_HU
    draw_central_airways(hu, g)
    return ChestSlice(tissue=fill_parenchyma(hu, lung, g, anatomy), lung=lung, envelope=envelope)
