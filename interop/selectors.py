"""Reads behind DICOMweb: QIDO rows built from the database and the stored headers, WADO-RS metadata
(cached per series: a stored series never changes), and stored instances."""

from __future__ import annotations

import functools
import io
import json
import re
import threading
from dataclasses import dataclass

import cachetools
import pydicom
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import InterfaceError, OperationalError, connection
from django.db.models import Count
from rest_framework.authtoken.models import Token

from ildplatform import dicom_frames
from ildplatform.exceptions import DomainError, NotFound
from ildplatform.models import Series, Slice

from . import dicomweb

# Written into cached metadata in place of the public base URL, which is put in when it is served (so a
# changed PUBLIC_BASE_URL needs no cache rebuild). The .invalid domain can never be a real one.
BASE_PLACEHOLDER = "https://ildplatform.invalid/dicomweb"


def base_url() -> str:
    return f"{settings.PUBLIC_BASE_URL}/dicomweb"


def study_url(study_uid: str, base: str = BASE_PLACEHOLDER) -> str:
    return f"{base}/studies/{study_uid}"


def series_url(series: Series, base: str = BASE_PLACEHOLDER) -> str:
    return f"{study_url(series.study_uid, base)}/series/{series.series_uid}"


def instance_url(series: Series, sop_uid: str, base: str = BASE_PLACEHOLDER) -> str:
    return f"{series_url(series, base)}/instances/{sop_uid}"


# ---------------------------------------------------------------- stored instances


def slice_by_uids(study_uid: str, series_uid: str, sop_uid: str) -> Slice:
    found = (
        Slice.objects.select_related("series")
        .filter(sop_uid=sop_uid, series__series_uid=series_uid, series__study_uid=study_uid)
        .first()
    )
    if found is None:
        raise NotFound(f"no instance {sop_uid} in series {series_uid} of study {study_uid}")
    return found


def series_by_uids(study_uid: str, series_uid: str) -> Series:
    found = Series.objects.filter(series_uid=series_uid, study_uid=study_uid).first()
    if found is None:
        raise NotFound(f"no series {series_uid} in study {study_uid}")
    return found


def study_series(study_uid: str) -> list[Series]:
    found = list(Series.objects.filter(study_uid=study_uid).select_related("visit__patient").order_by("pk"))
    if not found:
        raise NotFound(f"no study {study_uid}")
    return found


@dataclass(frozen=True)
class StoredFrames:
    """Where an instance's frames lie in its stored file, and in which transfer syntax."""

    file_name: str
    transfer_syntax_uid: str
    frame_ranges: list[list[list[int]]]


@functools.cache
def _stored_frames_sql(with_token: bool) -> str:
    slice_table, series_table = Slice._meta.db_table, Series._meta.db_table
    sql = (
        f"SELECT sl.dicom_file, sl.transfer_syntax_uid, sl.frame_ranges FROM {slice_table} sl "
        f"JOIN {series_table} se ON se.id = sl.series_id "
        "WHERE sl.sop_uid = %s AND se.series_uid = %s AND se.study_uid = %s AND sl.frame_ranges IS NOT NULL"
    )
    if with_token:
        # DRF's TokenAuthentication asks the same: the key is known and its user active.
        sql += (
            f" AND EXISTS (SELECT 1 FROM {Token._meta.db_table} t JOIN {get_user_model()._meta.db_table} u "
            "ON u.id = t.user_id WHERE t.key = %s AND u.is_active)"
        )
    return sql


_frame_lookups = cachetools.TTLCache(maxsize=16384, ttl=settings.DICOMWEB_FRAME_LOOKUP_SECONDS)
_frame_lookups_lock = threading.Lock()  # TTLCache is not thread-safe; gunicorn's threads share it


def stored_frames(study_uid: str, series_uid: str, sop_uid: str, token_key: str | None = None) -> StoredFrames | None:
    """An instance's stored frame layout, the API token checked in the same query when one is given, in
    one round trip to the database at most (a viewer asks for hundreds of frames: the ORM's query building
    and a query for the token cost more than the rest of the answer), and none while a recent answer holds
    (DICOMWEB_FRAME_LOOKUP_SECONDS). None when the instance is unknown, its layout is not recorded, or the
    token is not valid: the full path then says which."""
    key = (study_uid, series_uid, sop_uid, token_key)
    with _frame_lookups_lock:
        found = _frame_lookups.get(key)
    if found is not None:
        return found
    params = [sop_uid, series_uid, study_uid, *([token_key] if token_key is not None else [])]
    row = _fetch_one_retried(_stored_frames_sql(token_key is not None), params)
    if row is None:
        return None
    file_name, transfer_syntax_uid, frame_ranges = row
    if isinstance(frame_ranges, str):  # SQLite hands JSON back as text
        frame_ranges = json.loads(frame_ranges)
    found = StoredFrames(file_name, transfer_syntax_uid, frame_ranges)
    with _frame_lookups_lock:
        _frame_lookups[key] = found
    return found


def _fetch_one_retried(sql: str, params: list) -> tuple | None:
    """One row, the query itself finding out whether a kept connection died (a restarted server) and
    then running once more on a new one: Django's health check would ask first, a second round trip on
    every frame."""
    for attempt in (1, 2):
        connection.health_check_done = True
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.fetchone()
        except (OperationalError, InterfaceError):
            if attempt == 2 or connection.in_atomic_block:
                raise
            connection.close()
    return None


def stored_frame_bytes(found: StoredFrames, numbers: list[int]) -> list[bytes]:
    """Frames (numbered from 1) read from the stored file by their recorded byte ranges."""
    with default_storage.open(found.file_name, "rb") as handle:
        return [dicom_frames.read_frame(handle, found.frame_ranges[number - 1]) for number in numbers]


def instance_bytes(found: Slice) -> bytes:
    with found.dicom_file.open("rb") as handle:
        return handle.read()


def instance_dataset(found: Slice) -> pydicom.Dataset:
    return pydicom.dcmread(io.BytesIO(instance_bytes(found)))


# ---------------------------------------------------------------- metadata


def series_metadata_json(series: Series) -> bytes:
    """The series' instances as DICOM JSON (z order), with the public base URL in the BulkDataURIs."""
    return _metadata_with_base(series.pk, series.series_uid, base_url())


def _metadata_with_base(series_id: int, series_uid: str, base: str) -> bytes:
    return _cached_series_metadata(series_id, series_uid).replace(BASE_PLACEHOLDER.encode(), base.encode())


@functools.lru_cache(maxsize=32)
def _cached_series_metadata(series_id: int, series_uid: str) -> bytes:
    return stored_series_metadata(series_id, series_uid)


def stored_series_metadata(series_id: int, series_uid: str) -> bytes:
    """Built once from the stored files and kept beside them (a worker builds it after the import); the UID
    keys it, in case an id is reused."""
    name = f"dicomweb/metadata/{series_uid}.json"
    if default_storage.exists(name):
        with default_storage.open(name, "rb") as handle:
            return handle.read()
    series = Series.objects.get(pk=series_id)
    instances = []
    for found in Slice.objects.filter(series=series).order_by("z_index"):
        with found.dicom_file.open("rb") as handle:
            dataset = pydicom.dcmread(handle)
        instances.append(dicomweb.instance_json(dataset, instance_url(series, found.sop_uid)))
    data = json.dumps(instances, separators=(",", ":")).encode()
    default_storage.save(name, ContentFile(data))
    return data


def series_instances(series: Series) -> tuple[dict, ...]:
    """The series' instances as DICOM JSON, parsed (z order)."""
    return _parsed_series_metadata(series.pk, series.series_uid, base_url())[0]


@functools.lru_cache(maxsize=8)
def _parsed_series_metadata(series_id: int, series_uid: str, base: str) -> tuple[tuple[dict, ...], dict[str, int]]:
    """Parsed once per worker (a 248-slice series is about 1 MB of JSON, 10 ms to parse) with an index by
    SOP Instance UID; the few series being looked at now are kept."""
    instances = tuple(json.loads(_metadata_with_base(series_id, series_uid, base)))
    return instances, {instance["00080018"]["Value"][0]: index for index, instance in enumerate(instances)}


def instance_metadata(series: Series, sop_uid: str) -> dict:
    instances, index = _parsed_series_metadata(series.pk, series.series_uid, base_url())
    if sop_uid not in index:
        raise NotFound(f"no instance {sop_uid} in series {series.series_uid}")
    return instances[index[sop_uid]]


@functools.lru_cache(maxsize=4096)
def _series_header(series_id: int, series_uid: str) -> dict:
    """The first slice's header as DICOM JSON (no bulk data): the series' and study's attributes."""
    first = Slice.objects.filter(series_id=series_id).order_by("z_index").first()
    with first.dicom_file.open("rb") as handle:
        dataset = pydicom.dcmread(handle, stop_before_pixels=True)
    return dataset.to_json_dict(dicomweb.BULK_DATA_THRESHOLD, lambda element: "")


# ---------------------------------------------------------------- QIDO-RS

STUDY_LEVEL = (
    "StudyDate", "StudyTime", "AccessionNumber", "ReferringPhysicianName", "PatientName", "PatientID",
    "PatientBirthDate", "PatientSex", "StudyInstanceUID", "StudyID", "StudyDescription",
)  # fmt: skip
SERIES_LEVEL = ("Modality", "SeriesDescription", "SeriesNumber", "SeriesInstanceUID", "SeriesDate", "BodyPartExamined")
INSTANCE_LEVEL = (
    "SOPClassUID",
    "SOPInstanceUID",
    "InstanceNumber",
    "Rows",
    "Columns",
    "BitsAllocated",
    "NumberOfFrames",
)
CONTROL_PARAMETERS = {"limit", "offset", "includefield", "fuzzymatching"}
MAX_RESULTS = 1000


class QueryError(DomainError):
    """A QIDO query the server cannot answer as asked; the message names the parameter."""


def _pick(header: dict, keywords) -> dict:
    picked = {}
    for keyword in keywords:
        tag = dicomweb.tag_key(dicomweb.tag_of(keyword))
        picked[tag] = header.get(tag) or dict([dicomweb.json_attribute(keyword, None)])[tag]
    return picked


def _series_rows(series_list: list[Series]) -> list[tuple[Series, dict, dict, dict]]:
    """(series, study-level JSON, series-level JSON, first slice's header JSON) per series."""
    counts = dict(
        Slice.objects.filter(series__in=series_list)
        .values("series_id")
        .annotate(n=Count("id"))
        .values_list("series_id", "n")
    )
    rows = []
    for series in series_list:
        header = _series_header(series.pk, series.series_uid)
        patient, visit = series.visit.patient, series.visit
        study = _pick(header, STUDY_LEVEL) | dicomweb.json_dataset(
            PatientID=patient.pseudonym, PatientName=patient.pseudonym, StudyInstanceUID=series.study_uid,
            StudyDate=visit.date.strftime("%Y%m%d"), PatientSex=patient.sex if patient.sex != "U" else "",
        )  # fmt: skip
        series_json = _pick(header, SERIES_LEVEL) | dicomweb.json_dataset(
            SeriesInstanceUID=series.series_uid, NumberOfSeriesRelatedInstances=counts.get(series.pk, 0),
            RetrieveURL=series_url(series, base_url()),
        )  # fmt: skip
        rows.append((series, study, series_json, header))
    return rows


def _all_series() -> list[Series]:
    return list(Series.objects.select_related("visit__patient").order_by("visit__date", "pk"))


def study_results(params) -> list[dict]:
    studies: dict[str, dict] = {}
    for series, study, series_json, header in _series_rows(_all_series()):
        entry = studies.setdefault(series.study_uid, {"study": study, "modalities": set(), "series": 0,
                                                      "instances": 0, "header": header})  # fmt: skip
        entry["modalities"].update(series_json["00080060"].get("Value", []))
        entry["series"] += 1
        entry["instances"] += series_json["00201209"]["Value"][0]
    results = []
    for study_uid, entry in studies.items():
        row = entry["study"] | dicomweb.json_dataset(
            ModalitiesInStudy=sorted(entry["modalities"]), NumberOfStudyRelatedSeries=entry["series"],
            NumberOfStudyRelatedInstances=entry["instances"], RetrieveURL=study_url(study_uid, base_url()),
        )  # fmt: skip
        results.append((row, entry["header"]))
    return _matched(results, params, level_keywords=STUDY_LEVEL + ("ModalitiesInStudy",))


def series_results(params, study_uid: str | None = None) -> list[dict]:
    chosen = study_series(study_uid) if study_uid else _all_series()
    results = []
    for _series, study, series_json, header in _series_rows(chosen):
        row = series_json if study_uid else study | series_json
        results.append((row, header))
    keywords = SERIES_LEVEL + (() if study_uid else STUDY_LEVEL)
    return _matched(results, params, level_keywords=keywords)


def instance_results(params, study_uid: str | None = None, series_uid: str | None = None) -> list[dict]:
    if series_uid:
        found = series_by_uids(study_uid, series_uid)
        chosen = list(Series.objects.select_related("visit__patient").filter(pk=found.pk))
    elif study_uid:
        chosen = study_series(study_uid)
    else:
        chosen = _all_series()
    results = []
    for series, study, series_json, _header in _series_rows(chosen):
        for instance in series_instances(series):
            sop_uid = instance["00080018"]["Value"][0]
            row = _pick(instance, INSTANCE_LEVEL) | dicomweb.json_dataset(
                RetrieveURL=instance_url(series, sop_uid, base_url())
            )
            if not series_uid:
                row = series_json | row if study_uid else study | series_json | row
            results.append((row, instance))
    keywords = INSTANCE_LEVEL + (() if series_uid else SERIES_LEVEL) + (() if study_uid else STUDY_LEVEL)
    return _matched(results, params, level_keywords=keywords)


def _matched(results: list[tuple[dict, dict]], params, level_keywords) -> list[dict]:
    """Filter by the matching keys, page with limit/offset, add includefield attributes (PS3.18 8.3.4)."""
    matching, include, include_all = {}, set(), False
    for name in params:
        if name in CONTROL_PARAMETERS:
            continue
        try:
            tag = dicomweb.tag_of(name)
        except KeyError:
            raise QueryError(f"unknown query parameter {name!r} (not a DICOM keyword or tag)") from None
        if pydicom.datadict.keyword_for_tag(tag) not in level_keywords:
            raise QueryError(f"matching on {name} is not supported at this level; "
                             f"supported: {', '.join(sorted(level_keywords))}")  # fmt: skip
        matching[dicomweb.tag_key(tag)] = params.getlist(name)
    for value in params.getlist("includefield"):
        for name in value.split(","):
            if name == "all":
                include_all = True
                continue
            try:
                include.add(dicomweb.tag_key(dicomweb.tag_of(name)))
            except KeyError:
                raise QueryError(f"includefield {name!r} is not a DICOM keyword or tag") from None
    limit, offset = _whole_number(params, "limit", MAX_RESULTS), _whole_number(params, "offset", 0)
    chosen = [(row, header) for row, header in results if all(_matches(row, t, v) for t, v in matching.items())]
    answered = []
    for row, header in chosen[offset : offset + min(limit, MAX_RESULTS)]:
        extra = {t: v for t, v in header.items() if (include_all or t in include) and t not in row and t != "7FE00010"}
        answered.append(dict(sorted((row | extra).items())))
    return answered


def _whole_number(params, name: str, default: int) -> int:
    value = params.get(name)
    if value is None:
        return default
    if not value.isdigit():
        raise QueryError(f"{name} must be a whole number, got {value!r}")
    return int(value)


def _matches(row: dict, tag: str, wanted: list[str]) -> bool:
    entry = row.get(tag, {})
    values = entry.get("Value", [])
    texts = [v["Alphabetic"] if isinstance(v, dict) else str(v) for v in values]
    vr = entry.get("vr")
    for query in wanted:
        for alternative in query.split(",") if vr == "UI" else [query]:
            if vr in ("DA", "TM", "DT") and "-" in alternative:
                if any(_in_range(text, alternative) for text in texts):
                    return True
            elif any(re.fullmatch(_wildcard(alternative), text, flags=re.IGNORECASE) for text in texts):
                return True
            elif not alternative and not texts:
                return True
    return False


def _wildcard(pattern: str) -> str:
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)


def _in_range(text: str, query: str) -> bool:
    low, _, high = query.partition("-")
    for bound in (low, high):
        if bound and not bound.isdigit():
            raise QueryError(f"range {query!r} must be of the form YYYYMMDD-YYYYMMDD (either side may be empty)")
    return (not low or text >= low) and (not high or text[: len(high)] <= high)
