"""Synthetic SSc-ILD chest CT phantoms with exact ground truth.

Used by the tests and the demo: each patient visit becomes a real DICOM CT series (512x512, int16,
explicit VR little endian, PHI-like tags on purpose so de-identification has something to remove)
plus `truth.npz` with the lung mask and the reticulation/GGO label map the series was drawn from.

Everything is a plain function of (seed, patient index, visit index, slice count): no Django, no
global state, and every random draw comes from its own `numpy.random.SeedSequence` stream, so a
visit looks the same whether it is generated alone or as part of a bigger set.

Geometry: rows run anterior -> posterior, columns patient right -> patient left (radiological
view, DICOM LPS with ImageOrientationPatient 1\\0\\0\\0\\1\\0). Arrays and InstanceNumber run in
ascending z, the platform's z order: slice 0 (InstanceNumber 1) is the lung base, the last slice the
apex. The anatomy is drawn over a nominal 250 mm lung height whatever the slice count, so a 4-slice
test series still looks like a chest.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid
from scipy import ndimage, special

MATRIX = 512
RESCALE_INTERCEPT = -1024  # stored value = HU + 1024, as most scanners write it
HU_MIN, HU_MAX = -1024, 3071
LABEL_BACKGROUND, LABEL_RETICULATION, LABEL_GGO = 0, 1, 2
MANUFACTURER = "ILD-PHANTOM"
MANIFEST_NAME = "phantoms.json"
TRUTH_NAME = "truth.npz"
MANIFEST_FORMAT = "ild-phantom-set/1"

_NOMINAL_LUNG_HEIGHT_MM = 250.0
_UID_NAMESPACE = "ildplatform-phantom-v1"

# One stream id per kind of random draw: adding a draw of one kind never shifts another kind's numbers.
_STREAM_PATIENT = 1
_STREAM_VISIT = 2
_STREAM_FIELDS = 3
_STREAM_VESSELS = 4
_STREAM_NET = 5
_STREAM_NOISE = 6
_STREAM_FILES = 7

_FEMALE_NAMES = (
    "ALICE BEATRICE CLARA DORA EDITH FIONA GRETA HELENA IRIS JUNE "
    "KARIN LUCIA MAREN NORA OLIVIA PAULA ROSA SOFIA TERESA VERA"
).split()
_MALE_NAMES = (
    "ARTHUR BRUNO CARL DAVID EMIL FELIX GUSTAV HUGO IVAN JONAS "
    "KARL LEON MARTIN NIKO OSKAR PETER RUBEN SIMON TOBIAS VIKTOR"
).split()
_PHYSICIANS = ("WELBY^MARCUS^^DR", "QUINN^MICHAELA^^DR", "KILDARE^JAMES^^DR", "GREY^MEREDITH^^DR")


# ----------------------------------------------------------------------------------------------
# Public data types


@dataclass(frozen=True)
class PhantomPatient:
    """Who the phantom is, as a hospital would have it (PHI-like on purpose) plus a pseudonym."""

    seed: int
    index: int
    patient_id: str
    patient_name: str
    pseudonym: str
    sex: str
    birth_date: dt.date
    pixel_spacing: float
    folder: str


@dataclass(frozen=True)
class PhantomVisit:
    """One CT examination of a phantom patient: date and the identifiers of its single series."""

    index: int
    label: str
    date: dt.date
    study_time: str
    study_instance_uid: str
    series_instance_uid: str
    frame_of_reference_uid: str
    accession_number: str
    folder: str


@dataclass(frozen=True, eq=False)
class PhantomSeries:
    """Voxels and truth of one visit; arrays are (z, y, x) in InstanceNumber order = ascending z (base first)."""

    patient_index: int
    visit_index: int
    hu: np.ndarray  # int16 Hounsfield units
    lung: np.ndarray  # bool, both lungs incl. vessels, airways and pathology inside them
    labels: np.ndarray  # uint8, 0 background, 1 reticulation, 2 GGO; nonzero only inside `lung`
    pixel_spacing: float  # mm, square pixels
    slice_spacing: float  # mm
    z_positions: np.ndarray  # float64 ImagePositionPatient z per slice, increasing


@dataclass(frozen=True)
class Involvement:
    """Eq. 1 of the paper on the truth: abnormal area summed over slices / lung area summed over slices."""

    lung_pixels: int
    reticulation_pixels: int
    ggo_pixels: int
    reticulation_pct: float
    ggo_pct: float
    total_pct: float
    lung_volume_ml: float
    reticulation_volume_ml: float
    ggo_volume_ml: float
    abnormal_volume_ml: float

    def as_dict(self) -> dict[str, float | int]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


# ----------------------------------------------------------------------------------------------
# Identities and visit metadata


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng([seed, *keys])


def _check_seed(seed: int) -> None:
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")


def phantom_patient(seed: int, patient_index: int) -> PhantomPatient:
    """Demographics, hospital identifiers and scanner pixel spacing of one phantom patient."""
    _check_seed(seed)
    rng = _rng(seed, _STREAM_PATIENT, patient_index)
    number = patient_index + 1
    # SSc is about four times more common in women.
    sex = "F" if rng.random() < 0.8 else "M"
    names = _FEMALE_NAMES if sex == "F" else _MALE_NAMES
    # 7 is coprime with 20: patients of one set get distinct names.
    given = names[(patient_index * 7 + seed) % len(names)]
    birth_date = dt.date(1950, 1, 1) + dt.timedelta(days=int(rng.integers(0, 40 * 365)))
    # The radiographer fits the reconstruction field of view to the body: 338..399 mm gives a pixel
    # spacing of 0.66..0.78 mm. Rounded so the DICOM value and the one used for volumes agree.
    fov_mm = rng.integers(338, 385) if sex == "F" else rng.integers(352, 400)
    pixel_spacing = round(float(fov_mm) / MATRIX, 6)
    return PhantomPatient(
        seed=seed,
        index=patient_index,
        patient_id=f"PH{seed}-{number:03d}",
        patient_name=f"PHANTOM^{given}",
        pseudonym=f"SSC-{seed}-{number:03d}",
        sex=sex,
        birth_date=birth_date,
        pixel_spacing=pixel_spacing,
        folder=f"patient_{number:03d}",
    )


def phantom_visit(seed: int, patient_index: int, visit_index: int) -> PhantomVisit:
    """Date (baseline, then follow-ups 6-14 months apart) and deterministic UIDs of one visit."""
    _check_seed(seed)
    base_rng = _rng(seed, _STREAM_VISIT, patient_index, 0)
    date = dt.date(2017, 1, 1) + dt.timedelta(days=int(base_rng.integers(0, 4 * 365)))
    for follow_up in range(1, visit_index + 1):
        # Per-visit streams: visit v's date does not depend on how many visits are generated.
        date += dt.timedelta(days=int(_rng(seed, _STREAM_VISIT, patient_index, follow_up).integers(183, 427)))
    rng = _rng(seed, _STREAM_VISIT, patient_index, visit_index, 1)
    study_time = f"{int(rng.integers(7, 18)):02d}{int(rng.integers(0, 60)):02d}{int(rng.integers(0, 60)):02d}"

    def uid(kind: str) -> str:
        return str(generate_uid(entropy_srcs=[_UID_NAMESPACE, str(seed), str(patient_index), str(visit_index), kind]))

    return PhantomVisit(
        index=visit_index,
        label="baseline" if visit_index == 0 else f"follow-up {visit_index}",
        date=date,
        study_time=study_time,
        study_instance_uid=uid("study"),
        series_instance_uid=uid("series"),
        frame_of_reference_uid=uid("frame-of-reference"),
        accession_number=f"A{int(rng.integers(10**8, 10**9))}",
        folder=f"visit_{visit_index:02d}",
    )


# ----------------------------------------------------------------------------------------------
# Anatomy parameters and random fields


@dataclass(frozen=True)
class _Fourier:
    """Sum of random plane waves: a smooth, seamless random field evaluated slice by slice."""

    kx: np.ndarray
    ky: np.ndarray
    kz: np.ndarray
    phase: np.ndarray

    @classmethod
    def draw(cls, rng: np.random.Generator, n_modes: int, wavelength_mm: tuple[float, float], dims: int) -> _Fourier:
        wavelength = rng.uniform(*wavelength_mm, size=n_modes)
        direction = rng.normal(size=(n_modes, 3))
        if dims == 2:
            direction[:, 2] = 0.0
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        k = direction * (2 * np.pi / wavelength)[:, None]
        return cls(k[:, 0], k[:, 1], k[:, 2], rng.uniform(0, 2 * np.pi, size=n_modes))

    def evaluate(self, xs: np.ndarray, ys: np.ndarray, z: float) -> np.ndarray:
        """Approximately standard-normal field on the grid ys x xs (mm) at height z (mm)."""
        # cos(a + b) = cos a cos b - sin a sin b keeps this to outer products of 1-D vectors.
        ax = np.multiply.outer(self.kx, xs).astype(np.float32)
        by = (np.multiply.outer(self.ky, ys) + (self.kz * z + self.phase)[:, None]).astype(np.float32)
        field = np.einsum("my,mx->yx", np.cos(by), np.cos(ax)) - np.einsum("my,mx->yx", np.sin(by), np.sin(ax))
        return field * np.float32(np.sqrt(2.0 / len(self.kx)))


@dataclass(frozen=True)
class _Anatomy:
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
    ret_field: _Fourier
    ggo_field: _Fourier
    density_field: _Fourier
    texture_field: _Fourier

    @property
    def cavity_ax(self) -> float:
        return self.body_ax - self.fat_mm - self.muscle_mm - 10.0

    @property
    def cavity_ay(self) -> float:
        return self.body_ay - self.fat_mm - self.muscle_mm - 10.0


def _anatomy(seed: int, patient_index: int, pixel_spacing: float) -> _Anatomy:
    rng = _rng(seed, _STREAM_FIELDS, patient_index)
    half_fov = 256 * pixel_spacing
    # The body fills most of the field of view but leaves air on every side and room for the table.
    body_ax = rng.uniform(0.84, 0.90) * half_fov
    body_ay = rng.uniform(0.74, 0.80) * body_ax
    body_y = -0.09 * half_fov + rng.uniform(-3, 3)
    return _Anatomy(
        pixel_spacing=pixel_spacing,
        body_x=float(rng.uniform(-6, 6)),
        body_y=float(body_y),
        body_ax=float(body_ax),
        body_ay=float(body_ay),
        fat_mm=float(rng.uniform(5, 12)),
        muscle_mm=float(rng.uniform(5, 8)),
        lung_scale=(float(rng.uniform(0.97, 1.03)), float(rng.uniform(0.92, 0.98))),
        table_y=float(body_y + body_ay + rng.uniform(4, 9)),
        noise_sd=float(rng.uniform(11, 17)),
        z_base=float(round(rng.uniform(-260, -140), 1)),
        rib_phase=float(rng.uniform(0, 1)),
        ret_course=(float(rng.uniform(0.48, 0.58)), float(rng.uniform(0.74, 0.80)), float(rng.uniform(0.25, 0.45))),
        ggo_course=(float(rng.uniform(0.48, 0.58)), float(rng.uniform(0.76, 0.84)), float(rng.uniform(0.25, 0.45))),
        ret_field=_Fourier.draw(rng, 14, (35, 80), dims=3),
        ggo_field=_Fourier.draw(rng, 14, (22, 55), dims=3),
        density_field=_Fourier.draw(rng, 10, (20, 50), dims=3),
        texture_field=_Fourier.draw(rng, 10, (8, 20), dims=3),
    )


def _severity(course: tuple[float, float, float], visit_index: int) -> float:
    # Saturating growth: strictly increasing with the visit, never past the plateau.
    start, plateau, rate = course
    return plateau - (plateau - start) * float(np.exp(-rate * visit_index))


# ----------------------------------------------------------------------------------------------
# Slice geometry helpers (all on float32 grids for speed)


def _smoothstep(value: np.ndarray, low: float, high: float) -> np.ndarray:
    s = np.clip((value - np.float32(low)) / np.float32(high - low), 0, 1)
    return s * s * (3 - 2 * s)


def _inside(
    xs: np.ndarray, ys: np.ndarray, cx: float, cy: float, ax: float, ay: float, power: float = 2.0
) -> np.ndarray:
    """Boolean super-ellipse |dx/ax|^p + |dy/ay|^p <= 1, built from 1-D terms."""
    if ax <= 0 or ay <= 0:
        return np.zeros((ys.size, xs.size), dtype=bool)
    u = np.abs((xs - cx) / ax) ** power
    v = np.abs((ys - cy) / ay) ** power
    return (v[:, None] + u[None, :]) <= 1.0


def _inside_rotated(
    xs: np.ndarray, ys: np.ndarray, cx: float, cy: float, ax: float, ay: float, angle_deg: float
) -> np.ndarray:
    if ax <= 0 or ay <= 0:
        return np.zeros((ys.size, xs.size), dtype=bool)
    c, s = np.cos(np.radians(angle_deg)), np.sin(np.radians(angle_deg))
    dx = (xs - cx)[None, :]
    dy = (ys - cy)[:, None]
    return ((dx * c + dy * s) / ax) ** 2 + ((-dx * s + dy * c) / ay) ** 2 <= 1.0


def _bump(t: float, start: float, full: float, end_full: float, end: float) -> float:
    """Trapezoid 0 -> 1 -> 0 over t, for organs present only in part of the lung height."""
    if t <= start or t >= end:
        return 0.0
    if t < full:
        return (t - start) / (full - start)
    if t <= end_full:
        return 1.0
    return (end - t) / (end - end_full)


def _lung_extent(t: float) -> float:
    """Lung cross-section scale along the height: small apex, widest below the middle, domed base."""
    if t <= 0.62:
        return 0.6 + 0.4 * float(np.sin(0.5 * np.pi * t / 0.62)) ** 0.8
    return 1.0 - 0.1 * ((t - 0.62) / 0.38) ** 2


def _mediastinum_half_width(t: float) -> float:
    # Wider at the hilum (carina, main bronchi, pulmonary arteries); at least 15 mm per side, so
    # the two lungs stay >= 30 mm apart and a 7 mm morphological closing cannot bridge them.
    return 15.0 + 8.0 * _bump(t, 0.25, 0.38, 0.52, 0.65)


# ----------------------------------------------------------------------------------------------
# Pulmonary vessels and intrapulmonary bronchi


@dataclass(frozen=True)
class _Tubes:
    """Points sampled along tube centre lines: x, y, z (mm rel. to body centre, nominal z), radius."""

    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    radius: np.ndarray
    # In-plane unit normal of the centre line, used to place a bronchus beside its artery.
    nx: np.ndarray
    ny: np.ndarray


def _vessel_tree(seed: int, patient_index: int, anatomy: _Anatomy) -> tuple[_Tubes, _Tubes]:
    """Branching pulmonary arteries from each hilum; the first two generations carry a bronchus."""
    rng = _rng(seed, _STREAM_VESSELS, patient_index)
    cav_ax, cav_ay = anatomy.cavity_ax, anatomy.cavity_ay
    height = _NOMINAL_LUNG_HEIGHT_MM
    radii = (4.2, 3.0, 2.1, 1.5, 1.1, 0.8)
    # Fraction of the way from the hilum to the branch's goal reached at the end of each generation.
    reach = (0.22, 0.42, 0.60, 0.76, 0.89, 1.0)
    spread = np.array([0.10 * cav_ax, 0.10 * cav_ay, 0.06 * height])
    vessels: list[np.ndarray] = []
    bronchi: list[np.ndarray] = []

    def target(side: int) -> np.ndarray:
        t = rng.uniform(0.03, 0.98)
        f = _lung_extent(t)
        while True:
            u, v = rng.uniform(-1, 1, size=2)
            if u * u + v * v <= 1:
                break
        return np.array(
            [
                side * (0.56 * cav_ax + u * 0.40 * cav_ax * f),
                0.05 * cav_ay + 0.3 * cav_ay * (1 - f) + v * 0.82 * cav_ay * f,
                t * height,
            ]
        )

    def grow(start: np.ndarray, hilum: np.ndarray, goal: np.ndarray, generation: int) -> None:
        end = hilum + (goal - hilum) * reach[generation]
        radius = radii[generation]
        n = max(2, int(np.linalg.norm(end - start) / (0.45 * radius)) + 1)
        points = start + (end - start) * np.linspace(0.0, 1.0, n)[:, None]
        normal = np.array([start[1] - end[1], end[0] - start[0]])
        length = float(np.hypot(*normal))
        normal = normal / length if length > 1e-6 else np.array([1.0, 0.0])
        block = np.column_stack([points, np.full(n, radius), np.full(n, normal[0]), np.full(n, normal[1])])
        vessels.append(block)
        if generation <= 1:
            bronchi.append(block)
        if generation + 1 < len(radii):
            for _ in range(2):
                grow(end, hilum, goal + rng.normal(scale=spread * (1.0 - 0.1 * generation)), generation + 1)

    for side in (-1, 1):
        hilum = np.array([side * (_mediastinum_half_width(0.45) + 4.0), -0.02 * cav_ay, 0.45 * height])
        for _ in range(16):
            grow(hilum, hilum, target(side), 0)

    def pack(blocks: list[np.ndarray]) -> _Tubes:
        data = np.concatenate(blocks).astype(np.float32)
        return _Tubes(*(np.ascontiguousarray(data[:, i]) for i in range(6)))

    return pack(vessels), pack(bronchi)


@functools.lru_cache(maxsize=1024)
def _disk_kernel(pixel_spacing: float, radius_step: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixel offsets and anti-aliased coverage of a disk of radius `radius_step` * 0.2 mm."""
    r_px = radius_step * 0.2 / pixel_spacing
    reach = int(np.ceil(r_px + 1))
    dy, dx = np.mgrid[-reach : reach + 1, -reach : reach + 1]
    coverage = np.clip(r_px + 0.5 - np.hypot(dx, dy), 0, 1).astype(np.float32)
    keep = coverage > 0
    return dy[keep], dx[keep], coverage[keep]


def _stamp(rows: np.ndarray, cols: np.ndarray, radius_mm: np.ndarray, pixel_spacing: float) -> np.ndarray:
    """Coverage image (0..1) of disks at (rows, cols) with the given radii, max-combined."""
    coverage = np.zeros(MATRIX * MATRIX, dtype=np.float32)
    steps = np.maximum(np.rint(radius_mm / 0.2).astype(np.int64), 1)
    for step in np.unique(steps):
        chosen = steps == step
        dy, dx, weight = _disk_kernel(pixel_spacing, int(step))
        r = rows[chosen][:, None] + dy[None, :]
        c = cols[chosen][:, None] + dx[None, :]
        ok = (r >= 0) & (r < MATRIX) & (c >= 0) & (c < MATRIX)
        np.maximum.at(coverage, (r * MATRIX + c)[ok], np.broadcast_to(weight, r.shape)[ok])
    return coverage.reshape(MATRIX, MATRIX)


def _tube_section(tubes: _Tubes, z: float, thickness: float) -> tuple[np.ndarray, np.ndarray]:
    """Which tube points cut a slab of `thickness` at height z, and their in-slab radius."""
    dz = np.abs(tubes.z - z) - 0.5 * thickness
    hit = dz < tubes.radius
    # A tube ending just outside the slab shows a smaller cross-section (partial volume).
    radius = np.where(dz[hit] > 0, np.sqrt(np.maximum(tubes.radius[hit] ** 2 - dz[hit] ** 2, 0)), tubes.radius[hit])
    return hit, radius


# ----------------------------------------------------------------------------------------------
# One slice of anatomy (everything that does not change between visits)


@dataclass(frozen=True, eq=False)
class _SliceAnatomy:
    tissue: np.ndarray  # float32 HU without pathology, vessels or noise; lung holds parenchyma HU
    lung: np.ndarray
    vessel: np.ndarray  # coverage 0..1
    bronchus_wall: np.ndarray
    bronchus_lumen: np.ndarray
    ret_score: np.ndarray  # 0..1, grows with subpleural, posterior, basal position
    ggo_score: np.ndarray
    ggo_hu: np.ndarray
    net: np.ndarray  # reticular line coverage 0..1
    line_hu: np.ndarray


def _slice_anatomy(
    seed: int,
    patient_index: int,
    slice_index: int,
    t: float,
    anatomy: _Anatomy,
    vessels: _Tubes,
    bronchi: _Tubes,
    slice_thickness: float,
) -> _SliceAnatomy:
    ps = anatomy.pixel_spacing
    coords = ((np.arange(MATRIX, dtype=np.float32) - (MATRIX - 1) / 2) * ps).astype(np.float32)
    xs = coords - np.float32(anatomy.body_x)  # mm relative to the body centre
    ys = coords - np.float32(anatomy.body_y)
    z_nominal = t * _NOMINAL_LUNG_HEIGHT_MM

    ax = anatomy.body_ax * (0.96 + 0.04 * t)
    ay = anatomy.body_ay * (0.97 + 0.03 * t)
    fat, muscle = anatomy.fat_mm, anatomy.muscle_mm
    rib_out = fat + muscle
    rib_in = rib_out + 8.0
    cav_ax, cav_ay = anatomy.cavity_ax * (0.96 + 0.04 * t), anatomy.cavity_ay * (0.97 + 0.03 * t)

    hu = np.full((MATRIX, MATRIX), -1000.0, dtype=np.float32)
    table_y = anatomy.table_y - anatomy.body_y
    hu[(ys >= table_y) & (ys <= table_y + 7.0), :] = 120.0  # carbon-fibre couch top, full width

    body = _inside(xs, ys, 0, 0, ax, ay, 2.2)
    hu[body] = 40.0  # skin
    hu[_inside(xs, ys, 0, 0, ax - 2.5, ay - 2.5, 2.2)] = -100.0  # subcutaneous fat
    hu[_inside(xs, ys, 0, 0, ax - fat, ay - fat, 2.2)] = 45.0  # chest wall muscle

    # Ribs: a ring of bone cut by oblique bands (ribs slope down anteriorly), cartilage near the sternum.
    outer_ribs = _inside(xs, ys, 0, 0, ax - rib_out, ay - rib_out, 2.2)
    ring = outer_ribs & ~_inside(xs, ys, 0, 0, ax - rib_in, ay - rib_in, 2.2)
    rib_coord = (z_nominal + 0.45 * ys[:, None] + 0.12 * np.abs(xs)[None, :]) / 24.0 + anatomy.rib_phase
    rib = ring & ((rib_coord - np.floor(rib_coord)) < 0.42)
    cartilage = (ys[:, None] < -0.55 * ay) & (np.abs(xs)[None, :] < 0.33 * ax)
    hu[rib & ~cartilage] = 850.0
    hu[rib & cartilage] = 160.0

    cavity = _inside(xs, ys, 0, 0, cav_ax, cav_ay, 2.2)
    hu[cavity] = -80.0  # mediastinal / extrapleural fat

    # Spine: vertebral body (cancellous, cortical rim > 1000 HU), canal, arch and spinous process.
    vb_y = ay - 49.0
    hu[_inside(xs, ys, 0, vb_y, 15, 14)] = 1150.0
    hu[_inside(xs, ys, 0, vb_y, 12.5, 11.5)] = 260.0
    hu[_inside(xs, ys, 0, vb_y + 21, 11, 11) & (ys[:, None] > vb_y + 16)] = 900.0
    hu[_inside(xs, ys, 0, vb_y + 36, 3.5, 10)] = 900.0
    hu[_inside(xs, ys, 0, vb_y + 21, 7, 6.5)] = 15.0
    if 0.12 < t < 0.88:
        sternum = _inside(xs, ys, 0, -ay + rib_out + 4, 13, 5)
        hu[sternum] = 1050.0
        hu[_inside(xs, ys, 0, -ay + rib_out + 4, 10.5, 2.8)] = 300.0

    # Lungs: a super-ellipse per side inside the cavity, minus the mediastinum and its organs.
    f = _lung_extent(t)
    m_half = _mediastinum_half_width(t)
    lung_y = 0.05 * cav_ay + 0.3 * cav_ay * (1 - f)
    pleural_cavity = _inside(xs, ys, 0, 0, cav_ax - 2.0, cav_ay - 2.0, 2.2)
    envelope = np.zeros((MATRIX, MATRIX), dtype=bool)
    lungs = []
    for side, scale in zip((-1, 1), anatomy.lung_scale, strict=True):
        shape = _inside(xs, ys, side * 0.56 * cav_ax, lung_y, 0.56 * cav_ax * f * scale, 1.05 * cav_ay * f, 2.8)
        shape &= pleural_cavity
        envelope |= shape
        shape &= (side * xs)[None, :] > m_half
        lungs.append(shape)
    lung = lungs[0] | lungs[1]

    organ = np.zeros((MATRIX, MATRIX), dtype=bool)  # soft-tissue organs, excluded from the lung
    heart = _bump(t, 0.33, 0.55, 0.8, 1.05)
    if heart > 0:
        h_ax, h_ay = 0.33 * cav_ax * (0.6 + 0.4 * heart), 0.43 * cav_ay * (0.6 + 0.4 * heart)
        organ_heart = _inside_rotated(xs, ys, 0.16 * cav_ax, -0.28 * cav_ay, h_ax, h_ay, 28.0)
        lung &= ~_inside_rotated(xs, ys, 0.16 * cav_ax, -0.28 * cav_ay, h_ax + 3, h_ay + 3, 28.0)
        organ |= organ_heart
    if 0.18 < t < 0.52:  # ascending aorta
        organ |= _inside(xs, ys, -10, -0.30 * cav_ay, 14, 14)
    if 0.12 <= t <= 0.2:  # aortic arch, running backwards to the left
        arch = _inside_rotated(xs, ys, 5, -0.05 * cav_ay, 13, 0.42 * cav_ay, -25.0)
        organ |= arch
        lung &= ~_inside_rotated(xs, ys, 5, -0.05 * cav_ay, 16, 0.42 * cav_ay + 3, -25.0)
    if 0.34 < t < 0.52:  # main pulmonary artery and hilar arteries
        organ |= _inside(xs, ys, 16, -0.26 * cav_ay, 13, 13)
        for side in (-1, 1):
            organ |= _inside(xs, ys, side * (m_half + 2), -0.02 * cav_ay, 9, 8)
            lung &= ~_inside(xs, ys, side * (m_half + 2), -0.02 * cav_ay, 11, 10)
    if t >= 0.12:  # descending aorta beside the spine
        organ |= _inside(xs, ys, 21, vb_y - 6, 12, 12)
        lung &= ~_inside(xs, ys, 21, vb_y - 6, 15, 15)
    lung &= ~_inside(xs, ys, 0, vb_y, 19, 18)  # paravertebral soft tissue around the vertebral body
    # Diaphragm domes (liver right, spleen left), anchored at the antero-medial lung corner so the
    # lung becomes a posterolateral crescent, never a ring around soft tissue.
    dome = 0.65 * max(0.0, (t - 0.78) / 0.22) ** 0.8
    if dome > 0:
        for side, dome_hu in ((-1, 60.0), (1, 48.0)):
            d_ax, d_ay = dome * 0.62 * cav_ax, dome * 1.15 * cav_ay * f
            centre_y = lung_y - 0.55 * 0.92 * cav_ay * f
            shape = _inside(xs, ys, side * (m_half + 6), centre_y, d_ax, d_ay)
            hu[shape & cavity] = dome_hu
            lung &= ~_inside(xs, ys, side * (m_half + 6), centre_y, d_ax + 3, d_ay + 3)
    hu[organ & cavity & ~lung] = 40.0

    # Airways in the mediastinum: trachea above the carina, main bronchi below it.
    if t < 0.36:
        hu[_inside(xs, ys, 0, -0.08 * cav_ay, 11, 10)] = 40.0
        hu[_inside(xs, ys, 0, -0.08 * cav_ay, 9, 8)] = -1000.0
    elif t < 0.47:
        for side in (-1, 1):
            hu[_inside(xs, ys, side * 13, -0.04 * cav_ay, 7.5, 7.0)] = 40.0
            hu[_inside(xs, ys, side * 13, -0.04 * cav_ay, 5.5, 5.0)] = -1000.0

    # Parenchyma: denser in the dependent (posterior) lung, faint texture.
    z_mm = np.float32(z_nominal)
    dependent = special.expit((ys - lung_y) / np.float32(0.25 * cav_ay)).astype(np.float32)
    texture = anatomy.texture_field.evaluate(xs, ys, z_mm)
    parenchyma = -865.0 + 45.0 * dependent[:, None] + 8.0 * texture
    hu = np.where(lung, parenchyma, hu).astype(np.float32)

    # Vessels and bronchi drawn from the 3-D tree: only what lies inside the lung is lung vessel.
    to_row = (MATRIX - 1) / 2 + anatomy.body_y / ps
    to_col = (MATRIX - 1) / 2 + anatomy.body_x / ps
    hit, radius = _tube_section(vessels, z_nominal, slice_thickness)
    rows = np.rint(vessels.y[hit] / ps + to_row).astype(np.int64)
    cols = np.rint(vessels.x[hit] / ps + to_col).astype(np.int64)
    # Vessels and airways stop 2.5 mm short of the pleura: one crossing a narrow part of the lung
    # would cut it in two, which real lungs never show and which breaks region-based lung masking.
    interior = ndimage.distance_transform_edt(lung, sampling=ps) > 2.5
    vessel = _stamp(rows, cols, radius, ps) * interior
    hit, radius = _tube_section(bronchi, z_nominal, slice_thickness)
    offset = bronchi.radius[hit] * 1.75 + 1.0
    rows = np.rint((bronchi.y[hit] + offset * bronchi.ny[hit]) / ps + to_row).astype(np.int64)
    cols = np.rint((bronchi.x[hit] + offset * bronchi.nx[hit]) / ps + to_col).astype(np.int64)
    lumen_radius = 0.7 * radius
    bronchus_wall = _stamp(rows, cols, lumen_radius + np.maximum(0.9, 0.25 * lumen_radius), ps) * interior
    bronchus_lumen = _stamp(rows, cols, lumen_radius, ps) * interior

    # Disease scores: distance to the costal pleura (the envelope plus the mediastinal gap, so the
    # mediastinal and cardiac borders do not count as subpleural), posterior and basal weights.
    gap = _inside(xs, ys, 0, lung_y, 0.6 * cav_ax, 0.85 * cav_ay * f)
    costal_depth = ndimage.distance_transform_edt(envelope | gap, sampling=ps).astype(np.float32)
    posterior = special.expit((ys - lung_y) / np.float32(0.22 * cav_ay)).astype(np.float32)[:, None]
    ret_field = special.ndtr(anatomy.ret_field.evaluate(xs, ys, z_mm)).astype(np.float32)
    ggo_field = special.ndtr(anatomy.ggo_field.evaluate(xs, ys, z_mm)).astype(np.float32)
    density = special.ndtr(anatomy.density_field.evaluate(xs, ys, z_mm)).astype(np.float32)
    subpleural_ret = np.clip(1 - costal_depth / np.float32(20.0), 0, 1) ** 0.7
    subpleural_ggo = np.clip(1 - costal_depth / np.float32(42.0), 0, 1) ** 0.6
    ret_score = subpleural_ret * (0.3 + 0.7 * posterior) * np.float32(0.25 + 0.75 * t**1.5) * (0.4 + 0.6 * ret_field)
    ggo_score = subpleural_ggo * (0.45 + 0.55 * posterior) * np.float32(0.35 + 0.65 * t) * (0.3 + 0.7 * ggo_field)

    # Reticular net: zero crossings of a 2-D random wave field (3.5-6 mm cells), lines ~1-2 px wide.
    net_field = _Fourier.draw(_rng(seed, _STREAM_NET, patient_index, slice_index), 24, (3.5, 6.0), 2)
    wave = net_field.evaluate(xs, ys, 0.0)
    grad_y, grad_x = np.gradient(wave)
    distance_px = np.abs(wave) / (np.hypot(grad_x, grad_y) + np.float32(1e-6))
    # Gate the net with a coarser field: real reticulation is interrupted, not a closed honeycomb.
    gate_field = _Fourier.draw(_rng(seed, _STREAM_NET, patient_index, slice_index, 1), 12, (8.0, 14.0), 2)
    gate = _smoothstep(special.ndtr(gate_field.evaluate(xs, ys, 0.0)), 0.3, 0.45)
    net = np.clip(np.float32(1.2) - distance_px, 0, 1) * gate

    return _SliceAnatomy(
        tissue=hu,
        lung=lung,
        vessel=vessel.astype(np.float32),
        bronchus_wall=bronchus_wall.astype(np.float32),
        bronchus_lumen=bronchus_lumen.astype(np.float32),
        ret_score=np.where(lung, ret_score, 0).astype(np.float32),
        ggo_score=np.where(lung, ggo_score, 0).astype(np.float32),
        ggo_hu=(-650.0 + 220.0 * density).astype(np.float32),
        net=net.astype(np.float32),
        line_hu=(-220.0 + 200.0 * density).astype(np.float32),
    )


def _compose_visit(
    anatomy: _Anatomy, cut: _SliceAnatomy, visit_index: int, noise_rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """HU (int16) and labels (uint8) of one slice at one visit."""
    ret_threshold = 1.0 - _severity(anatomy.ret_course, visit_index)
    ggo_threshold = 1.0 - _severity(anatomy.ggo_course, visit_index)
    # Soft edges: full effect 0.05 (reticulation) / 0.08 (GGO) above the threshold, label at half.
    ret = _smoothstep(cut.ret_score, ret_threshold - 0.05, ret_threshold + 0.05) * cut.lung
    ggo = _smoothstep(cut.ggo_score, ggo_threshold - 0.08, ggo_threshold + 0.08) * cut.lung

    hu = cut.tissue.copy()
    hu += ggo * (cut.ggo_hu - hu)
    hu += ret * 0.7 * (np.float32(-720.0) - hu)  # hazy background between the reticular lines
    hu += ret * cut.net * (cut.line_hu - hu)
    hu += cut.vessel * (np.float32(40.0) - hu)
    hu += cut.bronchus_wall * (np.float32(-60.0) - hu)
    hu += cut.bronchus_lumen * (np.float32(-960.0) - hu)

    # Scanner point-spread function, then quantum noise.
    hu = ndimage.gaussian_filter(hu, sigma=0.55, mode="nearest")
    hu += noise_rng.standard_normal((MATRIX, MATRIX), dtype=np.float32) * np.float32(anatomy.noise_sd)
    hu_int = np.clip(np.rint(hu), HU_MIN, HU_MAX).astype(np.int16)

    labels = np.zeros((MATRIX, MATRIX), dtype=np.uint8)
    labels[ggo >= 0.5] = LABEL_GGO
    labels[ret >= 0.5] = LABEL_RETICULATION  # reticulation wins where both are present
    labels[~cut.lung] = LABEL_BACKGROUND
    return hu_int, labels


# ----------------------------------------------------------------------------------------------
# Series generation


def _slice_t(n_slices: int) -> np.ndarray:
    """Height of each slice in the lung, 0 apex .. 1 base; slice 0 is the base (ascending z)."""
    if n_slices == 1:
        return np.array([0.5])
    return np.linspace(1.0, 0.0, n_slices)


def phantom_visits_series(
    seed: int, patient_index: int, visit_indices: Sequence[int], n_slices: int = 24, slice_spacing: float = 5.0
) -> list[PhantomSeries]:
    """Several visits of one patient at once: the anatomy of each slice is computed only once."""
    _check_seed(seed)
    if n_slices < 1:
        raise ValueError(f"n_slices must be >= 1, got {n_slices}")
    if slice_spacing <= 0:
        raise ValueError(f"slice_spacing must be > 0, got {slice_spacing}")
    patient = phantom_patient(seed, patient_index)
    anatomy = _anatomy(seed, patient_index, patient.pixel_spacing)
    vessels, bronchi = _vessel_tree(seed, patient_index, anatomy)
    shape = (n_slices, MATRIX, MATRIX)
    hu = {v: np.empty(shape, dtype=np.int16) for v in visit_indices}
    labels = {v: np.empty(shape, dtype=np.uint8) for v in visit_indices}
    lung = np.empty(shape, dtype=bool)
    for slice_index, t in enumerate(_slice_t(n_slices)):
        cut = _slice_anatomy(seed, patient_index, slice_index, float(t), anatomy, vessels, bronchi, slice_spacing)
        lung[slice_index] = cut.lung
        for v in visit_indices:
            noise_rng = _rng(seed, _STREAM_NOISE, patient_index, v, slice_index)
            hu[v][slice_index], labels[v][slice_index] = _compose_visit(anatomy, cut, v, noise_rng)
    z_positions = anatomy.z_base + slice_spacing * np.arange(n_slices, dtype=np.float64)
    return [
        PhantomSeries(
            patient_index=patient_index,
            visit_index=v,
            hu=hu[v],
            lung=lung.copy() if i else lung,
            labels=labels[v],
            pixel_spacing=patient.pixel_spacing,
            slice_spacing=float(slice_spacing),
            z_positions=np.round(z_positions, 4),
        )
        for i, v in enumerate(visit_indices)
    ]


def phantom_series(
    rng_seed: int, patient_index: int, visit_index: int, n_slices: int = 24, slice_spacing: float = 5.0
) -> PhantomSeries:
    """HU volume and truth of one patient visit; identical to the same visit inside a full set."""
    return phantom_visits_series(rng_seed, patient_index, [visit_index], n_slices, slice_spacing)[0]


def involvement_from_truth(
    lung: np.ndarray, labels: np.ndarray, pixel_spacing: float, slice_spacing: float
) -> Involvement:
    """Eq. 1: sum over slices of pattern pixels / sum over slices of lung pixels, plus volumes in mL."""
    lung = lung.astype(bool)
    lung_pixels = int(lung.sum())
    ret_pixels = int(((labels == LABEL_RETICULATION) & lung).sum())
    ggo_pixels = int(((labels == LABEL_GGO) & lung).sum())
    voxel_ml = pixel_spacing * pixel_spacing * slice_spacing / 1000.0

    def pct(count: int) -> float:
        return 100.0 * count / lung_pixels if lung_pixels else 0.0

    return Involvement(
        lung_pixels=lung_pixels,
        reticulation_pixels=ret_pixels,
        ggo_pixels=ggo_pixels,
        reticulation_pct=pct(ret_pixels),
        ggo_pct=pct(ggo_pixels),
        total_pct=pct(ret_pixels + ggo_pixels),
        lung_volume_ml=lung_pixels * voxel_ml,
        reticulation_volume_ml=ret_pixels * voxel_ml,
        ggo_volume_ml=ggo_pixels * voxel_ml,
        abnormal_volume_ml=(ret_pixels + ggo_pixels) * voxel_ml,
    )


# ----------------------------------------------------------------------------------------------
# Writing DICOM, truth and the manifest


def _ds(value: float) -> str:
    """Decimal String within DICOM's 16 characters, without float noise."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _age(birth: dt.date, on: dt.date) -> str:
    years = on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))
    return f"{years:03d}Y"


def series_datasets(series: PhantomSeries, patient: PhantomPatient, visit: PhantomVisit) -> list[Dataset]:
    """One CT Image Storage dataset per slice, InstanceNumber 1..K in array order."""
    ps = series.pixel_spacing
    origin = -(MATRIX - 1) / 2 * ps
    date = visit.date.strftime("%Y%m%d")
    rng = _rng(patient.seed, _STREAM_VISIT, patient.index, visit.index, 2)
    physician = _PHYSICIANS[int(rng.integers(len(_PHYSICIANS)))]
    given = patient.patient_name.split("^")[1].title()
    datasets = []
    for i, hu_slice in enumerate(series.hu):
        sop_uid = str(
            generate_uid(
                entropy_srcs=[_UID_NAMESPACE, str(patient.seed), str(patient.index), str(visit.index), "sop", str(i)]
            )
        )
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = sop_uid
        meta.TransferSyntaxUID = ExplicitVRLittleEndian

        ds = Dataset()
        ds.file_meta = meta
        ds.SpecificCharacterSet = "ISO_IR 100"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = sop_uid
        ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = date
        ds.StudyTime = ds.SeriesTime = ds.AcquisitionTime = ds.ContentTime = visit.study_time
        ds.AccessionNumber = visit.accession_number
        ds.Modality = "CT"
        ds.Manufacturer = MANUFACTURER
        ds.InstitutionName = "St. Phantom General Hospital"
        ds.InstitutionAddress = "1 Imaging Way, Springfield"
        ds.ReferringPhysicianName = physician
        ds.StationName = "CTSCAN01"
        ds.StudyDescription = "CT CHEST HIGH RESOLUTION"
        ds.SeriesDescription = f"Lung {_ds(series.slice_spacing)} STANDARD"
        ds.PerformingPhysicianName = "TECH^JANE"
        ds.OperatorsName = "OPERATOR^SAM"
        ds.ManufacturerModelName = "Phantom CT 512"
        ds.PatientName = patient.patient_name
        ds.PatientID = patient.patient_id
        ds.PatientBirthDate = patient.birth_date.strftime("%Y%m%d")
        ds.PatientSex = patient.sex
        ds.PatientAge = _age(patient.birth_date, visit.date)
        ds.PatientAddress = f"{10 + patient.index} Phantom Street, Springfield"
        ds.BodyPartExamined = "CHEST"
        ds.SliceThickness = _ds(series.slice_spacing)
        ds.KVP = "120"
        ds.ReconstructionDiameter = _ds(ps * MATRIX)
        ds.ConvolutionKernel = "STANDARD"
        ds.PatientPosition = "HFS"
        ds.StudyInstanceUID = visit.study_instance_uid
        ds.SeriesInstanceUID = visit.series_instance_uid
        ds.StudyID = str(1000 + 10 * patient.index + visit.index)
        ds.SeriesNumber = 2
        ds.AcquisitionNumber = 1
        ds.InstanceNumber = i + 1
        ds.ImagePositionPatient = [_ds(origin), _ds(origin), _ds(float(series.z_positions[i]))]
        ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
        ds.FrameOfReferenceUID = visit.frame_of_reference_uid
        ds.PositionReferenceIndicator = ""
        ds.SliceLocation = _ds(float(series.z_positions[i]))
        ds.SpacingBetweenSlices = _ds(series.slice_spacing)
        ds.ImageComments = (
            f"{given} Phantom (MRN {patient.patient_id}, DOB {patient.birth_date:%d.%m.%Y}) referred by "
            f"Dr {physician.split('^')[0].title()} for SSc-ILD {visit.label}; call 555-0100 with results."
        )
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows = MATRIX
        ds.Columns = MATRIX
        ds.PixelSpacing = [_ds(ps), _ds(ps)]
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1
        ds.WindowCenter = "-600"
        ds.WindowWidth = "1500"
        ds.RescaleIntercept = str(RESCALE_INTERCEPT)
        ds.RescaleSlope = "1"
        ds.RescaleType = "HU"
        stored = (hu_slice.astype(np.int32) - RESCALE_INTERCEPT).astype("<i2")
        ds.PixelData = stored.tobytes()
        datasets.append(ds)
    return datasets


def write_series_dicom(series: PhantomSeries, patient: PhantomPatient, visit: PhantomVisit, folder: Path) -> list[Path]:
    """Write the series as one .dcm per slice under names that do not reveal the slice order."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = _rng(patient.seed, _STREAM_FILES, patient.index, visit.index)
    names: list[str] = []
    while len(names) < len(series.hu):
        name = f"IM{rng.bytes(6).hex().upper()}.dcm"
        if name not in names:
            names.append(name)
    paths = []
    for name, ds in zip(names, series_datasets(series, patient, visit), strict=True):
        path = folder / name
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def write_truth(series: PhantomSeries, path: Path) -> None:
    """`truth.npz` with `lung` (bool) and `labels` (uint8), byte-identical for identical arrays.

    numpy.savez stamps the current time into the zip entries; writing the zip ourselves with a
    fixed timestamp keeps same-seed outputs byte-identical. np.load reads it as usual.
    """
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in (("lung", series.lung), ("labels", series.labels)):
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, buffer.getvalue(), compresslevel=6)


def _rounded(values: dict[str, float | int]) -> dict[str, float | int]:
    return {key: round(value, 6) if isinstance(value, float) else value for key, value in values.items()}


def write_phantom_set(
    out_dir: Path | str, patients: int, visits: int, seed: int, slices: int = 24, slice_spacing: float = 5.0
) -> dict:
    """Write OUT_DIR/<patient>/<visit>/*.dcm + truth.npz and OUT_DIR/phantoms.json; return the manifest.

    Refuses a non-empty out_dir: stale files with other random names would mix into the series.
    """
    _check_seed(seed)
    if patients < 1 or visits < 1 or slices < 1:
        raise ValueError("patients, visits and slices must all be >= 1")
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty; write the phantom set into a new or empty folder")
    out.mkdir(parents=True, exist_ok=True)

    manifest: dict = {
        "format": MANIFEST_FORMAT,
        "seed": seed,
        "slices": slices,
        "slice_spacing_mm": float(slice_spacing),
        "patients": [],
    }
    for p in range(patients):
        patient = phantom_patient(seed, p)
        entry: dict = {
            "folder": patient.folder,
            "pseudonym": patient.pseudonym,
            "sex": patient.sex,
            "birth_year": patient.birth_date.year,
            # What the hospital's DICOM says (PHI-like): the importer must strip it.
            "dicom_patient_id": patient.patient_id,
            "dicom_patient_name": patient.patient_name,
            "visits": [],
        }
        all_series = phantom_visits_series(seed, p, range(visits), slices, slice_spacing)
        for series in all_series:
            visit = phantom_visit(seed, p, series.visit_index)
            folder = out / patient.folder / visit.folder
            write_series_dicom(series, patient, visit, folder)
            write_truth(series, folder / TRUTH_NAME)
            figures = involvement_from_truth(series.lung, series.labels, series.pixel_spacing, series.slice_spacing)
            entry["visits"].append(
                {
                    "index": visit.index,
                    "label": visit.label,
                    "date": visit.date.isoformat(),
                    "folder": f"{patient.folder}/{visit.folder}",
                    "truth": f"{patient.folder}/{visit.folder}/{TRUTH_NAME}",
                    "study_instance_uid": visit.study_instance_uid,
                    "series_instance_uid": visit.series_instance_uid,
                    "slice_count": int(series.hu.shape[0]),
                    "rows": MATRIX,
                    "columns": MATRIX,
                    "pixel_spacing_mm": series.pixel_spacing,
                    "slice_spacing_mm": series.slice_spacing,
                    "involvement": _rounded(figures.as_dict()),
                }
            )
        manifest["patients"].append(entry)
    (out / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest
