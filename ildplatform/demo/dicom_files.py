"""Writing a phantom set: one CT Image Storage file per slice (512x512, int16, explicit VR little
endian, PHI-like tags on purpose so de-identification has something to remove), `truth.npz` with
the lung mask and label map beside each series, and `phantoms.json`, the manifest with the true
involvement of every visit. Same seed, same bytes.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

from ildplatform.labels import GGO, RETICULATION

from .identities import PhantomPatient, PhantomVisit, phantom_patient, phantom_uid, phantom_visit, referring_physician
from .randomness import STREAM_FILES, check_seed, rng
from .series import PhantomSeries, involvement_from_truth, phantom_visits_series
from .shapes import MATRIX

RESCALE_INTERCEPT = -1024  # stored value = HU + 1024, as most scanners write it
MANUFACTURER = "ILD-PHANTOM"
MANIFEST_NAME = "phantoms.json"
TRUTH_NAME = "truth.npz"
MANIFEST_FORMAT = "ild-phantom-set/1"

_FIXED_TAGS = {
    "SpecificCharacterSet": "ISO_IR 100",
    "Modality": "CT",
    "Manufacturer": MANUFACTURER,
    "InstitutionName": "St. Phantom General Hospital",
    "InstitutionAddress": "1 Imaging Way, Springfield",
    "StationName": "CTSCAN01",
    "StudyDescription": "CT CHEST HIGH RESOLUTION",
    "PerformingPhysicianName": "TECH^JANE",
    "OperatorsName": "OPERATOR^SAM",
    "ManufacturerModelName": "Phantom CT 512",
    "BodyPartExamined": "CHEST",
    "KVP": "120",
    "ConvolutionKernel": "STANDARD",
    "PatientPosition": "HFS",
    "SeriesNumber": 2,
    "AcquisitionNumber": 1,
    "ImageOrientationPatient": ["1", "0", "0", "0", "1", "0"],
    "PositionReferenceIndicator": "",
    "SamplesPerPixel": 1,
    "PhotometricInterpretation": "MONOCHROME2",
    "Rows": MATRIX,
    "Columns": MATRIX,
    "BitsAllocated": 16,
    "BitsStored": 16,
    "HighBit": 15,
    "PixelRepresentation": 1,
    "WindowCenter": "-600",  # lung window
    "WindowWidth": "1500",
    "RescaleIntercept": str(RESCALE_INTERCEPT),
    "RescaleSlope": "1",
    "RescaleType": "HU",
}


def _ds(value: float) -> str:
    """Decimal String within DICOM's 16 characters, without float noise."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _age(birth: dt.date, on: dt.date) -> str:
    years = on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))
    return f"{years:03d}Y"


def _series_tags(series: PhantomSeries, patient: PhantomPatient, visit: PhantomVisit) -> dict[str, object]:
    """The tags every slice of the series shares: patient, study, series, equipment and geometry."""
    date = visit.date.strftime("%Y%m%d")
    physician = referring_physician(patient, visit)
    given = patient.patient_name.split("^")[1].title()
    spacing = _ds(series.slice_spacing)
    return _FIXED_TAGS | {
        "ImageType": ["ORIGINAL", "PRIMARY", "AXIAL"],
        "SOPClassUID": CTImageStorage,
        **dict.fromkeys(("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate"), date),
        **dict.fromkeys(("StudyTime", "SeriesTime", "AcquisitionTime", "ContentTime"), visit.study_time),
        "AccessionNumber": visit.accession_number,
        "ReferringPhysicianName": physician,
        "SeriesDescription": f"Lung {spacing} STANDARD",
        "PatientName": patient.patient_name,
        "PatientID": patient.patient_id,
        "PatientBirthDate": patient.birth_date.strftime("%Y%m%d"),
        "PatientSex": patient.sex,
        "PatientAge": _age(patient.birth_date, visit.date),
        "PatientAddress": f"{10 + patient.index} Phantom Street, Springfield",
        "SliceThickness": spacing,
        "SpacingBetweenSlices": spacing,
        "ReconstructionDiameter": _ds(series.pixel_spacing * MATRIX),
        "PixelSpacing": [_ds(series.pixel_spacing), _ds(series.pixel_spacing)],
        "StudyInstanceUID": visit.study_instance_uid,
        "SeriesInstanceUID": visit.series_instance_uid,
        "FrameOfReferenceUID": visit.frame_of_reference_uid,
        "StudyID": str(1000 + 10 * patient.index + visit.index),
        # Free text with PHI in it, as referral notes often carry: de-identification must drop it.
        "ImageComments": (
            f"{given} Phantom (MRN {patient.patient_id}, DOB {patient.birth_date:%d.%m.%Y}) referred by "
            f"Dr {physician.split('^')[0].title()} for SSc-ILD {visit.label}; call 555-0100 with results."
        ),
    }


def _slice_dataset(series: PhantomSeries, index: int, shared: dict[str, object], sop_uid: str) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    for keyword, value in shared.items():
        setattr(ds, keyword, value)
    ds.SOPInstanceUID = sop_uid
    ds.InstanceNumber = index + 1
    # The image centre lies on the scanner axis; ImagePositionPatient is the first pixel's centre.
    origin = _ds(-(MATRIX - 1) / 2 * series.pixel_spacing)
    z = _ds(float(series.z_positions[index]))
    ds.ImagePositionPatient = [origin, origin, z]
    ds.SliceLocation = z
    stored = (series.hu[index].astype(np.int32) - RESCALE_INTERCEPT).astype("<i2")
    ds.PixelData = stored.tobytes()
    return ds


def series_datasets(series: PhantomSeries, patient: PhantomPatient, visit: PhantomVisit) -> list[Dataset]:
    """One CT Image Storage dataset per slice, InstanceNumber 1..K in array order."""
    shared = _series_tags(series, patient, visit)
    return [
        _slice_dataset(series, i, shared, phantom_uid(patient.seed, patient.index, visit.index, "sop", str(i)))
        for i in range(len(series.hu))
    ]


def _file_names(patient: PhantomPatient, visit: PhantomVisit, count: int) -> list[str]:
    """Random but reproducible names: the importer must sort slices by geometry, not by name."""
    draw = rng(patient.seed, STREAM_FILES, patient.index, visit.index)
    names: list[str] = []
    while len(names) < count:
        name = f"IM{draw.bytes(6).hex().upper()}.dcm"
        if name not in names:
            names.append(name)
    return names


def write_series_dicom(series: PhantomSeries, patient: PhantomPatient, visit: PhantomVisit, folder: Path) -> list[Path]:
    """Write the series as one .dcm per slice under names that do not reveal the slice order."""
    folder.mkdir(parents=True, exist_ok=True)
    names = _file_names(patient, visit, len(series.hu))
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


def _involvement_entry(series: PhantomSeries) -> dict[str, float | int]:
    """The true involvement (Eq. 1, core field names) with the pixel counts it was computed from."""
    lung = series.lung
    figures = involvement_from_truth(lung, series.labels, series.pixel_spacing, series.slice_spacing)
    counts = {
        "lung_pixels": int(lung.sum()),
        "reticulation_pixels": int(((series.labels == RETICULATION) & lung).sum()),
        "ggo_pixels": int(((series.labels == GGO) & lung).sum()),
    }
    rounded = {name: round(value, 6) for name, value in figures.as_dict().items()}
    return counts | rounded


def _visit_entry(series: PhantomSeries, patient: PhantomPatient, visit: PhantomVisit) -> dict:
    folder = f"{patient.folder}/{visit.folder}"
    return {
        "index": visit.index,
        "label": visit.label,
        "date": visit.date.isoformat(),
        "folder": folder,
        "truth": f"{folder}/{TRUTH_NAME}",
        "study_instance_uid": visit.study_instance_uid,
        "series_instance_uid": visit.series_instance_uid,
        "slice_count": int(series.hu.shape[0]),
        "rows": MATRIX,
        "columns": MATRIX,
        "pixel_spacing_mm": series.pixel_spacing,
        "slice_spacing_mm": series.slice_spacing,
        "involvement": _involvement_entry(series),
    }


def _write_patient(out: Path, seed: int, patient_index: int, visits: int, slices: int, slice_spacing: float) -> dict:
    """Write all visits of one patient; return its manifest entry."""
    patient = phantom_patient(seed, patient_index)
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
    for series in phantom_visits_series(seed, patient_index, range(visits), slices, slice_spacing):
        visit = phantom_visit(seed, patient_index, series.visit_index)
        folder = out / patient.folder / visit.folder
        write_series_dicom(series, patient, visit, folder)
        write_truth(series, folder / TRUTH_NAME)
        entry["visits"].append(_visit_entry(series, patient, visit))
    return entry


def write_phantom_set(
    out_dir: Path | str, patients: int, visits: int, seed: int, slices: int = 24, slice_spacing: float = 5.0
) -> dict:
    """Write OUT_DIR/<patient>/<visit>/*.dcm + truth.npz and OUT_DIR/phantoms.json; return the manifest.

    Refuses a non-empty out_dir: stale files with other random names would mix into the series.
    """
    check_seed(seed)
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
        "patients": [_write_patient(out, seed, p, visits, slices, slice_spacing) for p in range(patients)],
    }
    (out / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest
