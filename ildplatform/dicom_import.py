"""Reading, checking, ordering and de-identifying CT DICOM files (no Django here).

The import service calls these in order: `read_sources` (files, folders, zips) -> `parse_instance`
per file -> `assemble_series` (group, check, order) -> `deidentify_instance` before storing. Every
refusal is a `FileProblem` naming the file and the reason, so one import reports all its problems.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import math
import os
import tempfile
import warnings
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path, PurePosixPath

import numpy as np
import pydicom
from dicognito.anonymizer import Anonymizer
from dicognito.element_anonymizer import ElementAnonymizer
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from .parallel import fork_map

CT_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.2",  # CT Image Storage
    "1.2.840.10008.5.1.4.1.1.2.1",  # Enhanced CT Image Storage
}
AXIAL_ORIENTATION = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
GEOMETRY_TOLERANCE = 1e-3
NOT_DICOM = "not a DICOM file"
PIXEL_DATA_TAG = 0x7FE00010
# Dates are kept (the longitudinal trend needs them): the "retain longitudinal temporal
# information" option of PS3.15. Birth date is not among them.
KEPT_TEMPORAL_KEYWORDS = (
    "StudyDate",
    "SeriesDate",
    "AcquisitionDate",
    "ContentDate",
    "StudyTime",
    "SeriesTime",
    "AcquisitionTime",
    "ContentTime",
    "AcquisitionDateTime",
)
# Free text that may carry names or history; dicognito leaves these, PS3.15 removes them.
FREE_TEXT_KEYWORDS = (
    "ImageComments",
    "PatientComments",
    "StudyComments",
    "AdditionalPatientHistory",
    "RequestedProcedureComments",
    "ImagingServiceRequestComments",
    "InterpretationText",
    "DerivationDescription",
    "PatientBirthDate",
    "PatientBirthTime",
    "PatientBirthName",
    "PatientMotherBirthName",
    "OtherPatientIDsSequence",
    "OtherPatientNames",
    "PatientAddress",
    "MedicalAlerts",
    "Allergies",
    "EthnicGroup",
    "PatientState",
    "PregnancyStatus",
    "RequestAttributesSequence",
    "OperatorsName",
    "PerformingPhysicianName",
    "NameOfPhysiciansReadingStudy",
    "ReferringPhysicianName",
    "PhysiciansOfRecord",
    "InstitutionName",
    "InstitutionAddress",
    "InstitutionalDepartmentName",
    "StationName",
    "DeviceSerialNumber",
    "ProtocolName",
    "PatientAge",
    "PatientSize",
    "PatientWeight",
)


@dataclass(frozen=True)
class SourceFile:
    name: str
    data: bytes
    # Found inside a folder or archive rather than named by the user: a file there that is not
    # DICOM at all (a README, a checksum list) is skipped and reported instead of refused.
    found_in_container: bool = False


@dataclass(frozen=True)
class FileProblem:
    file: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.reason}"


@dataclass(frozen=True)
class ArchiveLimits:
    max_uncompressed_bytes: int
    max_members: int
    # A member this much larger than its compressed bytes is a bomb, not a scan (CT DICOM deflates 2-10x);
    # checked on members over RATIO_CHECKED_FROM_BYTES, since tiny repetitive text files compress well too.
    max_compression_ratio: float = 100.0


RATIO_CHECKED_FROM_BYTES = 1024**2


@dataclass
class ParsedInstance:
    source: SourceFile
    dataset: Dataset
    hu: np.ndarray  # int16 (rows, columns)
    pixel_digest: str
    sop_uid: str
    series_key: str
    study_key: str
    patient_key: str
    position: tuple[float, float, float] | None
    orientation: tuple[float, ...]
    instance_number: int | None
    pixel_spacing: tuple[float, float]
    prepared: object = None  # what `parse_instances`' `prepare` made of the file (the import: its stored form)


@dataclass
class SeriesGroup:
    """One series, checked and ordered by increasing position along the slice normal."""

    series_key: str
    study_key: str
    patient_key: str
    instances: list[ParsedInstance]
    z_positions: list[float]
    slice_spacing: float
    duplicates_dropped: list[str] = field(default_factory=list)

    @property
    def first(self) -> Dataset:
        return self.instances[0].dataset

    def hu_volume_npy(self) -> bytes:
        """The HU volume (z, y, x) as a .npy file: the slices copied once, straight into the file's bytes
        (np.stack then np.save into a buffer copied 130 MB three times for a 250-slice series)."""
        slices = [np.ascontiguousarray(instance.hu, dtype="<i2") for instance in self.instances]
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            header, {"descr": "<i2", "fortran_order": False, "shape": (len(slices), *slices[0].shape)}
        )
        return b"".join([header.getvalue(), *(memoryview(hu).cast("B") for hu in slices)])


# ---------------------------------------------------------------- reading files, folders, zips


def read_sources(paths: Iterable[Path], limits: ArchiveLimits) -> tuple[list[SourceFile], list[FileProblem]]:
    """Expand files, folders (recursively) and .zip archives into in-memory files."""
    sources: list[SourceFile] = []
    problems: list[FileProblem] = []
    for path in paths:
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
            if not files:
                problems.append(FileProblem(str(path), "folder holds no files"))
        elif path.is_file():
            files = [path]
        else:
            problems.append(FileProblem(str(path), "no such file or folder"))
            continue
        for file_path in files:
            data = file_path.read_bytes()
            if looks_like_zip(file_path.name, data):
                members, archive_problems = expand_zip(str(file_path), data, limits)
                sources.extend(members)
                problems.extend(archive_problems)
            else:
                sources.append(SourceFile(str(file_path), data, found_in_container=path.is_dir()))
    return sources, problems


def looks_like_zip(name: str, data: bytes) -> bool:
    return name.lower().endswith(".zip") or data[:4] == b"PK\x03\x04"


def _unsafe_member_name(name: str) -> bool:
    posix = PurePosixPath(name.replace("\\", "/"))
    return posix.is_absolute() or ".." in posix.parts or (len(name) > 1 and name[1] == ":")


def expand_zip(archive_name: str, data: bytes, limits: ArchiveLimits) -> tuple[list[SourceFile], list[FileProblem]]:
    """Members of a zip archive, refused whole when it is unsafe or too large."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = [info for info in archive.infolist() if not info.is_dir()]
    except Exception as error:  # zipfile raises many kinds on a damaged directory (version 9.9 is one)
        return [], [FileProblem(archive_name, f"corrupt zip archive ({error})")]
    unsafe = [info.filename for info in members if _unsafe_member_name(info.filename)]
    if unsafe:
        return [], [FileProblem(archive_name, f"archive member path escapes the archive: {unsafe[0]!r}")]
    if len(members) > limits.max_members:
        return [], [
            FileProblem(archive_name, f"archive has {len(members)} members, over the limit of {limits.max_members}")
        ]
    declared = sum(info.file_size for info in members)
    if declared > limits.max_uncompressed_bytes:
        return [], [
            FileProblem(
                archive_name,
                f"archive expands to {declared} bytes, over the limit of {limits.max_uncompressed_bytes} bytes",
            )
        ]
    bomb = next(
        (
            info
            for info in members
            if info.file_size > RATIO_CHECKED_FROM_BYTES
            and info.file_size > limits.max_compression_ratio * max(info.compress_size, 1)
        ),
        None,
    )
    if bomb is not None:
        ratio = bomb.file_size / max(bomb.compress_size, 1)
        reason = (
            f"member expands {ratio:.0f} times ({bomb.compress_size} to {bomb.file_size} bytes), over the limit of "
            f"{limits.max_compression_ratio:.0f}: a zip bomb, not a scan"
        )
        return [], [FileProblem(f"{archive_name}!{bomb.filename}", reason)]
    sources = []
    remaining = limits.max_uncompressed_bytes
    for info in members:
        if PurePosixPath(info.filename).name.startswith("."):
            continue
        if info.flag_bits & 0x1:
            return [], [FileProblem(f"{archive_name}!{info.filename}", "encrypted archive member: needs a password")]
        try:
            with archive.open(info) as member:
                # zipfile stops at the declared size (and then fails the CRC of a member that lied about it),
                # so the declared sizes checked above bound what is decompressed; the budget is kept anyway.
                content = member.read(min(remaining, info.file_size) + 1)
        except Exception as error:  # as above, for a damaged member
            return [], [FileProblem(f"{archive_name}!{info.filename}", f"corrupt archive member ({error})")]
        remaining -= len(content)
        if remaining < 0:
            return [], [
                FileProblem(
                    archive_name,
                    f"archive expands to more than the limit of {limits.max_uncompressed_bytes} bytes",
                )
            ]
        sources.append(SourceFile(f"{archive_name}!{info.filename}", content, found_in_container=True))
    if not sources:
        return [], [FileProblem(archive_name, "archive holds no files")]
    return sources, []


# ---------------------------------------------------------------- one file


def derived_uid(*parts: object) -> str:
    """A UID under the 2.25 (UUID-derived) root, the same for the same attributes."""
    digest = hashlib.sha256("\x1f".join(str(part) for part in parts).encode()).hexdigest()
    return "2.25." + str(int(digest[:30], 16))


def _text(dataset: Dataset, keyword: str) -> str:
    try:
        value = dataset.get(keyword, "")
    except Exception as error:  # an unknown VR or a value its VR cannot hold
        raise HeaderRefused(f"{keyword} cannot be read ({str(error)[:120]})") from error
    return "" if value is None else str(value).strip()


def text_values(dataset: Dataset, keyword: str) -> str:
    """A text element that may hold several values (ConvolutionKernel, ImageType) as DICOM writes it,
    values separated by a backslash; pydicom gives one value as a plain str, several as a MultiValue."""
    value = dataset.get(keyword)
    if value is None or value == "":
        return ""
    # A file that gives the element a numeric VR holds a number here, not text: written as text too.
    values = list(value) if isinstance(value, MultiValue | list | tuple) else [value]
    return "\\".join(str(v).strip() for v in values)


class HeaderRefused(Exception):
    """A header element that cannot be read or makes no physical sense; the message names it."""


# The physical range each number may take; anything else (NaN, inf, 1e308, a zero spacing) is refused
# rather than carried into areas, volumes and positions.
NUMBER_RANGES = {
    "PixelSpacing": (1e-3, 50.0),
    "SliceThickness": (1e-3, 100.0),
    "SpacingBetweenSlices": (1e-3, 100.0),
    "RescaleSlope": (1e-6, 1e3),
    "RescaleIntercept": (-1e5, 1e5),
    "ImagePositionPatient": (-1e5, 1e5),
    "ImageOrientationPatient": (-1.0 - 1e-3, 1.0 + 1e-3),
    "NumberOfFrames": (1, 1e6),
    "Rows": (1, 65535),
    "Columns": (1, 65535),
}
# The longest value DICOM allows for the elements that identify a patient, study, series or image.
TEXT_LIMITS = {"PatientID": 64, "PatientName": 324, "PatientBirthDate": 18, "PatientSex": 16,
               "StudyInstanceUID": 64, "SeriesInstanceUID": 64, "SOPInstanceUID": 64, "SOPClassUID": 64,
               "FrameOfReferenceUID": 64, "AccessionNumber": 16, "StudyID": 16, "StudyDate": 18,
               "Modality": 16}  # fmt: skip


def header_numbers(dataset: Dataset, keyword: str, count: int) -> tuple[float, ...] | None:
    """The element's `count` numbers, each finite and inside NUMBER_RANGES; None when it is absent or
    empty. Raises HeaderRefused naming the element and the value otherwise."""
    try:
        value = dataset.get(keyword)
        if value is None or value == "":
            return None
        values = [value] if isinstance(value, (str, int, float)) else list(value)
        numbers = tuple(float(v) for v in values)
    except Exception as error:  # unknown VR, text where a number belongs: pydicom raises many kinds
        raise HeaderRefused(f"{keyword} cannot be read as a number ({str(error)[:120]})") from error
    if len(numbers) != count:
        raise HeaderRefused(f"{keyword} must have {count} value(s), not {len(numbers)}")
    low, high = NUMBER_RANGES[keyword]
    for number in numbers:
        if not (math.isfinite(number) and low <= number <= high):
            raise HeaderRefused(f"{keyword} {number!r} is not a plausible value (allowed: {low:g} to {high:g})")
    return numbers


def header_orientation(dataset: Dataset) -> tuple[float, ...]:
    """ImageOrientationPatient: two unit vectors at right angles (axial when absent)."""
    orientation = header_numbers(dataset, "ImageOrientationPatient", 6)
    if orientation is None:
        return AXIAL_ORIENTATION
    row, column = np.asarray(orientation[:3]), np.asarray(orientation[3:])
    if abs(np.linalg.norm(row) - 1) > 0.01 or abs(np.linalg.norm(column) - 1) > 0.01 or abs(row @ column) > 0.01:
        raise HeaderRefused(f"ImageOrientationPatient {list(orientation)} is not two unit vectors at right angles")
    return orientation


MAX_SEQUENCE_DEPTH = 8


def check_every_element_readable(dataset: Dataset, depth: int = 0) -> None:
    """Every element decodes. pydicom decodes lazily, so a damaged element the importer never reads (a
    3-byte HighBit, a text VR on a binary tag) would fail later, in de-identification or when the file is
    written. Private elements are dropped here, as de-identification drops them anyway."""
    if depth > MAX_SEQUENCE_DEPTH:
        raise HeaderRefused(f"sequences nested deeper than {MAX_SEQUENCE_DEPTH} levels")
    for tag in list(dataset.keys()):
        if tag.is_private:
            del dataset[tag]
            continue
        try:
            element = dataset[tag]
        except Exception as error:  # pydicom raises many kinds on a damaged value
            named = f"{tag} {pydicom.datadict.keyword_for_tag(tag)}".strip()
            raise HeaderRefused(f"element {named} cannot be read ({str(error)[:160]})") from error
        if element.VR == "SQ":
            for item in element.value:
                check_every_element_readable(item, depth + 1)


def check_identity_text(dataset: Dataset) -> None:
    """The identifying text elements are text of a length DICOM allows (a 70,000-byte PatientID is not)."""
    for keyword, limit in TEXT_LIMITS.items():
        try:
            value = dataset.get(keyword)
        except Exception as error:
            raise HeaderRefused(f"{keyword} cannot be read ({str(error)[:120]})") from error
        if value is None:
            continue
        if isinstance(value, (bytes, bytearray)):
            raise HeaderRefused(f"{keyword} is raw bytes of an unknown encoding, not text")
        if len(str(value)) > limit:
            raise HeaderRefused(f"{keyword} is {len(str(value))} characters long, more than DICOM allows ({limit})")


def _read_dataset(source: SourceFile) -> Dataset | FileProblem:
    try:
        dataset = pydicom.dcmread(io.BytesIO(source.data))
        if "SOPClassUID" not in dataset and "PixelData" not in dataset:
            return FileProblem(source.name, "corrupt or incomplete DICOM: no SOP Class UID and no pixel data readable")
        return dataset
    except InvalidDicomError:
        pass
    except Exception as error:  # pydicom raises many kinds on a damaged header
        return FileProblem(source.name, f"truncated or corrupt DICOM header ({error})")
    # Files without the 128-byte preamble are still DICOM if an image SOP class is inside; such a file
    # starts with a low group (meta 0002, directory 0004, identification 0008). Anything else is not
    # forced through the parser, which would only log noise about it.
    if source.data[:2] not in (b"\x02\x00", b"\x04\x00", b"\x08\x00", b"\x00\x08"):
        return FileProblem(source.name, NOT_DICOM)
    try:
        with warnings.catch_warnings():  # forcing a non-DICOM file through the parser warns a lot
            warnings.simplefilter("ignore")
            dataset = pydicom.dcmread(io.BytesIO(source.data), force=True)
        if "SOPClassUID" not in dataset:
            raise InvalidDicomError
    except Exception:
        return FileProblem(source.name, NOT_DICOM)
    if "TransferSyntaxUID" not in dataset.file_meta:
        # A raw dataset: its encoding is what the parser found, which is what the pixel decoder needs.
        implicit, little = dataset.original_encoding
        dataset.file_meta.TransferSyntaxUID = (
            ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian if little else ExplicitVRBigEndian
        )
    return dataset


def hounsfield_units(pixels: np.ndarray, slope: float, intercept: float) -> np.ndarray:
    """Stored values -> int16 HU: round(value x slope + intercept) in float32, clipped to int16.

    With a slope of 1 and a whole intercept (nearly every CT) that is integer addition, ~5x faster; the
    float32 form gives the same numbers there, as it holds stored values (< 2^24) exactly."""
    if slope == 1.0 and float(intercept).is_integer() and pixels.dtype.kind in "iu" and pixels.itemsize <= 2:
        shifted = pixels.astype(np.int32) + int(intercept)
        return np.clip(shifted, -32768, 32767, out=shifted).astype(np.int16)
    return np.clip(np.rint(pixels.astype(np.float32) * slope + intercept), -32768, 32767).astype(np.int16)


def parse_instances(
    sources: list[SourceFile],
    allowed_modalities: Iterable[str] = (),
    prepare: Callable[[ParsedInstance], object] | None = None,
) -> list[ParsedInstance | FileProblem]:
    """`parse_instance` of each source, in order, spread over the CPUs for a series-sized upload
    (decoding holds the GIL and is most of an import's time; see `ildplatform.parallel`).

    `prepare`, where given, runs on each parsed instance in the same worker, on a dataset of its own read
    from the same bytes (pixel data included; it may change it), and what it returns is the instance's
    `prepared`: the import de-identifies and encodes each file there, in the one pass over the files.
    """
    allowed = tuple(allowed_modalities)
    importing_process = os.getpid()
    # A forked worker hands each slice's HU back through a file in this private folder, not the pipe
    # (pickled, 0.5 MB a slice cost the importing process ~0.3 s a series); nothing else goes there.
    with tempfile.TemporaryDirectory(prefix="ild-parse-") as folder:

        def parsed_here_or_in_worker(index: int) -> ParsedInstance | FileProblem:
            parsed = _parsed_and_prepared(sources[index], allowed, prepare)
            if isinstance(parsed, ParsedInstance) and os.getpid() != importing_process:
                _sent_back_lightly(parsed, Path(folder) / f"{index}.npy")
            return parsed

        parsed = fork_map(parsed_here_or_in_worker, len(sources))
        for index, (source, result) in enumerate(zip(sources, parsed, strict=True)):
            if isinstance(result, ParsedInstance):
                result.source = source  # the file bytes stay here rather than travel back from a worker
                if result.hu is None:
                    result.hu = np.load(Path(folder) / f"{index}.npy")
    return parsed


def _parsed_and_prepared(
    source: SourceFile, allowed: tuple[str, ...], prepare: Callable[[ParsedInstance], object] | None
) -> ParsedInstance | FileProblem:
    parsed = parse_instance(source, allowed)
    if isinstance(parsed, ParsedInstance) and prepare is not None:
        parsed.prepared = prepare(replace(parsed, dataset=_read_dataset(source)))
    return parsed


def _sent_back_lightly(parsed: ParsedInstance, hu_file: Path) -> None:
    """What a parse worker sends back: no file bytes, the header without its pixel data (the stored
    pixel data is taken from the file again where needed, `with_pixel_data`; pickling a whole dataset
    costs as much as parsing it), and the HU in `hu_file`."""
    parsed.source = SourceFile(parsed.source.name, b"", parsed.source.found_in_container)
    del parsed.dataset[PIXEL_DATA_TAG]
    np.save(hu_file, parsed.hu)
    parsed.hu = None


def with_pixel_data(instance: ParsedInstance) -> Dataset:
    """The instance's dataset with its pixel data element as the file holds it (a parse worker sent the
    header alone)."""
    dataset = instance.dataset
    if PIXEL_DATA_TAG not in dataset:  # read as the parse read it (a file without preamble too)
        dataset[PIXEL_DATA_TAG] = _read_dataset(instance.source)[PIXEL_DATA_TAG]
    return dataset


def parse_instance(source: SourceFile, allowed_modalities: Iterable[str] = ()) -> ParsedInstance | FileProblem:
    """Read one file into HU pixels and geometry, or say why it cannot be imported."""
    dataset = _read_dataset(source)
    if isinstance(dataset, FileProblem):
        return dataset
    try:
        return _parse_image(source, dataset, allowed_modalities)
    except HeaderRefused as refused:
        return FileProblem(source.name, str(refused))


def _parse_image(
    source: SourceFile, dataset: Dataset, allowed_modalities: Iterable[str]
) -> ParsedInstance | FileProblem:
    name = source.name
    check_every_element_readable(dataset)
    if getattr(dataset, "file_meta", None):
        check_every_element_readable(dataset.file_meta)
    check_identity_text(dataset)
    sop_class = _text(dataset, "SOPClassUID")
    modality = _text(dataset, "Modality").upper()
    allowed = {"CT"} | {m.upper() for m in allowed_modalities}
    if "PixelData" not in dataset:
        what = pydicom.uid.UID(sop_class).name if sop_class else "unknown SOP class"
        return FileProblem(name, f"not an image: no pixel data ({what})")
    if modality and modality not in allowed:
        return FileProblem(name, f"modality {modality} is not CT (use --allow-modality {modality} to import it)")
    if not modality and sop_class not in CT_SOP_CLASSES and not allowed - {"CT"}:
        return FileProblem(name, "no Modality and not a CT SOP class: cannot tell it is CT")
    frames = header_numbers(dataset, "NumberOfFrames", 1)
    if frames and frames[0] > 1:
        return FileProblem(name, "multi-frame images are not supported (one slice per file)")
    rows, columns = (int((header_numbers(dataset, keyword, 1) or (0,))[0]) for keyword in ("Rows", "Columns"))
    if rows < 16 or columns < 16:
        return FileProblem(name, f"image size {rows}x{columns} is missing or too small")
    pixel_spacing = header_numbers(dataset, "PixelSpacing", 2)
    if not pixel_spacing:
        return FileProblem(name, "no valid PixelSpacing: areas and volumes would be meaningless")
    for keyword in ("SliceThickness", "SpacingBetweenSlices"):
        header_numbers(dataset, keyword, 1)  # optional, but never nonsense
    slope = (header_numbers(dataset, "RescaleSlope", 1) or (1.0,))[0]
    intercept = (header_numbers(dataset, "RescaleIntercept", 1) or (0.0,))[0]
    orientation = header_orientation(dataset)
    position = header_numbers(dataset, "ImagePositionPatient", 3)
    try:
        # Decoded without caching it on the dataset: the HU below is what is kept (and a parse worker
        # sends the dataset back to the importing process, see `parse_instances`).
        pixels = pydicom.pixels.pixel_array(dataset)
    except Exception as error:
        syntax = dataset.file_meta.get("TransferSyntaxUID", "unknown") if dataset.file_meta else "unknown"
        return FileProblem(name, f"pixel data cannot be decoded, truncated or corrupt ({syntax}: {error})")
    if pixels.shape != (rows, columns):
        return FileProblem(name, f"pixel data shape {pixels.shape} does not match Rows x Columns {rows}x{columns}")
    hu = hounsfield_units(pixels, slope, intercept)
    pixel_digest = hashlib.blake2b(hu.tobytes(), digest_size=16).hexdigest()

    try:
        instance_number = dataset.get("InstanceNumber")
        instance_number = int(instance_number) if instance_number not in (None, "") else None
    except Exception as error:
        raise HeaderRefused(f"InstanceNumber is not a whole number ({str(error)[:120]})") from error

    patient_name, birth_date = _text(dataset, "PatientName"), _text(dataset, "PatientBirthDate")
    patient_key = _text(dataset, "PatientID") or (
        derived_uid(patient_name, birth_date, _text(dataset, "PatientSex")) if patient_name or birth_date else ""
    )
    study_key = _text(dataset, "StudyInstanceUID") or derived_uid(
        "study", patient_key, _text(dataset, "StudyDate"), _text(dataset, "StudyTime"),
        _text(dataset, "AccessionNumber"), _text(dataset, "StudyID"),
    )  # fmt: skip
    if not patient_key:
        # Nothing identifies the patient: two such studies must never become one patient's visits, so each
        # study is a patient of its own until a user files it under a pseudonym.
        patient_key = derived_uid("patient of study", study_key)
    # Everything that tells two series apart goes in, so that two series never merge.
    series_key = _text(dataset, "SeriesInstanceUID") or derived_uid(
        "series", study_key, _text(dataset, "SeriesNumber"), _text(dataset, "SeriesDate"),
        _text(dataset, "SeriesTime"), modality, _text(dataset, "FrameOfReferenceUID"),
        _text(dataset, "SeriesDescription"), _text(dataset, "ConvolutionKernel"), orientation,
        pixel_spacing, rows, columns, _text(dataset, "SliceThickness"),
    )  # fmt: skip
    sop_uid = _text(dataset, "SOPInstanceUID") or derived_uid(
        "sop", series_key, pixel_digest, position, instance_number
    )
    return ParsedInstance(
        source=source,
        dataset=dataset,
        hu=hu,
        pixel_digest=pixel_digest,
        sop_uid=sop_uid,
        series_key=series_key,
        study_key=study_key,
        patient_key=patient_key,
        position=position,
        orientation=orientation,
        instance_number=instance_number,
        pixel_spacing=(pixel_spacing[0], pixel_spacing[1]),
    )


# ---------------------------------------------------------------- one series


def _slice_normal(orientation: tuple[float, ...]) -> np.ndarray:
    return np.cross(np.asarray(orientation[:3]), np.asarray(orientation[3:]))


def _most_common(values: list) -> object:
    return Counter(values).most_common(1)[0][0]


def _check_consistent(instances: list[ParsedInstance]) -> list[FileProblem]:
    problems = []
    size = _most_common([i.hu.shape for i in instances])
    spacing = _most_common([i.pixel_spacing for i in instances])
    orientation = _most_common([i.orientation for i in instances])
    patient = _most_common([i.patient_key for i in instances])
    for instance in instances:
        name = instance.source.name
        if instance.hu.shape != size:
            problems.append(
                FileProblem(
                    name,
                    f"size {instance.hu.shape[0]}x{instance.hu.shape[1]} differs from "
                    f"{size[0]}x{size[1]} of the rest of its series",
                )  # fmt: skip
            )
        elif not np.allclose(instance.pixel_spacing, spacing, atol=GEOMETRY_TOLERANCE):
            problems.append(
                FileProblem(
                    name,
                    f"pixel spacing {instance.pixel_spacing} differs from {spacing} of the rest of its series",
                )
            )
        elif not np.allclose(instance.orientation, orientation, atol=GEOMETRY_TOLERANCE):
            problems.append(FileProblem(name, "image orientation differs from the rest of its series"))
        elif instance.patient_key != patient:
            problems.append(FileProblem(name, "belongs to another patient than the rest of its series"))
    return problems


def _drop_duplicates(
    instances: list[ParsedInstance],
) -> tuple[list[ParsedInstance], list[str], list[FileProblem]]:
    kept: dict[str, ParsedInstance] = {}
    by_pixels: dict[str, ParsedInstance] = {}
    dropped, problems = [], []
    for instance in instances:
        name = instance.source.name
        twin = kept.get(instance.sop_uid)
        if twin is not None:
            if twin.pixel_digest == instance.pixel_digest:
                dropped.append(name)  # the same file twice: harmless
            else:
                problems.append(FileProblem(name, f"same SOP Instance UID as {twin.source.name} but different pixels"))
            continue
        pixel_twin = by_pixels.get(instance.pixel_digest)
        if pixel_twin is not None:
            problems.append(
                FileProblem(
                    name,
                    f"same pixels as {pixel_twin.source.name} under another SOP Instance UID "
                    "(a duplicated slice, not a new one)",
                )
            )
            continue
        kept[instance.sop_uid] = instance
        by_pixels[instance.pixel_digest] = instance
    return list(kept.values()), dropped, problems


def _order(instances: list[ParsedInstance]) -> tuple[list[ParsedInstance], list[float]] | FileProblem:
    if all(i.position is not None for i in instances):
        normal = _slice_normal(instances[0].orientation)
        keyed = [(float(np.dot(i.position, normal)), i) for i in instances]
    elif all(i.instance_number is not None for i in instances):
        keyed = [(float(i.instance_number), i) for i in instances]
    else:
        return FileProblem(
            instances[0].source.name, "cannot order the series: no ImagePositionPatient or InstanceNumber"
        )
    keyed.sort(key=lambda pair: pair[0])
    for (z_a, a), (z_b, b) in zip(keyed, keyed[1:], strict=False):
        if abs(z_b - z_a) < GEOMETRY_TOLERANCE:
            return FileProblem(b.source.name, f"same slice position as {a.source.name} with different pixels")
    return [i for _, i in keyed], [z for z, _ in keyed]


def _slice_spacing(instances: list[ParsedInstance], z_positions: list[float]) -> float | FileProblem:
    if len(z_positions) < 2:
        dataset = instances[0].dataset
        for keyword in ("SpacingBetweenSlices", "SliceThickness"):
            value = dataset.get(keyword)
            if value not in (None, "") and float(value) > 0:
                return float(value)
        return 1.0
    gaps = np.diff(z_positions)
    step = float(np.median(gaps))
    for index, gap in enumerate(gaps):
        if abs(gap - step) > max(0.01, 0.1 * step):
            return FileProblem(
                instances[index + 1].source.name,
                f"uneven slice spacing: {gap:.3g} mm after {instances[index].source.name} where the "
                f"series steps {step:.3g} mm (missing or extra slice?)",
            )
    return step


def assemble_series(instances: list[ParsedInstance]) -> tuple[list[SeriesGroup], list[FileProblem]]:
    """Group files into series, refuse inconsistent ones, and order the slices."""
    by_series: dict[str, list[ParsedInstance]] = defaultdict(list)
    for instance in instances:
        by_series[instance.series_key].append(instance)
    groups, problems = [], []
    for series_key, members in by_series.items():
        members, dropped, duplicate_problems = _drop_duplicates(members)
        series_problems = duplicate_problems + _check_consistent(members)
        if not series_problems:
            ordered = _order(members)
            if isinstance(ordered, FileProblem):
                series_problems.append(ordered)
            else:
                members, z_positions = ordered
                spacing = _slice_spacing(members, z_positions)
                if isinstance(spacing, FileProblem):
                    series_problems.append(spacing)
        if series_problems:
            problems.extend(series_problems)
            continue
        groups.append(
            SeriesGroup(
                series_key=series_key,
                study_key=members[0].study_key,
                patient_key=members[0].patient_key,
                instances=members,
                z_positions=z_positions,
                slice_spacing=spacing,
                duplicates_dropped=dropped,
            )
        )
    return groups, problems


# ---------------------------------------------------------------- patient facts and de-identification


def keyed_hash(salt: str, value: str) -> str:
    return hmac.new(salt.encode(), value.encode(), hashlib.sha256).hexdigest()


def pseudonym_for(salt: str, patient_key: str) -> str:
    return "P-" + keyed_hash(salt, patient_key)[:10].upper()


def _parse_da(value: str) -> date | None:
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:8]))
    except (TypeError, ValueError, IndexError):
        return None


def study_date(dataset: Dataset) -> date | None:
    for keyword in ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate"):
        parsed = _parse_da(_text(dataset, keyword))
        if parsed:
            return parsed
    return None


def patient_sex(dataset: Dataset) -> str:
    sex = _text(dataset, "PatientSex").upper()[:1]
    return sex if sex in {"F", "M", "O"} else "U"


def birth_year(dataset: Dataset) -> int | None:
    born = _parse_da(_text(dataset, "PatientBirthDate"))
    if born:
        return born.year
    age, seen = _text(dataset, "PatientAge"), study_date(dataset)
    if seen and len(age) == 4 and age[:3].isdigit() and age[3] == "Y":
        return seen.year - int(age[:3])
    return None


def make_deidentifier(salt: str) -> Anonymizer:
    """dicognito's PS3.15-style anonymizer, keyed by the salt so UIDs map the same way every time."""
    anonymizer = Anonymizer(seed=salt)
    anonymizer.add_element_handler(KeptValues(KEPT_TEMPORAL_KEYWORDS))
    return anonymizer


class KeptValues(ElementAnonymizer):
    """dicognito's ValueKeeper for several elements at once: one set lookup per element instead of a
    handler per kept keyword, each comparing tags (a fifth of the de-identification's time)."""

    def __init__(self, keywords: Iterable[str]) -> None:
        self.keywords = tuple(keywords)
        self._tags = frozenset(pydicom.datadict.tag_for_keyword(keyword) for keyword in self.keywords)

    def __call__(self, dataset: Dataset, data_element: pydicom.DataElement) -> bool:
        return data_element.tag in self._tags

    def describe_actions(self):
        for keyword in self.keywords:
            yield f"Keep {keyword} values"


def set_text(dataset: Dataset, keyword: str, value: str) -> None:
    """Write a text element with the VR the standard gives it (assigning by keyword keeps the file's VR,
    and a PatientName the file called US could not be written back)."""
    tag = pydicom.datadict.tag_for_keyword(keyword)
    dataset[tag] = pydicom.DataElement(tag, pydicom.datadict.dictionary_VR(tag), value)


def deidentify_instance(instance: ParsedInstance, anonymizer: Anonymizer) -> Dataset:
    """De-identify a file's dataset in place (derived UIDs first, so empty ones get stable values).

    The patient's name and ID are left empty; the caller writes the pseudonym there.
    """
    dataset = with_pixel_data(instance)
    for keyword, uid in (("SOPInstanceUID", instance.sop_uid), ("SeriesInstanceUID", instance.series_key),
                         ("StudyInstanceUID", instance.study_key)):  # fmt: skip
        set_text(dataset, keyword, uid)
    if not getattr(dataset, "file_meta", None):
        dataset.file_meta = FileMetaDataset()
    meta = dataset.file_meta
    if "TransferSyntaxUID" not in meta:
        meta.TransferSyntaxUID = ImplicitVRLittleEndian if dataset.is_implicit_VR else ExplicitVRLittleEndian
    meta.MediaStorageSOPClassUID = _text(dataset, "SOPClassUID") or "1.2.840.10008.5.1.4.1.1.2"
    meta.MediaStorageSOPInstanceUID = instance.sop_uid
    for keyword in FREE_TEXT_KEYWORDS:
        if keyword in dataset:
            del dataset[keyword]
    dataset.remove_private_tags()
    try:
        anonymizer.anonymize(dataset)
    except Exception as error:  # a value of a type or VR dicognito cannot handle: never store it unscrubbed
        raise HeaderRefused(f"cannot be de-identified ({type(error).__name__}: {str(error)[:160]})") from error
    for keyword in ("PatientName", "PatientID", "PatientBirthDate"):
        set_text(dataset, keyword, "")
    # CT carries no burned-in text in practice; dicognito only sets this when the header says so.
    dataset.PatientIdentityRemoved = "YES"
    dataset.DeidentificationMethod = "PS3.15 basic profile; private tags, free text removed"
    dataset.LongitudinalTemporalInformationModified = "UNMODIFIED"
    return dataset


def dataset_bytes(dataset: Dataset) -> bytes:
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()
