"""Phantom series: the HU volume and exact truth of patient visits, slice by slice.

Arrays and InstanceNumber run in ascending z, the platform's z order: slice 0 is the lung base,
the last slice the apex. The anatomy of a slice (everything that does not change between visits)
is computed once and composed with each visit's pathology, scanner blur and noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ildplatform.involvement import Involvement, involvement_in_region

from .anatomy import Anatomy, anatomy_draw
from .chest_slice import SOFT_TISSUE_HU, chest_slice, slice_geometry
from .identities import phantom_patient
from .pathology import DiseaseFields, add_pathology_hu, disease_fields, pattern_labels, pattern_weights
from .randomness import STREAM_NOISE, check_seed, rng
from .shapes import MATRIX
from .vessels import Tubes, VesselCut, vessel_tree, vessels_in_slice

HU_MIN, HU_MAX = -1024, 3071  # what a 12-bit scanner stores
_VESSEL_HU = SOFT_TISSUE_HU  # blood
_BRONCHUS_WALL_HU, _BRONCHUS_LUMEN_HU = -60.0, -960.0  # thin wall and lumen, partial volume included
_SCANNER_BLUR_PX = 0.55  # sigma of the point-spread function


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


@dataclass(frozen=True, eq=False)
class _SliceAnatomy:
    tissue: np.ndarray  # float32 HU without pathology, vessels or noise; lung holds parenchyma HU
    lung: np.ndarray
    vessels: VesselCut
    disease: DiseaseFields


def _slice_anatomy(
    seed: int,
    patient_index: int,
    slice_index: int,
    t: float,
    anatomy: Anatomy,
    tree: tuple[Tubes, Tubes],
    slice_thickness: float,
) -> _SliceAnatomy:
    geometry = slice_geometry(anatomy, t)
    chest = chest_slice(anatomy, geometry)
    vessels, bronchi = tree
    return _SliceAnatomy(
        tissue=chest.tissue,
        lung=chest.lung,
        vessels=vessels_in_slice(anatomy, vessels, bronchi, chest.lung, geometry.z_nominal, slice_thickness),
        disease=disease_fields(seed, patient_index, slice_index, geometry, anatomy, chest.lung, chest.envelope),
    )


def _compose_visit(
    anatomy: Anatomy, cut: _SliceAnatomy, visit_index: int, noise_rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """HU (int16) and labels (uint8) of one slice at one visit."""
    ret, ggo = pattern_weights(cut.disease, cut.lung, anatomy, visit_index)
    hu = cut.tissue.copy()
    add_pathology_hu(hu, cut.disease, ret, ggo)
    # Vessels and bronchi lie over the pathology: they stay visible inside fibrotic lung.
    hu += cut.vessels.vessel * (np.float32(_VESSEL_HU) - hu)
    hu += cut.vessels.bronchus_wall * (np.float32(_BRONCHUS_WALL_HU) - hu)
    hu += cut.vessels.bronchus_lumen * (np.float32(_BRONCHUS_LUMEN_HU) - hu)

    # Scanner point-spread function, then quantum noise.
    hu = ndimage.gaussian_filter(hu, sigma=_SCANNER_BLUR_PX, mode="nearest")
    hu += noise_rng.standard_normal((MATRIX, MATRIX), dtype=np.float32) * np.float32(anatomy.noise_sd)
    hu_int = np.clip(np.rint(hu), HU_MIN, HU_MAX).astype(np.int16)
    return hu_int, pattern_labels(ret, ggo, cut.lung)


def _slice_t(n_slices: int) -> np.ndarray:
    """Height of each slice in the lung, 0 apex .. 1 base; slice 0 is the base (ascending z)."""
    if n_slices == 1:
        return np.array([0.5])
    return np.linspace(1.0, 0.0, n_slices)


def _check_series_args(seed: int, n_slices: int, slice_spacing: float) -> None:
    check_seed(seed)
    if n_slices < 1:
        raise ValueError(f"n_slices must be >= 1, got {n_slices}")
    if slice_spacing <= 0:
        raise ValueError(f"slice_spacing must be > 0, got {slice_spacing}")


def phantom_visits_series(
    seed: int, patient_index: int, visit_indices: Sequence[int], n_slices: int = 24, slice_spacing: float = 5.0
) -> list[PhantomSeries]:
    """Several visits of one patient at once: the anatomy of each slice is computed only once."""
    _check_series_args(seed, n_slices, slice_spacing)
    patient = phantom_patient(seed, patient_index)
    anatomy = anatomy_draw(seed, patient_index, patient.pixel_spacing)
    tree = vessel_tree(seed, patient_index, anatomy)
    shape = (n_slices, MATRIX, MATRIX)
    hu = {v: np.empty(shape, dtype=np.int16) for v in visit_indices}
    labels = {v: np.empty(shape, dtype=np.uint8) for v in visit_indices}
    lung = np.empty(shape, dtype=bool)
    for slice_index, t in enumerate(_slice_t(n_slices)):
        cut = _slice_anatomy(seed, patient_index, slice_index, float(t), anatomy, tree, slice_spacing)
        lung[slice_index] = cut.lung
        for v in visit_indices:
            noise_rng = rng(seed, STREAM_NOISE, patient_index, v, slice_index)
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
    """Eq. 1 of the paper on the truth, by the platform's one Eq. 1: the phantom's true lung is the region."""
    return involvement_in_region(labels, lung, pixel_spacing, slice_spacing)
