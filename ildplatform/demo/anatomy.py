"""The phantom patient's body: per-patient sizes and disease course, and how the chest changes
along the lung height (no Django, no global state).

Heights are a fraction t of the nominal lung height, 0 at the apex and 1 at the base. Lengths are
in mm relative to the body centre: x towards patient left (image right), y posterior (image down).
Fractions of the pleural cavity's half axes are named `*_FRACTION`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .randomness import STREAM_FIELDS, FourierField, rng
from .shapes import MATRIX, NOMINAL_LUNG_HEIGHT_MM, bump

# Body outline: a fraction of the half field of view, leaving air on every side and room for the
# couch; the body centre sits a little anterior of the image centre.
_BODY_HALF_WIDTH_OF_HALF_FOV = (0.84, 0.90)
_BODY_DEPTH_OF_WIDTH = (0.74, 0.80)
_BODY_CENTRE_Y_OF_HALF_FOV = -0.09
_BODY_CENTRE_JITTER_MM = (3.0, 6.0)  # y, x
_SUBCUTANEOUS_FAT_MM = (5, 12)
_CHEST_WALL_MUSCLE_MM = (5, 8)
# Ribs (8 mm) and the intercostal layer lie between the muscle and the pleural cavity.
_RIBS_TO_CAVITY_MM = 10.0
_COUCH_GAP_MM = (4, 9)  # air between the patient's back and the couch top
_NOISE_SD_HU = (11, 17)
_BASE_Z_MM = (-260, -140)  # ImagePositionPatient z of the lowest slice
# Right lung (image left) slightly bigger than the left, which makes room for the heart.
_RIGHT_LUNG_SCALE = (0.97, 1.03)
_LEFT_LUNG_SCALE = (0.92, 0.98)
# Disease course (severity at baseline, plateau, rate per visit) of reticulation and GGO.
_RETICULATION_COURSE = ((0.48, 0.58), (0.74, 0.80), (0.25, 0.45))
_GGO_COURSE = ((0.48, 0.58), (0.76, 0.84), (0.25, 0.45))
# Random fields: (plane waves, wavelength range in mm).
_RETICULATION_FIELD = (14, (35, 80))
_GGO_FIELD = (14, (22, 55))
_DENSITY_FIELD = (10, (20, 50))
_TEXTURE_FIELD = (10, (8, 20))

# The chest is a little smaller towards the apex: scale = apex value + gain * t.
_APEX_WIDTH_SCALE, _WIDTH_GAIN = 0.96, 0.04
_APEX_DEPTH_SCALE, _DEPTH_GAIN = 0.97, 0.03

# Lung cross-section along the height: 0.6 of full size at the apex, widest at t = 0.62, 10 %
# smaller again at the domed base.
_WIDEST_LUNG_T = 0.62
_APEX_LUNG_SCALE, _APEX_LUNG_GAIN, _APEX_LUNG_CURVE = 0.6, 0.4, 0.8
_BASE_LUNG_SHRINK, _BELOW_WIDEST_T = 0.1, 0.38
# Lung centre: 5 % of the cavity depth behind its centre, further back where the lung is small.
LUNG_CENTRE_Y_FRACTION = 0.05
LUNG_SHIFT_BACK_FRACTION = 0.3
LUNG_CENTRE_X_FRACTION = 0.56

# Mediastinum: at least 15 mm per side, so the two lungs stay >= 30 mm apart and a 7 mm
# morphological closing cannot bridge them; 8 mm wider at the hilum (carina, main bronchi,
# pulmonary arteries).
_MEDIASTINUM_HALF_WIDTH_MM = 15.0
_HILUM_WIDENING_MM = 8.0
_HILUM_SPAN_T = (0.25, 0.38, 0.52, 0.65)
HILUM_T = 0.45  # height of the hila, where the vessel tree starts
HILUM_LATERAL_MM = 4.0  # hilum centre beyond the mediastinal border
HILUM_Y_FRACTION = -0.02


@dataclass(frozen=True)
class Anatomy:
    """Per-patient body and lung geometry (mm, relative to the image centre) and disease course."""

    pixel_spacing: float
    body_x: float
    body_y: float
    body_ax: float
    body_ay: float
    fat_mm: float
    muscle_mm: float
    lung_scale: tuple[float, float]  # patient right (image left), patient left (image right)
    table_y: float
    noise_sd: float
    z_base: float  # ImagePositionPatient z of the first (lowest) slice
    rib_phase: float
    ret_course: tuple[float, float, float]  # severity at baseline, plateau, rate per visit
    ggo_course: tuple[float, float, float]
    ret_field: FourierField
    ggo_field: FourierField
    density_field: FourierField
    texture_field: FourierField

    @property
    def rib_depth_mm(self) -> float:
        """Skin to the outer surface of the ribs."""
        return self.fat_mm + self.muscle_mm

    @property
    def cavity_ax(self) -> float:
        return self.body_ax - self.fat_mm - self.muscle_mm - _RIBS_TO_CAVITY_MM

    @property
    def cavity_ay(self) -> float:
        return self.body_ay - self.fat_mm - self.muscle_mm - _RIBS_TO_CAVITY_MM

    def width_scale(self, t: float) -> float:
        return _APEX_WIDTH_SCALE + _WIDTH_GAIN * t

    def depth_scale(self, t: float) -> float:
        return _APEX_DEPTH_SCALE + _DEPTH_GAIN * t


def _uniform(draw: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(draw.uniform(*bounds))


def _course(draw: np.random.Generator, bounds: tuple[tuple[float, float], ...]) -> tuple[float, float, float]:
    start, plateau, rate = (_uniform(draw, b) for b in bounds)
    return start, plateau, rate


def anatomy_draw(seed: int, patient_index: int, pixel_spacing: float) -> Anatomy:
    """One patient's anatomy; the draws happen in a fixed order, so the same seed gives the same body."""
    draw = rng(seed, STREAM_FIELDS, patient_index)
    half_fov = MATRIX // 2 * pixel_spacing
    y_jitter, x_jitter = _BODY_CENTRE_JITTER_MM
    body_ax = draw.uniform(*_BODY_HALF_WIDTH_OF_HALF_FOV) * half_fov
    body_ay = draw.uniform(*_BODY_DEPTH_OF_WIDTH) * body_ax
    body_y = _BODY_CENTRE_Y_OF_HALF_FOV * half_fov + draw.uniform(-y_jitter, y_jitter)
    body_x = float(draw.uniform(-x_jitter, x_jitter))
    fat_mm = _uniform(draw, _SUBCUTANEOUS_FAT_MM)
    muscle_mm = _uniform(draw, _CHEST_WALL_MUSCLE_MM)
    lung_scale = (_uniform(draw, _RIGHT_LUNG_SCALE), _uniform(draw, _LEFT_LUNG_SCALE))
    table_y = float(body_y + body_ay + draw.uniform(*_COUCH_GAP_MM))
    noise_sd = _uniform(draw, _NOISE_SD_HU)
    z_base = float(round(draw.uniform(*_BASE_Z_MM), 1))
    rib_phase = float(draw.uniform(0, 1))
    ret_course = _course(draw, _RETICULATION_COURSE)
    ggo_course = _course(draw, _GGO_COURSE)
    fields = [
        FourierField.draw(draw, n_modes, wavelengths, dims=3)
        for n_modes, wavelengths in (_RETICULATION_FIELD, _GGO_FIELD, _DENSITY_FIELD, _TEXTURE_FIELD)
    ]
    return Anatomy(
        pixel_spacing=pixel_spacing,
        body_x=body_x,
        body_y=float(body_y),
        body_ax=float(body_ax),
        body_ay=float(body_ay),
        fat_mm=fat_mm,
        muscle_mm=muscle_mm,
        lung_scale=lung_scale,
        table_y=table_y,
        noise_sd=noise_sd,
        z_base=z_base,
        rib_phase=rib_phase,
        ret_course=ret_course,
        ggo_course=ggo_course,
        ret_field=fields[0],
        ggo_field=fields[1],
        density_field=fields[2],
        texture_field=fields[3],
    )


def lung_extent(t: float) -> float:
    """Lung cross-section scale along the height: small apex, widest below the middle, domed base."""
    if t <= _WIDEST_LUNG_T:
        return _APEX_LUNG_SCALE + _APEX_LUNG_GAIN * float(np.sin(0.5 * np.pi * t / _WIDEST_LUNG_T)) ** _APEX_LUNG_CURVE
    return 1.0 - _BASE_LUNG_SHRINK * ((t - _WIDEST_LUNG_T) / _BELOW_WIDEST_T) ** 2


def lung_centre_y(cavity_ay: float, extent: float) -> float:
    """The lungs' centre sits behind the cavity's, further back where the lung is small (apex, base)."""
    return LUNG_CENTRE_Y_FRACTION * cavity_ay + LUNG_SHIFT_BACK_FRACTION * cavity_ay * (1 - extent)


def mediastinum_half_width(t: float) -> float:
    return _MEDIASTINUM_HALF_WIDTH_MM + _HILUM_WIDENING_MM * bump(t, *_HILUM_SPAN_T)


def nominal_height_mm(t: float) -> float:
    return t * NOMINAL_LUNG_HEIGHT_MM
