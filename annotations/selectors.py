"""Reads of the review workflow; every one takes the user and applies the rules in access.py."""

from __future__ import annotations

import numpy as np
from django.db.models import Exists, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import Coalesce

from ildplatform import labelmaps
from ildplatform.exceptions import Conflict, DomainError, NotFound
from ildplatform.labels import MAX_PATTERN_LABEL
from ildplatform.models import Slice
from inference import statistics
from inference.models import Involvement, ModelVersion, Prediction

from . import access
from . import agreement as agreement_math
from .models import (
    AuditEvent,
    ConsensusDecision,
    ConsensusMask,
    MaskVersion,
    Reading,
    Review,
    SliceAgreement,
    SliceReadingTime,
)


def review_get(*, series_id: int) -> Review | None:
    return Review.objects.select_related("series").prefetch_related("readings").filter(series_id=series_id).first()


def worklist(*, user, everyone: bool = False) -> list[Reading]:
    """The readings, each with `slices_annotated` (a saved mask) and `slices_done` (annotated or marked reviewed)."""
    readings = Reading.objects.select_related("review__series__visit__patient", "user")
    if not (everyone and access.is_admin(user)):
        readings = readings.filter(user=user)
    readings = list(readings.order_by("state", "review__series_id", "role"))
    annotated: dict[int, set[int]] = {}
    pairs = MaskVersion.objects.filter(reading__in=readings).values_list("reading_id", "slice__z_index").distinct()
    for reading_id, z_index in pairs:
        annotated.setdefault(reading_id, set()).add(z_index)
    for reading in readings:
        slices = annotated.get(reading.pk, set())
        reading.slices_annotated = len(slices)
        reading.slices_done = len(slices | set(reading.reviewed_slices))
    return readings


def reading_progress(reading: Reading) -> dict:
    """Which slices the reader has dealt with: painted (a saved mask) or marked reviewed; the rest are the
    slices the submit warning lists."""
    count = reading.review.series.slice_count
    annotated = sorted(set(reading.mask_versions.values_list("slice__z_index", flat=True)))
    reviewed = sorted(z for z in reading.reviewed_slices if 0 <= z < count)
    done = set(annotated) | set(reviewed)
    return {
        "reading_id": reading.pk,
        "state": reading.state,
        "slice_count": count,
        "annotated_slices": annotated,
        "reviewed_slices": reviewed,
        "slices_done": len(done),
        "unreviewed_slices": [z for z in range(count) if z not in done],
    }


def series_readings(*, series_id: int, user) -> list[Reading]:
    """All readings of the series once the user is unblinded (or an admin); else only the user's own."""
    review = review_get(series_id=series_id)
    if review is None:
        return []
    readings = list(review.readings.select_related("user", "review"))
    if access.blinded_to_priors(review, user):
        return []
    if access.is_admin(user) or (access.role_in(review, user) and access.both_submitted(review)):
        return readings
    return [reading for reading in readings if reading.user_id == user.pk]


def mask_version_get(*, reading: Reading, z_index: int, version: int) -> MaskVersion:
    found = MaskVersion.objects.filter(reading=reading, slice__z_index=z_index, version=version).first()
    if found is None:
        raise NotFound(f"reading {reading.pk} has no version {version} of slice {z_index}")
    return found


def mask_history(*, reading: Reading, z_index: int) -> QuerySet[MaskVersion]:
    return (
        MaskVersion.objects.filter(reading=reading, slice__z_index=z_index).select_related("author").order_by("version")
    )


def agreement_get(*, series_id: int, user) -> tuple[dict, list[SliceAgreement]]:
    review = _review_with_agreement(series_id, user)
    agreement = getattr(review, "agreement", None)
    if agreement is None:
        raise Conflict("the agreement is being computed; try again shortly")
    ranked = review.slice_agreements.select_related("slice").order_by("-differing_pixels", "slice__z_index")
    return agreement.figures, list(ranked)


def _review_with_agreement(series_id: int, user) -> Review:
    review = access.review_for_results(review_get(series_id=series_id), user, series_id)
    if not access.both_submitted(review):
        raise Conflict("agreement is computed once both readers have submitted")
    return review


def disagreement_png(*, series_id: int, z_index: int, user) -> bytes:
    review = _review_with_agreement(series_id, user)
    found = SliceAgreement.objects.filter(review=review, slice__z_index=z_index).first()
    if found is None:
        raise NotFound(f"no disagreement map for slice {z_index} of series {series_id} (yet)")
    return bytes(found.disagreement_png)


def consensus_get(*, series_id: int, user) -> Review:
    review = review_get(series_id=series_id)
    if review is not None and review.finalized_at:
        access.review_for_results(review, user, series_id)
        return review
    if access.is_admin(user):
        if review is None:
            raise NotFound(f"series {series_id} has no reading assignment")
        return review
    return access.review_for_adjudication(review, user, series_id)


def consensus_mask_png(*, series_id: int, z_index: int, user) -> bytes:
    review = consensus_get(series_id=series_id, user=user)
    if not review.finalized_at:
        raise Conflict("the consensus is not finalised yet")
    found = ConsensusMask.objects.filter(review=review, slice__z_index=z_index).first()
    if found is not None:
        return bytes(found.labels_png)
    series = review.series
    if not 0 <= z_index < series.slice_count:
        raise NotFound(f"series {series_id} has no slice with z index {z_index}")
    return labelmaps.encode_png(np.zeros((series.rows, series.columns), dtype=np.uint8))


def consensus_proposal_png(*, series_id: int, z_index: int, decision: str, user) -> bytes:
    """What an automatic decision (reader_1, reader_2, union, intersection) makes of one slice.

    The viewer starts an edit from it, so the union rule is computed in one place (the server).
    """
    review = access.review_for_adjudication(review_get(series_id=series_id), user, series_id)
    automatic = [value for value in ConsensusDecision.Decision.values if value != ConsensusDecision.Decision.EDITED]
    if decision not in automatic:
        raise DomainError(f"decision must be one of {', '.join(automatic)}, got {decision!r}")
    if not 0 <= z_index < review.series.slice_count:
        raise NotFound(f"series {series_id} has no slice with z index {z_index}")
    first, second = (reading_slice_labels(reading, z_index) for reading in reader_readings(review))
    return labelmaps.encode_png(agreement_math.consensus_labels(decision, first, second))


# ---------------------------------------------------------------- masks (the latest versions)


def reading_slice(reading: Reading, z_index: int) -> Slice:
    found = Slice.objects.filter(series_id=reading.review.series_id, z_index=z_index).first()
    if found is None:
        raise DomainError(f"series {reading.review.series_id} has no slice with z index {z_index}")
    return found


def reader_readings(review: Review) -> tuple[Reading, Reading]:
    readings = {r.role: r for r in review.readings.all()}
    return readings[Reading.Role.READER_1], readings[Reading.Role.READER_2]


# A mask version with any reticulation or GGO pixel (its stored counts).
HOLDS_MARKS = Q(reticulation_pixels__gt=0) | Q(ggo_pixels__gt=0)


def latest_mask_versions() -> QuerySet[MaskVersion]:
    """The newest version of every (reading, slice): no newer one exists."""
    newer = MaskVersion.objects.filter(reading=OuterRef("reading"), slice=OuterRef("slice"),
                                       version__gt=OuterRef("version"))  # fmt: skip
    return MaskVersion.objects.filter(~Exists(newer))


def _decoded(version: MaskVersion, shape: tuple[int, int]) -> np.ndarray:
    return labelmaps.decode_png(bytes(version.labels_png), shape=shape, max_label=MAX_PATTERN_LABEL)


def _series_shape(reading: Reading) -> tuple[int, int]:
    series = reading.review.series
    return series.rows, series.columns


def reading_slice_labels(reading: Reading, z_index: int) -> np.ndarray:
    """The latest saved labels of one slice (empty where nothing was saved)."""
    latest = latest_mask_versions().filter(reading=reading, slice__z_index=z_index).first()
    shape = _series_shape(reading)
    return _decoded(latest, shape) if latest is not None else np.zeros(shape, dtype=np.uint8)


def reading_labels_volume(reading: Reading) -> np.ndarray:
    """The latest version of every slice (empty where nothing was saved), in z order."""
    series = reading.review.series
    volume = np.zeros((series.slice_count, series.rows, series.columns), dtype=np.uint8)
    for version in latest_mask_versions().filter(reading=reading).select_related("slice"):
        volume[version.slice.z_index] = _decoded(version, volume.shape[1:])
    return volume


PREANNOTATION_TASKS = (ModelVersion.Task.RETICULATION, ModelVersion.Task.GGO)


def preannotation_effect(*, series_id: int) -> dict:
    """What AI pre-annotation does on a series: on or off, which models would seed the readers' empty slices
    (the active reticulation and GGO models, where they have predictions here; a merged model cannot tell
    the patterns apart, so it seeds nothing) and which versions seeded each reading's saved slices."""
    review = review_get(series_id=series_id)
    if review is None:
        raise NotFound(f"series {series_id} has no reading assignment")
    seeding = []
    for version in ModelVersion.objects.filter(is_active=True, task__in=PREANNOTATION_TASKS).order_by("task"):
        slices = Prediction.objects.filter(model_version=version, slice__series_id=series_id).count()
        seeding.append({"model_version_id": version.pk, "task": version.task, "label": version.label,
                        "slices_with_predictions": slices})  # fmt: skip
    return {
        "series_id": series_id,
        "ai_preannotation": review.ai_preannotation,
        "blind_to_priors": review.blind_to_priors,
        "seeding_models": seeding,
        "readings": [
            {"id": reading.pk, "role": reading.role, "user": reading.user.username,
             "preannotated_from": reading.preannotated_from}
            for reading in review.readings.select_related("user").order_by("role")
        ],
    }  # fmt: skip


def preannotation_predictions(reading: Reading, slice_: Slice) -> list[Prediction]:
    """The active reticulation and GGO models' predictions an empty slice of this reading starts from."""
    if not reading.review.ai_preannotation or reading.role == Reading.Role.ADJUDICATOR:
        return []
    return list(
        Prediction.objects.filter(
            slice=slice_, model_version__is_active=True,
            model_version__task__in=PREANNOTATION_TASKS,
        ).order_by("-model_version__task")  # reticulation last: it wins where both fire
    )  # fmt: skip


def mask_current(reading: Reading, z_index: int) -> tuple[np.ndarray, int]:
    """(labels, version) of a slice; version 0 is the starting point (empty, or the AI pre-annotation)."""
    slice_ = reading_slice(reading, z_index)
    shape = _series_shape(reading)
    latest = latest_mask_versions().filter(reading=reading, slice=slice_).first()
    if latest is not None:
        return _decoded(latest, shape), latest.version
    labels = np.zeros(shape, dtype=np.uint8)
    for prediction in preannotation_predictions(reading, slice_):
        predicted = labelmaps.decode_png(bytes(prediction.labels_png), shape=shape, max_label=MAX_PATTERN_LABEL)
        labels = np.where(predicted > 0, predicted, labels)
    return labels, 0


def consensus_labels_volume(review: Review) -> np.ndarray:
    series = review.series
    volume = np.zeros((series.slice_count, series.rows, series.columns), dtype=np.uint8)
    for mask in review.consensus_masks.select_related("slice"):
        volume[mask.slice.z_index] = labelmaps.decode_png(bytes(mask.labels_png), shape=volume.shape[1:])
    return volume


def slices_needing_decision(review: Review) -> list[int]:
    """Slices whose latest reader masks hold any mark and that have no decision yet (stored pixel counts)."""
    drawn = set(
        latest_mask_versions()
        .filter(reading__review=review, reading__role__in=access.READER_ROLES)
        .filter(HOLDS_MARKS)
        .values_list("slice__z_index", flat=True)
    )
    decided = set(review.decisions.values_list("slice__z_index", flat=True))
    return sorted(drawn - decided)


def annotated_slices(reading: Reading) -> list[int]:
    """Slices whose latest saved mask holds any mark (a slice saved empty again is not annotated)."""
    marked = latest_mask_versions().filter(reading=reading).filter(HOLDS_MARKS)
    return sorted(marked.values_list("slice__z_index", flat=True))


def reading_time_summary(reading: Reading) -> dict:
    """The reader's active time on the reading: in all, per slice, and on the slices they annotated."""
    rows = SliceReadingTime.objects.filter(reading=reading).order_by("slice__z_index")
    slices = [{"z_index": z, "active_ms": ms, "visits": visits}
              for z, ms, visits in rows.values_list("slice__z_index", "active_ms", "visits")]  # fmt: skip
    annotated = annotated_slices(reading)
    time_of = {entry["z_index"]: entry["active_ms"] for entry in slices}
    on_annotated = sum(time_of.get(z, 0) for z in annotated)
    return {
        "reading_id": reading.pk,
        "role": reading.role,
        "user": reading.user.username,
        "state": reading.state,
        "total_active_ms": sum(time_of.values()),
        "slices_visited": sum(1 for ms in time_of.values() if ms > 0),
        "annotated_slices": annotated,
        "active_ms_on_annotated_slices": on_annotated,
        "mean_active_ms_per_annotated_slice": on_annotated / len(annotated) if annotated else None,
        "slices": slices,
    }


def series_reading_times(*, series_id: int, user) -> list[dict]:
    """Reading time of each reader reading of the series the user may see (series_readings' rule)."""
    readings = series_readings(series_id=series_id, user=user)
    return [reading_time_summary(reading) for reading in readings if reading.role in access.READER_ROLES]


def audit_list(*, series_id: int | None) -> QuerySet[AuditEvent]:
    events = AuditEvent.objects.select_related("user")
    if series_id is not None:
        events = events.filter(series_id=series_id)
    return events


# ---------------------------------------------------------------- the AI pre-annotation's effect

AI_EFFECT_ANCHOR = (
    "In the literature, editing AI labels was about 2.8x faster than drawing from scratch (Front Radiol "
    "2023): a time ratio of about 0.36."
)


def _submitted_reader_readings() -> QuerySet[Reading]:
    return (
        Reading.objects.filter(role__in=access.READER_ROLES, state=Reading.State.SUBMITTED)
        .select_related("review__series__visit__patient", "user", "consensus_agreement")
        .annotate(active_ms=Coalesce(Sum("slice_times__active_ms"), 0))
        .order_by("review__series_id", "role")
    )


def _preannotated(reading: Reading) -> bool:
    """Did the reading start from the model's labels: slices it saved were seeded by a model version."""
    return bool(reading.preannotated_from)


def _dice_with_consensus(reading: Reading) -> float | None:
    found = getattr(reading, "consensus_agreement", None)
    return found.figures.get("dice_combined") if found is not None else None


def _ratio_or_none(numerator: list[float], denominator: list[float]) -> dict | None:
    """The ratio of medians, or None where the groups cannot give one (fewer than two values each)."""
    try:
        return statistics.median_ratio_with_bootstrap_ci(numerator, denominator)
    except ValueError:
        return None


def ai_effect() -> dict:
    """Submitted reader readings that started from the model's labels against those drawn from scratch:
    active reading time and Dice with the final consensus, each as the ratio of the groups' medians
    (with / without) with a bootstrap 95 % CI; readings without recorded time or consensus are left out
    of that figure."""
    groups: dict[str, list[Reading]] = {"with": [], "without": []}
    for reading in _submitted_reader_readings():
        groups["with" if _preannotated(reading) else "without"].append(reading)
    times = {name: [float(r.active_ms) for r in rows if r.active_ms > 0] for name, rows in groups.items()}
    dices = {name: [d for r in rows if (d := _dice_with_consensus(r)) is not None] for name, rows in groups.items()}
    summary = {
        name: {
            "readings": len(rows),
            "timed": len(times[name]),
            "median_active_ms": float(np.median(times[name])) if times[name] else None,
            "with_consensus": len(dices[name]),
            "median_dice_with_consensus": float(np.median(dices[name])) if dices[name] else None,
        }
        for name, rows in groups.items()
    }
    return {
        "with_preannotation": summary["with"],
        "without_preannotation": summary["without"],
        "time_ratio": _ratio_or_none(times["with"], times["without"]),
        "dice_ratio": _ratio_or_none(dices["with"], dices["without"]),
        "anchor": AI_EFFECT_ANCHOR,
    }


READINGS_EXPORT_COLUMNS = (
    "series_id", "patient", "visit_date", "visit_label", "manufacturer", "kernel", "slice_count", "role",
    "reader", "submitted_at", "ai_preannotation_switch", "preannotated", "preannotated_from",
    "total_active_ms", "slices_visited", "annotated_slices", "active_ms_per_annotated_slice",
    "reader_total_pct", "reader_reticulation_pct", "reader_ggo_pct", "consensus_total_pct",
    "consensus_reticulation_pct", "consensus_ggo_pct", "dice_combined_with_consensus",
    "dice_reticulation_with_consensus", "dice_ggo_with_consensus",
)  # fmt: skip


def readings_export_rows() -> list[dict]:
    """One row per submitted reader reading, for statisticians: the series, the reader, whether the model
    seeded it, reading time, the reader's and the consensus' involvement, and Dice with the consensus."""
    readings = list(_submitted_reader_readings())
    series_ids = {reading.review.series_id for reading in readings}
    involvement = {(row.series_id, row.source): row for row in Involvement.objects.filter(series_id__in=series_ids)}
    rows = []
    for reading in readings:
        series = reading.review.series
        times = reading_time_summary(reading)
        figures = getattr(reading, "consensus_agreement", None)
        figures = figures.figures if figures is not None else {}
        own, consensus = involvement.get((series.pk, reading.role)), involvement.get((series.pk, "consensus"))
        rows.append({
            "series_id": series.pk, "patient": series.visit.patient.pseudonym, "visit_date": series.visit.date,
            "visit_label": series.visit.label, "manufacturer": series.manufacturer, "kernel": series.kernel,
            "slice_count": series.slice_count, "role": reading.role, "reader": reading.user.username,
            "submitted_at": reading.submitted_at, "ai_preannotation_switch": reading.review.ai_preannotation,
            "preannotated": _preannotated(reading),
            "preannotated_from": ";".join(str(v) for v in reading.preannotated_from),
            "total_active_ms": times["total_active_ms"], "slices_visited": times["slices_visited"],
            "annotated_slices": len(times["annotated_slices"]),
            "active_ms_per_annotated_slice": times["mean_active_ms_per_annotated_slice"],
            "reader_total_pct": own.total_pct if own else None,
            "reader_reticulation_pct": own.reticulation_pct if own else None,
            "reader_ggo_pct": own.ggo_pct if own else None,
            "consensus_total_pct": consensus.total_pct if consensus else None,
            "consensus_reticulation_pct": consensus.reticulation_pct if consensus else None,
            "consensus_ggo_pct": consensus.ggo_pct if consensus else None,
            "dice_combined_with_consensus": figures.get("dice_combined"),
            "dice_reticulation_with_consensus": figures.get("dice_reticulation"),
            "dice_ggo_with_consensus": figures.get("dice_ggo"),
        })  # fmt: skip
    return rows
