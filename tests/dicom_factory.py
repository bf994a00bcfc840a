"""Small synthetic CT DICOM files for importer tests (64x64, real DICOM, written with pydicom)."""

from __future__ import annotations

import io
import zipfile
from datetime import date

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

SOURCE_PATIENT_NAME = "Doe^Jane^Secret"
SOURCE_PATIENT_ID = "HOSP-55501234"
SOURCE_BIRTH_DATE = "19580412"


def ct_slice(
    *,
    series_uid: str,
    study_uid: str,
    z: float,
    instance: int,
    rows: int = 64,
    columns: int = 64,
    pixel_spacing: tuple[float, float] = (0.7, 0.7),
    modality: str = "CT",
    sop_uid: str | None = None,
    hu: np.ndarray | None = None,
    patient_id: str = SOURCE_PATIENT_ID,
    study_date: date | None = date(2024, 3, 1),
) -> Dataset:
    """One CT slice whose pixels depend on its position (so no two slices share pixels)."""
    dataset = Dataset()
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset.file_meta.MediaStorageSOPClassUID = CTImageStorage
    dataset.SOPClassUID = CTImageStorage
    dataset.SOPInstanceUID = sop_uid or generate_uid(entropy_srcs=[series_uid, str(z), str(instance)])
    dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    dataset.StudyInstanceUID = study_uid
    dataset.SeriesInstanceUID = series_uid
    dataset.Modality = modality
    dataset.PatientName = SOURCE_PATIENT_NAME
    dataset.PatientID = patient_id
    dataset.PatientBirthDate = SOURCE_BIRTH_DATE
    dataset.PatientSex = "F"
    dataset.InstitutionName = "Saint Secret Hospital"
    dataset.ReferringPhysicianName = "House^Gregory"
    dataset.ImageComments = f"patient {SOURCE_PATIENT_NAME} follow-up"
    if study_date:
        dataset.StudyDate = study_date.strftime("%Y%m%d")
    dataset.SeriesNumber = 2
    dataset.InstanceNumber = instance
    dataset.ImagePositionPatient = [-100.0, -100.0, z]
    dataset.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    dataset.PixelSpacing = list(pixel_spacing)
    dataset.SliceThickness = 1.25
    dataset.Rows, dataset.Columns = rows, columns
    dataset.SamplesPerPixel = 1
    dataset.PhotometricInterpretation = "MONOCHROME2"
    dataset.BitsAllocated = dataset.BitsStored = 16
    dataset.HighBit = 15
    dataset.PixelRepresentation = 1
    dataset.RescaleIntercept = -1024
    dataset.RescaleSlope = 1
    if hu is None:
        yy, xx = np.mgrid[:rows, :columns]
        hu = np.where((yy - rows / 2) ** 2 + (xx - columns / 2) ** 2 < (rows / 3) ** 2, -850, 40)
        hu = hu + int(z * 10) % 97  # position-dependent texture
        hu[0, 0] = -1000
    dataset.PixelData = (np.asarray(hu, dtype=np.int16) + 1024).astype(np.int16).tobytes()
    return dataset


def to_bytes(dataset: Dataset) -> bytes:
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def ct_series(n: int = 4, *, spacing: float = 1.25, seed: str = "a", **overrides) -> list[Dataset]:
    """A consistent series of n slices, listed in shuffled order (the importer must sort)."""
    series_uid = generate_uid(entropy_srcs=["series", seed])
    study_uid = generate_uid(entropy_srcs=["study", seed])
    slices = [
        ct_slice(series_uid=series_uid, study_uid=study_uid, z=-i * spacing, instance=i + 1, **overrides)
        for i in range(n)
    ]
    return slices[1::2] + slices[::2]


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()
