"""DICOMweb writes (STOW-RS) and DICOM SEG in and out: through the other apps' services, with their
permission and blinding rules."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

import numpy as np
import pydicom
from pydicom.uid import generate_uid

from annotations import access
from annotations import selectors as review_selectors
from annotations import services as review_services
from annotations.models import Reading
from ildplatform import services as core_services
from ildplatform.dicom_import import SourceFile
from ildplatform.exceptions import Conflict, DomainError, Forbidden, NotFound
from ildplatform.models import Series, Slice
from ildplatform.permissions import has_role, may_run_model
from ildplatform.roles import ADMIN
from inference import services as inference_services
from inference import visibility
from inference.models import ModelVersion

from . import seg

LUNG_SOURCE = "lung"
READER_SOURCES = {"reader_1": Reading.Role.READER_1, "reader_2": Reading.Role.READER_2}
UNET_ALGORITHM = "ildplatform U-Net"


class SegRefused(DomainError):
    """A SEG that cannot be imported; the message says why."""


def _source_headers(series: Series) -> list[pydicom.Dataset]:
    headers = []
    for found in series.slices.order_by("z_index"):
        with found.dicom_file.open("rb") as handle:
            headers.append(pydicom.dcmread(handle, stop_before_pixels=True))
    return headers


@dataclass(frozen=True)
class SourceLabels:
    labels: np.ndarray
    kinds: tuple
    algorithm: seg.Algorithm | None
    description: str


def source_labels(*, series: Series, source: str, user) -> SourceLabels:
    """The labels of one source of the series as the user may see them (the blinding rules of the
    readings, the consensus and the models apply as on every other page)."""
    if source in READER_SOURCES:
        review = review_selectors.review_get(series_id=series.pk)
        reading = review.readings.filter(role=READER_SOURCES[source]).first() if review else None
        if reading is None:
            raise NotFound(f"series {series.pk} has no {source.replace('_', ' ')} reading")
        reading = access.reading_for_view(reading.pk, user)
        return SourceLabels(review_selectors.reading_labels_volume(reading), seg.PATTERN_SEGMENTS, None,
                            f"{source.replace('_', ' ')} reading")  # fmt: skip
    if source == "consensus":
        review = review_selectors.consensus_get(series_id=series.pk, user=user)
        if not review.finalized_at:
            raise Conflict("the consensus is not finalised yet")
        return SourceLabels(review_selectors.consensus_labels_volume(review), seg.PATTERN_SEGMENTS, None, "consensus")
    if source.startswith("model:") and source[6:].isdigit():
        if visibility.source_hidden(series.pk, source, user):
            raise Forbidden(f"model predictions of series {series.pk} are hidden from you while you read this patient")
        version = ModelVersion.objects.filter(pk=int(source[6:])).first()
        labels = inference_services.series_prediction_volume(series, version.pk) if version else None
        if labels is None:
            raise NotFound(f"no complete prediction of {source} on series {series.pk}")
        return SourceLabels(labels, seg.PATTERN_SEGMENTS, seg.Algorithm(f"{UNET_ALGORITHM} {version.task}",
                            str(version.pk)), f"{source} {version.task}")  # fmt: skip
    if source == LUNG_SOURCE:
        labels = inference_services.series_lung_labels(series)
        if labels is None:
            raise NotFound(f"series {series.pk} has no lung masks yet")
        method = inference_services.series_lung_method(series) or ""
        algorithm = seg.Algorithm(f"ildplatform lung {method}", inference_services.code_version())
        return SourceLabels(labels, seg.LUNG_SEGMENTS, algorithm, f"lung masks ({method})")
    raise DomainError(f"unknown source {source!r}: reader_1, reader_2, consensus, model:<id> or lung")


def seg_export(*, series: Series, source: str, user) -> bytes:
    """One DICOM SEG of a source of the series, referencing its stored slices. The same labels give the
    same UIDs (derived from the series, the source and the labels), so a re-export is the same object."""
    found = source_labels(series=series, source=source, user=user)
    digest = hashlib.sha256(found.labels.tobytes()).hexdigest()
    identity = seg.SegIdentity(
        series_uid=generate_uid(entropy_srcs=[series.series_uid, source, digest, "series"]),
        sop_uid=generate_uid(entropy_srcs=[series.series_uid, source, digest, "instance"]),
        series_number=900, series_description=f"SEG {found.description}",
    )  # fmt: skip
    try:
        made = seg.segmentation(_source_headers(series), found.labels, found.kinds, identity, found.algorithm)
    except seg.SegError as error:
        raise Conflict(str(error)) from None
    buffer = io.BytesIO()
    made.save_as(buffer)
    return buffer.getvalue()


@dataclass(frozen=True)
class SegImported:
    series_id: int
    sop_uid: str
    imported_as: str  # "reading <id>" or "model:<id>"
    changed_slices: list[int]


def seg_import(*, data: bytes, user, series: Series | None = None) -> SegImported:
    """Import a SEG of reticulation and GGO: a MANUAL one as the user's own open reading of the series it
    references, an AUTOMATIC one as the predictions of the platform model it names (admins and
    adjudicators). Validated against the referenced series first; nothing is stored on refusal."""
    try:
        dataset = pydicom.dcmread(io.BytesIO(data))
    except Exception as error:
        raise SegRefused(f"not a DICOM file ({type(error).__name__}: {str(error)[:160]})") from None
    referenced = _referenced_series(dataset)
    if series is not None and referenced.pk != series.pk:
        raise SegRefused(f"the SEG references series {referenced.pk}, not series {series.pk}")
    series = referenced
    sop_uids = list(series.slices.order_by("z_index").values_list("sop_uid", flat=True))
    try:
        read = seg.read_segmentation(dataset, sop_uids, (series.rows, series.columns), seg.PATTERN_SEGMENTS)
    except seg.SegError as error:
        raise SegRefused(str(error)) from None
    sop_uid = str(dataset.SOPInstanceUID)
    if read.algorithm is None:
        reading = _own_open_reading(series, user)
        changed = review_services.reading_masks_import(reading=reading, labels=read.labels, user=user,
                                                       origin=f"DICOM SEG {sop_uid}")  # fmt: skip
        return SegImported(series.pk, sop_uid, f"reading {reading.pk}", changed)
    version = _model_named(read.algorithm, user)
    inference_services.predictions_import(series=series, model_version=version, labels=read.labels)
    return SegImported(series.pk, sop_uid, version.source, list(range(series.slice_count)))


def _referenced_series(dataset: pydicom.Dataset) -> Series:
    uids = set()
    for study in dataset.get("ReferencedSeriesSequence", []):
        uids.update(str(item.ReferencedSOPInstanceUID) for item in study.get("ReferencedInstanceSequence", []))
    if not uids:
        raise SegRefused("the SEG references no source instances (ReferencedSeriesSequence)")
    series_ids = set(Slice.objects.filter(sop_uid__in=uids).values_list("series_id", flat=True))
    if len(series_ids) != 1:
        raise SegRefused(
            "the SEG references instances of no stored series" if not series_ids
            else f"the SEG references instances of {len(series_ids)} series; one SEG covers one series"
        )  # fmt: skip
    return Series.objects.get(pk=series_ids.pop())


def _own_open_reading(series: Series, user) -> Reading:
    reading = Reading.objects.filter(review__series=series, user=user, role__in=access.READER_ROLES).first()
    if reading is None:
        raise Forbidden(f"a MANUAL SEG is imported as your own reading, and you do not read series {series.pk}")
    return access.reading_for_edit(reading.pk, user)


def _model_named(algorithm: seg.Algorithm, user) -> ModelVersion:
    if not may_run_model(user):
        raise Forbidden("only admins and adjudicators may import model predictions")
    task = algorithm.name.removeprefix(f"{UNET_ALGORITHM} ")
    version = ModelVersion.objects.filter(pk=int(algorithm.version), task=task).first() if (
        algorithm.name.startswith(UNET_ALGORITHM) and algorithm.version.isdigit()) else None  # fmt: skip
    if version is None:
        expected = f"'{UNET_ALGORITHM} <task>', version <model id>"
        raise SegRefused(f"the SEG's algorithm {algorithm.name!r} version {algorithm.version!r} is no registered "
                         f"model of this platform (expected {expected})")  # fmt: skip
    return version


def stow(*, parts: list[tuple[str, bytes]], user) -> dict:
    """STOW-RS: CT instances through the import service (admins; all or nothing, as an upload), SEG
    instances as readings or predictions. Returns what was stored, for the DICOM JSON answer."""
    segs, images = [], []
    for index, (_content_type, data) in enumerate(parts, start=1):
        try:
            header = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True, specific_tags=["SOPClassUID"])
            sop_class = str(header.get("SOPClassUID", ""))
        except Exception:
            sop_class = ""  # the import service names what is wrong with it
        (segs if sop_class == seg.SEG_SOP_CLASS_UID else images).append(SourceFile(f"part {index}", data))
    stored = {"images": [], "segs": []}
    if images:
        if not has_role(user, ADMIN):
            raise Forbidden("only admins may store images (STOW-RS imports them as an upload does)")
        report = core_services.series_import(sources=images)
        for imported in report.series:
            series = Series.objects.get(pk=imported.series_id)
            stored["images"].extend((series, uid) for uid in series.slices.values_list("sop_uid", flat=True))
    for source in segs:
        stored["segs"].append(seg_import(data=source.data, user=user))
    return stored
