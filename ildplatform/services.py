"""Writes of the imaging core: DICOM import, users and roles."""

from __future__ import annotations

import io
import logging
from dataclasses import asdict, dataclass
from datetime import date

import pydicom
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from pydicom.dataset import Dataset

from . import dicom_frames, dicom_import, events
from .dicom_import import FileProblem, HeaderRefused, ParsedInstance, SeriesGroup, SourceFile
from .exceptions import DomainError, ImportConflict, ImportRejected, PayloadTooLarge
from .models import Patient, Series, Slice, Visit
from .parallel import fork_map
from .roles import ADMIN, ROLES

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImportReport:
    series: list[ImportedSeries]
    skipped: list[FileProblem]

    def as_dict(self) -> dict:
        return {
            "series": [s.as_dict() for s in self.series],
            "skipped": [{"file": p.file, "reason": p.reason} for p in self.skipped],
        }

    @property
    def created(self) -> bool:
        return any(s.created for s in self.series)


@dataclass(frozen=True)
class ImportedSeries:
    patient: str
    patient_id: int
    visit_id: int
    visit_date: str
    visit_label: str
    series_id: int
    slices: int
    created: bool

    def as_dict(self) -> dict:
        return asdict(self) | {"message": "imported" if self.created else "already imported, nothing added"}


def archive_limits() -> dicom_import.ArchiveLimits:
    return dicom_import.ArchiveLimits(
        max_uncompressed_bytes=settings.IMPORT_MAX_ARCHIVE_UNCOMPRESSED_BYTES,
        max_members=settings.IMPORT_MAX_ARCHIVE_MEMBERS,
        max_compression_ratio=settings.IMPORT_MAX_ARCHIVE_COMPRESSION_RATIO,
    )


def _checked_groups(
    sources: list[SourceFile], allowed_modalities: tuple[str, ...], patient_pseudonym: str | None,
    visit_date: date | None,
) -> tuple[list[SeriesGroup], list[FileProblem]]:  # fmt: skip
    """The upload parsed into checked series, each instance de-identified and encoded as it will be
    stored (`ParsedInstance.prepared`) in the same pass over the files."""
    problems: list[FileProblem] = []
    skipped: list[FileProblem] = []
    instances = []
    anonymizer = dicom_import.make_deidentifier(settings.DEIDENTIFY_SALT)

    def stored_form(instance: ParsedInstance) -> StoredFile | FileProblem:
        # Named by the pseudonym given, else by the one its patient key derives; a patient the database
        # knows by another is renamed when its series is stored (`_import_group`).
        pseudonym = patient_pseudonym or dicom_import.pseudonym_for(settings.DEIDENTIFY_SALT, instance.patient_key)
        return _deidentified_file(instance, anonymizer, pseudonym)

    parsed_instances = dicom_import.parse_instances(sources, allowed_modalities, prepare=stored_form)
    for source, parsed in zip(sources, parsed_instances, strict=True):
        if not isinstance(parsed, FileProblem):
            instances.append(parsed)
        elif source.found_in_container and parsed.reason == dicom_import.NOT_DICOM:
            skipped.append(parsed)
        else:
            problems.append(parsed)
    groups, series_problems = dicom_import.assemble_series(instances)
    problems.extend(series_problems)
    if not problems and not groups:
        problems.append(FileProblem("(upload)", "no files to import"))
    for group in groups:
        if visit_date is None and dicom_import.study_date(group.first) is None:
            problems.append(FileProblem(group.instances[0].source.name, "no StudyDate: give the visit date explicitly"))
    if patient_pseudonym and len({g.patient_key for g in groups}) > 1:
        problems.append(FileProblem("(upload)", "the files belong to several patients; a pseudonym can name only one"))
    if problems:
        raise ImportRejected(problems)
    return groups, skipped


def _patient_for(group: SeriesGroup, pseudonym: str | None, sex: str, birth_year: int | None) -> Patient:
    salt = settings.DEIDENTIFY_SALT
    source_key = dicom_import.keyed_hash(salt, group.patient_key)
    if pseudonym:
        patient, _ = Patient.objects.get_or_create(pseudonym=pseudonym)
    else:
        patient = Patient.objects.filter(source_key=source_key).first() or Patient.objects.create(
            pseudonym=dicom_import.pseudonym_for(salt, group.patient_key), source_key=source_key
        )
    if patient.sex == Patient.Sex.UNKNOWN:
        patient.sex = sex
    if patient.birth_year is None:
        patient.birth_year = birth_year
    patient.save()
    return patient


def visits_relabel(*, patient: Patient) -> None:
    """Baseline, follow-up 1, 2, ... in date order."""
    for number, visit in enumerate(patient.visits.order_by("date")):
        label = "baseline" if number == 0 else f"follow-up {number}"
        if visit.label != label:
            visit.label = label
            visit.save(update_fields=["label"])


def _stored(name: str, data: bytes, written: list[str]) -> str:
    """Save a file, its name listed in `written` before the first byte goes out: a write that fails half
    way (a full disk) leaves a fragment, which the import's cleanup must find too."""
    name = default_storage.get_available_name(name)
    written.append(name)
    saved = default_storage.save(name, ContentFile(data))
    if saved != name:  # taken meanwhile by another import: the storage chose another name
        written.append(saved)
    return saved


def _store_series(
    group: SeriesGroup, visit: Visit, series_uid: str, written: list[str], encoded: list[StoredFile]
) -> Series:
    """The group's series, its HU volume and its de-identified files (`encoded`, one per instance)."""
    reference = group.instances[0]
    dataset = reference.dataset
    series = Series.objects.create(
        visit=visit,
        study_uid=str(dataset.StudyInstanceUID),
        series_uid=series_uid,
        description=str(dataset.get("SeriesDescription", ""))[:128],
        rows=reference.hu.shape[0],
        columns=reference.hu.shape[1],
        pixel_spacing_row=reference.pixel_spacing[0],
        pixel_spacing_column=reference.pixel_spacing[1],
        slice_spacing=group.slice_spacing,
        slice_thickness=float(dataset.SliceThickness) if dataset.get("SliceThickness") not in (None, "") else None,
        manufacturer=str(dataset.get("Manufacturer", ""))[:128],
        kernel=dicom_import.text_values(dataset, "ConvolutionKernel")[:128],
        slice_count=len(group.instances),
        volume_file="",
    )
    series.volume_file = _stored(f"series/{series.pk}/volume.npy", group.hu_volume_npy(), written)
    series.save(update_fields=["volume_file"])
    slices = []
    for z_index, (z_position, file) in enumerate(zip(group.z_positions, encoded, strict=True)):
        stored = _stored(f"series/{series.pk}/slices/{z_index:04d}.dcm", file.data, written)
        layout = file.layout
        slices.append(
            Slice(
                series=series,
                sop_uid=file.sop_uid,
                z_index=z_index,
                z_position=z_position,
                dicom_file=stored,
                transfer_syntax_uid=layout.transfer_syntax_uid,
                frame_ranges=layout.frame_ranges,
            )
        )
    Slice.objects.bulk_create(slices)
    return series


def series_import(
    *,
    sources: list[SourceFile],
    patient_pseudonym: str | None = None,
    visit_date: date | None = None,
    allowed_modalities: tuple[str, ...] = (),
) -> ImportReport:
    """Import CT series all-or-nothing: any problem refuses the whole import and stores nothing.

    Re-importing the same files finds the series by its de-identified UID and adds nothing.
    """
    total_bytes = sum(len(source.data) for source in sources)
    if total_bytes > settings.IMPORT_MAX_UPLOAD_BYTES:
        raise PayloadTooLarge(
            f"import of {total_bytes} bytes is over the limit of {settings.IMPORT_MAX_UPLOAD_BYTES} bytes"
        )
    groups, skipped = _checked_groups(sources, allowed_modalities, patient_pseudonym, visit_date)
    results: list[ImportedSeries] = []
    written: list[str] = []
    try:
        with transaction.atomic():
            planned = [_deidentified(group) for group in groups]
            conflicts = _conflicts_with_stored(planned, patient_pseudonym)
            if conflicts:
                raise ImportConflict(conflicts)
            for group, existing, patient_facts, encoded in planned:
                results.append(_import_group(group, existing, patient_facts, patient_pseudonym, visit_date, written,
                                             encoded))  # fmt: skip
    except Exception:
        # The database rolled back; take the files it would have pointed to with it.
        for name in written:
            default_storage.delete(name)
        raise
    return ImportReport(series=results, skipped=skipped)


def _deidentified(group: SeriesGroup) -> tuple[SeriesGroup, Series | None, tuple, list[StoredFile]]:
    """The group de-identified (UIDs replaced the same way every time, the patient named by its pseudonym),
    the series stored under its UID if any, the patient facts read before de-identification removed them,
    and each instance encoded as it will be stored (encoded once, by the parse: a file pydicom cannot
    write back refuses the import before anything is stored)."""
    patient_facts = (dicom_import.patient_sex(group.first), dicom_import.birth_year(group.first))
    problems = [instance.prepared for instance in group.instances if isinstance(instance.prepared, FileProblem)]
    if problems:
        raise ImportRejected(problems)
    stored = [instance.prepared for instance in group.instances]
    # The series is described by its first instance's de-identified header, read back from that file as
    # it will be stored; every instance is stored as its file says, named by its SOP instance UID.
    group.instances[0].dataset = pydicom.dcmread(io.BytesIO(stored[0].data), stop_before_pixels=True)
    existing = Series.objects.select_related("visit__patient").filter(series_uid=str(group.first.SeriesInstanceUID))
    return group, existing.first(), patient_facts, stored


@dataclass(frozen=True)
class StoredFile:
    """An instance's file as it will be stored, its SOP instance UID and where its frames lie in it."""

    data: bytes
    sop_uid: str
    layout: dicom_frames.PixelLayout


def _deidentified_file(instance: ParsedInstance, anonymizer, pseudonym: str) -> StoredFile | FileProblem:
    """The instance's file as it will be stored: de-identified, its patient named by the pseudonym."""
    try:
        dicom_import.deidentify_instance(instance, anonymizer)
        return _named_and_encoded(instance.dataset, pseudonym)
    except HeaderRefused as refused:
        return FileProblem(instance.source.name, str(refused))
    except Exception as error:  # pydicom refuses to write some values it read
        reason = f"cannot be written back as DICOM ({type(error).__name__}: {str(error)[:160]})"
        return FileProblem(instance.source.name, reason)


def _named_and_encoded(dataset: Dataset, pseudonym: str) -> StoredFile:
    """A de-identified instance's file as stored: its patient named by the pseudonym."""
    for keyword in ("PatientName", "PatientID"):
        dicom_import.set_text(dataset, keyword, pseudonym)
    data = dicom_import.dataset_bytes(dataset)
    return StoredFile(data, str(dataset.SOPInstanceUID), dicom_frames.pixel_layout(data))


def _renamed(file: StoredFile, pseudonym: str) -> StoredFile:
    return _named_and_encoded(pydicom.dcmread(io.BytesIO(file.data)), pseudonym)


ONE_SERIES_PER_INSTANCE = "an instance belongs to one series"


def _conflicts_with_stored(
    planned: list[tuple[SeriesGroup, Series | None, tuple, list[StoredFile]]], pseudonym: str | None
):
    """Files that would change a stored series, file it under another patient, or give an instance two
    series. A stored series is never extended: readings, masks and figures refer to its slices."""
    problems: list[FileProblem] = []
    claimed: dict[str, str] = {}  # SOP instance UID -> the series (of this upload) that takes it
    for group, existing, _, files in planned:
        series_uid = str(group.first.SeriesInstanceUID)
        by_uid = {file.sop_uid: instance.source.name for instance, file in zip(group.instances, files, strict=True)}
        if existing is not None:
            stored_patient = existing.visit.patient
            source_key = dicom_import.keyed_hash(settings.DEIDENTIFY_SALT, group.patient_key)
            if (pseudonym and pseudonym != stored_patient.pseudonym) or (
                not pseudonym and stored_patient.source_key and stored_patient.source_key != source_key
            ):
                reason = (
                    f"its series is stored already (series #{existing.pk}) under another patient "
                    f"({stored_patient.pseudonym}); a series belongs to one patient"
                )
                problems.append(FileProblem(group.instances[0].source.name, reason))
                continue
            stored = set(existing.slices.values_list("sop_uid", flat=True))
            reason = (
                f"an instance the stored series #{existing.pk} ({existing.slice_count} slices) does not hold; "
                "a stored series is not extended, since readings and masks refer to its slices"
            )
            problems.extend(FileProblem(name, reason) for uid, name in by_uid.items() if uid not in stored)
            continue
        elsewhere = dict(Slice.objects.filter(sop_uid__in=by_uid).values_list("sop_uid", "series_id"))
        for uid, name in by_uid.items():
            if uid in elsewhere:
                reason = (
                    f"its SOPInstanceUID is stored already in series #{elsewhere[uid]} under another SeriesInstanceUID"
                )
                problems.append(FileProblem(name, f"{reason}; {ONE_SERIES_PER_INSTANCE}"))
            elif claimed.setdefault(uid, series_uid) != series_uid:
                reason = "its SOPInstanceUID is also in another series of this upload"
                problems.append(FileProblem(name, f"{reason}; {ONE_SERIES_PER_INSTANCE}"))
    return problems


def _import_group(group, existing, patient_facts, patient_pseudonym, visit_date, written, encoded) -> ImportedSeries:
    if existing is not None:
        visit, series, created = existing.visit, existing, False
    else:
        patient = _patient_for(group, patient_pseudonym, *patient_facts)
        if patient.pseudonym != str(group.first.PatientID):  # known by another pseudonym: encoded again
            named_before = encoded
            encoded = fork_map(lambda index: _renamed(named_before[index], patient.pseudonym), len(named_before))
        visit, _ = Visit.objects.get_or_create(patient=patient, date=visit_date or dicom_import.study_date(group.first))
        series_uid = str(group.first.SeriesInstanceUID)
        series, created = _store_series(group, visit, series_uid, written, encoded), True
        events.series_imported.send(sender=Series, series=series)
        visits_relabel(patient=patient)
        visit.refresh_from_db()
    return ImportedSeries(
        patient=visit.patient.pseudonym,
        patient_id=visit.patient_id,
        visit_id=visit.pk,
        visit_date=visit.date.isoformat(),
        visit_label=visit.label,
        series_id=series.pk,
        slices=series.slice_count,
        created=created,
    )


def user_create(*, username: str, role: str, password: str | None = None, email: str = "") -> User:
    if role not in ROLES:
        raise DomainError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    if User.objects.filter(username=username).exists():
        raise DomainError(f"user {username!r} exists already")
    with transaction.atomic():
        user = User.objects.create_user(username=username, email=email, password=password)
        if password is None:
            user.set_unusable_password()
        # Admins run the site, so they get Django's admin too.
        user.is_staff = user.is_superuser = role == ADMIN
        user.save()
        # The groups come with a data migration; get_or_create keeps a flushed test database working too.
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user
