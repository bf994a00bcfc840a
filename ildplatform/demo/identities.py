"""Who each phantom patient is and when each visit took place: PHI-like hospital identity on
purpose (so de-identification has something to remove), a pseudonym, visit dates and the
deterministic DICOM UIDs of every study, series and instance.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pydicom.uid import generate_uid

from .randomness import STREAM_PATIENT, STREAM_VISIT, check_seed, rng
from .shapes import MATRIX

UID_NAMESPACE = "ildplatform-phantom-v1"

_FEMALE_NAMES = (
    "ALICE BEATRICE CLARA DORA EDITH FIONA GRETA HELENA IRIS JUNE "
    "KARIN LUCIA MAREN NORA OLIVIA PAULA ROSA SOFIA TERESA VERA"
).split()
_MALE_NAMES = (
    "ARTHUR BRUNO CARL DAVID EMIL FELIX GUSTAV HUGO IVAN JONAS "
    "KARL LEON MARTIN NIKO OSKAR PETER RUBEN SIMON TOBIAS VIKTOR"
).split()
# 7 is coprime with 20 (names per sex): patients of one set get distinct names.
_NAME_STRIDE = 7
_PHYSICIANS = ("WELBY^MARCUS^^DR", "QUINN^MICHAELA^^DR", "KILDARE^JAMES^^DR", "GREY^MEREDITH^^DR")

# SSc is about four times more common in women.
_FEMALE_FRACTION = 0.8
_EARLIEST_BIRTH = dt.date(1950, 1, 1)
_BIRTH_SPAN_DAYS = 40 * 365
# The radiographer fits the reconstruction field of view to the body: 338..399 mm gives a pixel
# spacing of 0.66..0.78 mm (upper bounds exclusive, as numpy draws them).
_FOV_MM = {"F": (338, 385), "M": (352, 400)}

_EARLIEST_BASELINE = dt.date(2017, 1, 1)
_BASELINE_SPAN_DAYS = 4 * 365
_FOLLOW_UP_GAP_DAYS = (183, 427)  # 6 to 14 months
_STUDY_HOURS = (7, 18)


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


def phantom_patient(seed: int, patient_index: int) -> PhantomPatient:
    """Demographics, hospital identifiers and scanner pixel spacing of one phantom patient."""
    check_seed(seed)
    draw = rng(seed, STREAM_PATIENT, patient_index)
    number = patient_index + 1
    sex = "F" if draw.random() < _FEMALE_FRACTION else "M"
    names = _FEMALE_NAMES if sex == "F" else _MALE_NAMES
    given = names[(patient_index * _NAME_STRIDE + seed) % len(names)]
    birth_date = _EARLIEST_BIRTH + dt.timedelta(days=int(draw.integers(0, _BIRTH_SPAN_DAYS)))
    fov_mm = draw.integers(*_FOV_MM[sex])
    # Rounded so the DICOM value and the one used for volumes agree.
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


def phantom_uid(seed: int, patient_index: int, visit_index: int, *kind: str) -> str:
    """The same UID for the same phantom object on every run (study, series, SOP instance ...)."""
    entropy = [UID_NAMESPACE, str(seed), str(patient_index), str(visit_index), *kind]
    return str(generate_uid(entropy_srcs=entropy))


def _visit_date(seed: int, patient_index: int, visit_index: int) -> dt.date:
    baseline_draw = rng(seed, STREAM_VISIT, patient_index, 0)
    date = _EARLIEST_BASELINE + dt.timedelta(days=int(baseline_draw.integers(0, _BASELINE_SPAN_DAYS)))
    for follow_up in range(1, visit_index + 1):
        # Per-visit streams: visit v's date does not depend on how many visits are generated.
        gap_draw = rng(seed, STREAM_VISIT, patient_index, follow_up)
        date += dt.timedelta(days=int(gap_draw.integers(*_FOLLOW_UP_GAP_DAYS)))
    return date


def phantom_visit(seed: int, patient_index: int, visit_index: int) -> PhantomVisit:
    """Date (baseline, then follow-ups 6-14 months apart) and deterministic UIDs of one visit."""
    check_seed(seed)
    date = _visit_date(seed, patient_index, visit_index)
    draw = rng(seed, STREAM_VISIT, patient_index, visit_index, 1)
    study_time = (
        f"{int(draw.integers(*_STUDY_HOURS)):02d}{int(draw.integers(0, 60)):02d}{int(draw.integers(0, 60)):02d}"
    )
    return PhantomVisit(
        index=visit_index,
        label="baseline" if visit_index == 0 else f"follow-up {visit_index}",
        date=date,
        study_time=study_time,
        study_instance_uid=phantom_uid(seed, patient_index, visit_index, "study"),
        series_instance_uid=phantom_uid(seed, patient_index, visit_index, "series"),
        frame_of_reference_uid=phantom_uid(seed, patient_index, visit_index, "frame-of-reference"),
        accession_number=f"A{int(draw.integers(10**8, 10**9))}",
        folder=f"visit_{visit_index:02d}",
    )


def referring_physician(patient: PhantomPatient, visit: PhantomVisit) -> str:
    """DICOM person name of the physician who asked for this visit's CT."""
    draw = rng(patient.seed, STREAM_VISIT, patient.index, visit.index, 2)
    return _PHYSICIANS[int(draw.integers(len(_PHYSICIANS)))]
