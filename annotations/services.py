"""The life of one series' review, top to bottom.

assign readers -> readers save mask versions (optimistic locking on the version) -> each submits ->
when both have: agreement is computed (a cpu job) -> the adjudicator decides per slice (slices the
readers agree on exactly are pre-decided) -> finalise materialises the consensus and computes
involvement for reader_1, reader_2 and consensus. Admins can reopen a submitted reading with a reason.
Every change is written to the audit trail in the same transaction as the change itself.
"""

from __future__ import annotations

import numpy as np
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from ildplatform import labelmaps
from ildplatform.exceptions import Conflict, DomainError
from ildplatform.models import Series, Slice
from ildplatform.permissions import has_role
from ildplatform.roles import ADJUDICATOR, READER
from inference import lungmask
from inference import services as inference_services
from inference.models import Job, ModelVersion, Prediction

from . import agreement as agreement_math
from .access import both_submitted
from .models import (
    Agreement,
    AuditEvent,
    ConsensusDecision,
    ConsensusMask,
    MaskVersion,
    Reading,
    Review,
    SliceAgreement,
)

MAX_LABEL = 2


class StaleVersion(Conflict):
    def __init__(self, current: int):
        super().__init__(
            f"the mask was saved as version {current} since the version you started from; "
            "reload it and apply your change again",
            extra={"current_version": current},
        )
        self.current = current


class PreconditionRequired(DomainError):
    status_code = 428


def audit_record(*, user, action: str, series: Series, obj, before: int | None = None, after: int | None = None,
                 **detail) -> None:  # fmt: skip
    AuditEvent.objects.create(
        user=user, action=action, series=series, object_type=type(obj).__name__.lower(), object_id=str(obj.pk),
        before_version=before, after_version=after, detail=detail,
    )  # fmt: skip


# ---------------------------------------------------------------- assignment


def review_assign(*, series: Series, reader_1: User, reader_2: User, adjudicator: User, by: User) -> Review:
    if len({reader_1.pk, reader_2.pk, adjudicator.pk}) != 3:
        raise DomainError("reader_1, reader_2 and adjudicator must be three different users")
    for user, role in ((reader_1, READER), (reader_2, READER), (adjudicator, ADJUDICATOR)):
        if not has_role(user, role):
            raise DomainError(f"user {user.username!r} does not have the {role} role")
    with transaction.atomic():
        review, _ = Review.objects.select_for_update().get_or_create(series=series)
        if review.readings.exclude(state=Reading.State.ASSIGNED).exists() or review.finalized_at:
            raise Conflict(f"series {series.pk} is being read already; its readers cannot be changed")
        review.readings.all().delete()
        for role, user in (
            (Reading.Role.READER_1, reader_1), (Reading.Role.READER_2, reader_2),
            (Reading.Role.ADJUDICATOR, adjudicator),
        ):  # fmt: skip
            reading = Reading.objects.create(review=review, role=role, user=user)
            audit_record(user=by, action="assign", series=series, obj=reading, role=role, reader=user.username)
    return review


def review_set_ai_preannotation(*, review: Review, enabled: bool, by: User) -> Review:
    with transaction.atomic():
        review.ai_preannotation = enabled
        review.save(update_fields=["ai_preannotation"])
        audit_record(user=by, action="ai_preannotation", series=review.series, obj=review, enabled=enabled)
    return review


# ---------------------------------------------------------------- masks


def _slice(reading: Reading, z_index: int) -> Slice:
    found = Slice.objects.filter(series_id=reading.review.series_id, z_index=z_index).first()
    if found is None:
        raise DomainError(f"series {reading.review.series_id} has no slice with z index {z_index}")
    return found


def mask_current(reading: Reading, z_index: int) -> tuple[np.ndarray, int]:
    """(labels, version) of a slice; version 0 is the starting point (empty, or the AI pre-annotation)."""
    slice_ = _slice(reading, z_index)
    latest = MaskVersion.objects.filter(reading=reading, slice=slice_).order_by("-version").first()
    if latest is not None:
        shape = (reading.review.series.rows, reading.review.series.columns)
        return labelmaps.decode_png(bytes(latest.labels_png), shape=shape), latest.version
    return _starting_labels(reading, slice_), 0


def _starting_labels(reading: Reading, slice_: Slice) -> np.ndarray:
    series = reading.review.series
    labels = np.zeros((series.rows, series.columns), dtype=np.uint8)
    if not reading.review.ai_preannotation or reading.role == Reading.Role.ADJUDICATOR:
        return labels
    # Active reticulation and GGO models; reticulation wins where both fire (as in the label convention).
    predictions = Prediction.objects.filter(
        slice=slice_, model_version__is_active=True,
        model_version__task__in=[ModelVersion.Task.GGO, ModelVersion.Task.RETICULATION],
    ).order_by("-model_version__task")  # fmt: skip
    used = []
    for prediction in predictions:
        predicted = labelmaps.decode_png(bytes(prediction.labels_png), shape=labels.shape, max_label=MAX_LABEL)
        labels = np.where(predicted > 0, predicted, labels)
        used.append(prediction.model_version_id)
    if used and not set(used) <= set(reading.preannotated_from):
        reading.preannotated_from = sorted(set(reading.preannotated_from) | set(used))
        reading.save(update_fields=["preannotated_from"])
    return labels


def mask_save(*, reading: Reading, z_index: int, png: bytes, if_match: int | None, user: User) -> MaskVersion:
    """Store a new version, or refuse: the caller must say which version it changed (If-Match)."""
    if reading.state == Reading.State.SUBMITTED:
        raise Conflict("the reading is submitted; an admin must reopen it before masks can change")
    if if_match is None:
        raise PreconditionRequired("send If-Match with the version the change is based on (ETag of the GET)")
    series = reading.review.series
    slice_ = _slice(reading, z_index)
    try:
        labels = labelmaps.decode_png(png, shape=(series.rows, series.columns), max_label=MAX_LABEL)
    except labelmaps.LabelMapError as error:
        raise DomainError(f"mask for slice {z_index}: {error}") from None
    try:
        with transaction.atomic():
            current = MaskVersion.objects.filter(reading=reading, slice=slice_).aggregate(v=Max("version"))["v"] or 0
            if if_match != current:
                raise StaleVersion(current)
            version = MaskVersion.objects.create(
                reading=reading, slice=slice_, version=current + 1, labels_png=labelmaps.encode_png(labels),
                reticulation_pixels=int((labels == 1).sum()), ggo_pixels=int((labels == 2).sum()), author=user,
            )  # fmt: skip
            if reading.state == Reading.State.ASSIGNED:
                Reading.objects.filter(pk=reading.pk).update(state=Reading.State.IN_PROGRESS)
                reading.state = Reading.State.IN_PROGRESS
            audit_record(user=user, action="mask_save", series=series, obj=reading, before=current,
                         after=current + 1, z_index=z_index)  # fmt: skip
    except IntegrityError:
        # Another save of the same version won the race (the unique key decided it).
        current = MaskVersion.objects.filter(reading=reading, slice=slice_).aggregate(v=Max("version"))["v"] or 0
        raise StaleVersion(current) from None
    return version


def reading_labels_volume(reading: Reading) -> np.ndarray:
    """The latest version of every slice (empty where nothing was saved), in z order."""
    series = reading.review.series
    volume = np.zeros((series.slice_count, series.rows, series.columns), dtype=np.uint8)
    latest: dict[int, MaskVersion] = {}
    for version in MaskVersion.objects.filter(reading=reading).select_related("slice").order_by("version"):
        latest[version.slice.z_index] = version
    for z_index, version in latest.items():
        volume[z_index] = labelmaps.decode_png(bytes(version.labels_png), shape=volume.shape[1:], max_label=MAX_LABEL)
    return volume


# ---------------------------------------------------------------- submit and reopen


def reading_submit(*, reading: Reading, user: User) -> Reading:
    with transaction.atomic():
        reading = Reading.objects.select_for_update().get(pk=reading.pk)
        if reading.state == Reading.State.SUBMITTED:
            raise Conflict("the reading is submitted already")
        reading.state, reading.submitted_at = Reading.State.SUBMITTED, timezone.now()
        reading.save(update_fields=["state", "submitted_at"])
        review = reading.review
        audit_record(user=user, action="submit", series=review.series, obj=reading)
        if both_submitted(review):
            inference_services.job_create(kind=Job.Kind.AGREEMENT, series=review.series, user=user)
    return reading


def reading_reopen(*, reading: Reading, reason: str, user: User) -> Reading:
    if not reason.strip():
        raise DomainError("give the reason for reopening the reading")
    with transaction.atomic():
        reading = Reading.objects.select_for_update().get(pk=reading.pk)
        if reading.state != Reading.State.SUBMITTED:
            raise Conflict("only a submitted reading can be reopened")
        if reading.review.finalized_at:
            raise Conflict("the consensus of this series is finalised; its readings stay closed")
        reading.state, reading.submitted_at = Reading.State.IN_PROGRESS, None
        reading.save(update_fields=["state", "submitted_at"])
        audit_record(user=user, action="reopen", series=reading.review.series, obj=reading, reason=reason)
    return reading


# ---------------------------------------------------------------- agreement (a cpu job)


def _readers(review: Review) -> tuple[Reading, Reading]:
    readings = {r.role: r for r in review.readings.all()}
    return readings[Reading.Role.READER_1], readings[Reading.Role.READER_2]


def _lung_or_compute(series: Series, on_progress) -> np.ndarray:
    lung = inference_services.series_lung_volume(series)
    if lung is None:
        inference_services.lung_masks_compute(series, on_progress)
        lung = inference_services.series_lung_volume(series)
    return lung


def agreement_run(job: Job) -> None:
    review = job.series.review
    first, second = (reading_labels_volume(r) for r in _readers(review))
    lung = _lung_or_compute(job.series, lambda fraction: inference_services.job_progress(job, 0.3 * fraction))
    region = lungmask.lung_region(lung, (first > 0) | (second > 0))
    slices = list(job.series.slices.order_by("z_index"))
    with transaction.atomic():
        Agreement.objects.update_or_create(
            review=review, defaults={"figures": agreement_math.agreement_figures(first, second, region)}
        )
        for z_index, slice_ in enumerate(slices):
            a, b = first[z_index], second[z_index]
            SliceAgreement.objects.update_or_create(
                review=review, slice=slice_,
                defaults={
                    "figures": agreement_math.agreement_figures(a, b, region[z_index]),
                    "disagreement_png": labelmaps.encode_png(agreement_math.disagreement_map(a, b)),
                    "differing_pixels": agreement_math.differing_pixels(a, b),
                },
            )  # fmt: skip
            if np.array_equal(a, b) and a.any():
                ConsensusDecision.objects.get_or_create(
                    review=review, slice=slice_, defaults={"decision": "reader_1", "pre_decided": True}
                )
            if z_index % 16 == 0:
                inference_services.job_progress(job, 0.3 + 0.7 * z_index / len(slices))


# ---------------------------------------------------------------- adjudication


def consensus_decide(*, review: Review, z_index: int, decision: str, png: bytes | None, user: User):
    if review.finalized_at:
        raise Conflict("the consensus is finalised")
    if decision not in ConsensusDecision.Decision.values:
        raise DomainError(f"decision must be one of {', '.join(ConsensusDecision.Decision.values)}, got {decision!r}")
    series = review.series
    slice_ = Slice.objects.filter(series=series, z_index=z_index).first()
    if slice_ is None:
        raise DomainError(f"series {series.pk} has no slice with z index {z_index}")
    edited = None
    if decision == ConsensusDecision.Decision.EDITED:
        if not png:
            raise DomainError("an edited decision needs the edited mask as a PNG (field 'mask')")
        try:
            labels = labelmaps.decode_png(png, shape=(series.rows, series.columns), max_label=MAX_LABEL)
        except labelmaps.LabelMapError as error:
            raise DomainError(f"edited mask for slice {z_index}: {error}") from None
        edited = labelmaps.encode_png(labels)
    elif png:
        raise DomainError(f"a mask goes only with the 'edited' decision, not with {decision!r}")
    with transaction.atomic():
        row, created = ConsensusDecision.objects.update_or_create(
            review=review, slice=slice_,
            defaults={"decision": decision, "edited_png": edited, "pre_decided": False, "decided_by": user},
        )  # fmt: skip
        audit_record(user=user, action="decide", series=series, obj=row, z_index=z_index, decision=decision)
    return row


def slices_needing_decision(review: Review) -> list[int]:
    """Slices where any reader drew something and no decision is recorded yet."""
    drawn = set(
        MaskVersion.objects.filter(reading__review=review, reading__role__in=["reader_1", "reader_2"])
        .values_list("slice__z_index", flat=True)
        .distinct()
    )
    first, second = (reading_labels_volume(r) for r in _readers(review))
    drawn = {z for z in drawn if first[z].any() or second[z].any()}
    decided = set(review.decisions.values_list("slice__z_index", flat=True))
    return sorted(drawn - decided)


def consensus_finalize(*, review: Review, user: User) -> Job:
    with transaction.atomic():
        review = Review.objects.select_for_update().get(pk=review.pk)
        if review.finalized_at:
            raise Conflict("the consensus is finalised already")
        missing = slices_needing_decision(review)
        if missing:
            raise Conflict(
                f"{len(missing)} slice(s) with reader marks have no decision yet: z index "
                + ", ".join(map(str, missing[:20])),
                extra={"undecided_slices": missing},
            )
        first, second = (reading_labels_volume(r) for r in _readers(review))
        shape = first.shape[1:]
        ConsensusMask.objects.filter(review=review).delete()
        for decision in review.decisions.select_related("slice"):
            z_index = decision.slice.z_index
            if decision.decision == ConsensusDecision.Decision.EDITED:
                labels = labelmaps.decode_png(bytes(decision.edited_png), shape=shape, max_label=MAX_LABEL)
            else:
                labels = agreement_math.consensus_labels(decision.decision, first[z_index], second[z_index])
            ConsensusMask.objects.create(review=review, slice=decision.slice, labels_png=labelmaps.encode_png(labels))
        review.finalized_at, review.finalized_by = timezone.now(), user
        review.save(update_fields=["finalized_at", "finalized_by"])
        audit_record(user=user, action="finalize", series=review.series, obj=review)
        return inference_services.job_create(kind=Job.Kind.INVOLVEMENT, series=review.series, user=user)


def consensus_labels_volume(review: Review) -> np.ndarray:
    series = review.series
    volume = np.zeros((series.slice_count, series.rows, series.columns), dtype=np.uint8)
    for mask in review.consensus_masks.select_related("slice"):
        volume[mask.slice.z_index] = labelmaps.decode_png(bytes(mask.labels_png), shape=volume.shape[1:])
    return volume


def review_involvement_run(job: Job) -> None:
    """Involvement of reader_1, reader_2 and consensus for the series' visit."""
    series = job.series
    review = series.review
    _lung_or_compute(series, lambda fraction: inference_services.job_progress(job, 0.5 * fraction))
    first, second = _readers(review)
    sources = {"reader_1": reading_labels_volume(first), "reader_2": reading_labels_volume(second)}
    if review.finalized_at:
        sources["consensus"] = consensus_labels_volume(review)
    for source, labels in sources.items():
        inference_services.involvement_store(series=series, source=source, labels=labels)
