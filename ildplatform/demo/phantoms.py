"""Synthetic SSc-ILD chest CT phantoms with exact ground truth: the public face of the generator.

Used by the tests and the demo: each patient visit becomes a real DICOM CT series (512x512, int16,
explicit VR little endian, PHI-like tags on purpose so de-identification has something to remove)
plus `truth.npz` with the lung mask and the reticulation/GGO label map the series was drawn from
(label values from `ildplatform.labels`; Eq. 1 from `ildplatform.involvement`).

Everything is a plain function of (seed, patient index, visit index, slice count): no Django, no
global state, and every random draw comes from its own `numpy.random.SeedSequence` stream, so a
visit looks the same whether it is generated alone or as part of a bigger set.

Geometry: rows run anterior -> posterior, columns patient right -> patient left (radiological
view, DICOM LPS with ImageOrientationPatient 1\\0\\0\\0\\1\\0). Arrays and InstanceNumber run in
ascending z, the platform's z order: slice 0 (InstanceNumber 1) is the lung base, the last slice the
apex. The anatomy is drawn over a nominal 250 mm lung height whatever the slice count, so a 4-slice
test series still looks like a chest.

Where each part lives: `identities` (who and when), `anatomy` and `chest_slice` (body, lungs,
mediastinum), `vessels` (vessel tree), `pathology` (reticulation, GGO, progression), `series`
(volumes and truth), `dicom_files` (DICOM, truth.npz, manifest).
"""

from __future__ import annotations

from .dicom_files import (
    MANIFEST_FORMAT,
    MANIFEST_NAME,
    MANUFACTURER,
    RESCALE_INTERCEPT,
    TRUTH_NAME,
    series_datasets,
    write_phantom_set,
    write_series_dicom,
    write_truth,
)
from .identities import PhantomPatient, PhantomVisit, phantom_patient, phantom_visit
from .series import HU_MAX, HU_MIN, PhantomSeries, involvement_from_truth, phantom_series, phantom_visits_series
from .shapes import MATRIX

__all__ = (
    "HU_MAX",
    "HU_MIN",
    "MANIFEST_FORMAT",
    "MANIFEST_NAME",
    "MANUFACTURER",
    "MATRIX",
    "RESCALE_INTERCEPT",
    "TRUTH_NAME",
    "PhantomPatient",
    "PhantomSeries",
    "PhantomVisit",
    "involvement_from_truth",
    "phantom_patient",
    "phantom_series",
    "phantom_visit",
    "phantom_visits_series",
    "series_datasets",
    "write_phantom_set",
    "write_series_dicom",
    "write_truth",
)
