"""The life of one series' review, top to bottom.

assign readers -> readers save mask versions (optimistic locking on the version) -> each submits ->
when both have: agreement is computed (a cpu job) -> the adjudicator decides per slice (slices the
readers agree on exactly are pre-decided) -> finalise materialises the consensus and computes
involvement for reader_1, reader_2 and consensus. Admins can reopen a submitted reading with a reason.
Every change is written to the audit trail in the same transaction as the change itself.
"""

from __future__ import annotations

import uuid

import numpy as np
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from ildplatform import labelmaps
from ildplatform.exceptions import Conflict, DomainError, NotFound
from ildplatform.jobs import job_create, job_progress
from ildplatform.labels import GGO, MAX_PATTERN_LABEL, RETICULATION
from ildplatform.models import Job, Series, Slice
from ildplatform.permissions import has_role
from ildplatform.roles import ADJUDICATOR, READER
from inference import services as inference_services

from . import agreement as agreement_math
from .access import both_submitted
from .models import (
    Agreement,
    AuditEvent,
    ConsensusAgreement,
    ConsensusDecision,
    ConsensusMask,
    MaskVersion,
    Reading,
    ReadingTimeBatch,
    Review,
    SliceAgreement,
    SliceReadingTime,
)
from .selectors import (
    consensus_labels_volume,
    mask_current,
    preannotation_predictions,
    reader_readings,
    reading_labels_volume,
    reading_slice,
    slices_needing_decision,
)

# The kinds of job this app runs (apps.py registers their runners with the core's job engine).
AGREEMENT_JOB = "agreement"
INVOLVEMENT_JOB = "involvement"


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


REVIEW_SETTINGS = ("ai_preannotation", "blind_to_priors")


def review_settings_set(*, review: Review, by: User, **settings: bool) -> Review:
    """Switch review settings (AI pre-annotation, blinding to priors); each switch is audited."""
    unknown = set(settings) - set(REVIEW_SETTINGS)
    if unknown:
        raise DomainError(f"unknown review setting(s): {', '.join(sorted(unknown))}")
    with transaction.atomic():
        for name, enabled in settings.items():
            setattr(review, name, enabled)
            audit_record(user=by, action=name, series=review.series, obj=review, enabled=enabled)
        review.save(update_fields=list(settings))
    return review


def review_set_ai_preannotation(*, review: Review, enabled: bool, by: User) -> Review:
    return review_settings_set(review=review, by=by, ai_preannotation=enabled)


# ---------------------------------------------------------------- masks


def mask_save(*, reading: Reading, z_index: int, png: bytes, if_match: int | None, user: User) -> MaskVersion:
    """Store a new version, or refuse: the caller must say which version it changed (If-Match)."""
    if reading.state == Reading.State.SUBMITTED:
        raise Conflict("the reading is submitted; an admin must reopen it before masks can change")
    if if_match is None:
        raise PreconditionRequired("send If-Match with the version the change is based on (ETag of the GET)")
    series = reading.review.series
    slice_ = reading_slice(reading, z_index)
    try:
        labels = labelmaps.decode_png(png, shape=(series.rows, series.columns), max_label=MAX_PATTERN_LABEL)
    except labelmaps.LabelMapError as error:
        raise DomainError(f"mask for slice {z_index}: {error}") from None
    try:
        with transaction.atomic():
            current = MaskVersion.objects.filter(reading=reading, slice=slice_).aggregate(v=Max("version"))["v"] or 0
            if if_match != current:
                raise StaleVersion(current)
            version = MaskVersion.objects.create(
                reading=reading, slice=slice_, version=current + 1, labels_png=labelmaps.encode_png(labels),
                reticulation_pixels=int((labels == RETICULATION).sum()), ggo_pixels=int((labels == GGO).sum()),
                author=user,
            )  # fmt: skip
            if reading.state == Reading.State.ASSIGNED:
                Reading.objects.filter(pk=reading.pk).update(state=Reading.State.IN_PROGRESS)
                reading.state = Reading.State.IN_PROGRESS
            if current == 0:
                _record_preannotation(reading, slice_)
            audit_record(user=user, action="mask_save", series=series, obj=reading, before=current,
                         after=current + 1, z_index=z_index)  # fmt: skip
    except IntegrityError:
        # Another save of the same version won the race (the unique key decided it).
        current = MaskVersion.objects.filter(reading=reading, slice=slice_).aggregate(v=Max("version"))["v"] or 0
        raise StaleVersion(current) from None
    return version


def reading_masks_import(*, reading: Reading, labels: np.ndarray, user: User, origin: str) -> list[int]:
    """A whole reading's masks made elsewhere (a DICOM SEG from another tool): a new version of every slice
    whose labels differ from the current ones, all or none; returns the z indexes that changed."""
    if reading.state == Reading.State.SUBMITTED:
        raise Conflict("the reading is submitted; an admin must reopen it before masks can change")
    series = reading.review.series
    if labels.shape != (series.slice_count, series.rows, series.columns):
        raise DomainError(f"labels of shape {labels.shape} for a series of {series.slice_count} slices "
                          f"of {series.columns}x{series.rows}")  # fmt: skip
    changed = []
    try:
        with transaction.atomic():
            Reading.objects.select_for_update().filter(pk=reading.pk).first()  # one import or save at a time
            for slice_ in series.slices.order_by("z_index"):
                current, version = mask_current(reading, slice_.z_index)
                new = labels[slice_.z_index]
                if np.array_equal(current, new) and version > 0 or (version == 0 and not new.any()):
                    continue
                MaskVersion.objects.create(
                    reading=reading, slice=slice_, version=version + 1, labels_png=labelmaps.encode_png(new),
                    reticulation_pixels=int((new == RETICULATION).sum()), ggo_pixels=int((new == GGO).sum()),
                    author=user,
                )  # fmt: skip
                changed.append(slice_.z_index)
            if changed and reading.state == Reading.State.ASSIGNED:
                Reading.objects.filter(pk=reading.pk).update(state=Reading.State.IN_PROGRESS)
                reading.state = Reading.State.IN_PROGRESS
            audit_record(user=user, action="mask_import", series=series, obj=reading, slices=changed, origin=origin)
    except IntegrityError:
        raise Conflict("a mask of this reading was saved during the import; import again") from None
    return changed


def _record_preannotation(reading: Reading, slice_: Slice) -> None:
    """The first save of a slice was based on the AI pre-annotation: keep which models seeded it."""
    used = {prediction.model_version_id for prediction in preannotation_predictions(reading, slice_)}
    if used and not used <= set(reading.preannotated_from):
        reading.preannotated_from = sorted(used | set(reading.preannotated_from))
        Reading.objects.filter(pk=reading.pk).update(preannotated_from=reading.preannotated_from)


# ---------------------------------------------------------------- reading time

# The workspace sends its increments every 15 s; a batch holding more active time than this did not come
# from it (time piled up by a client gone wrong, or made up), and is refused whole.
READING_TIME_BATCH_MAX_MS = 10 * 60 * 1000


def reading_time_add(*, reading: Reading, batch_id: uuid.UUID, slices: list[dict]) -> bool:
    """Add one batch of active time per slice (`{"z_index", "active_ms", "visits"}`) to the reader's open
    reading, all or none. A batch id is counted once: False when this batch was counted already."""
    series = reading.review.series
    if not slices:
        raise DomainError("a batch of reading time names at least one slice")
    z_indexes = [entry["z_index"] for entry in slices]
    twice = sorted({z for z in z_indexes if z_indexes.count(z) > 1})
    if twice:
        raise DomainError(f"slice z index {twice[0]} appears more than once in the batch")
    slice_ids = dict(Slice.objects.filter(series=series, z_index__in=z_indexes).values_list("z_index", "pk"))
    missing = sorted(set(z_indexes) - set(slice_ids))
    if missing:
        raise DomainError(f"series {series.pk} has no slice with z index {missing[0]} "
                          f"(its slices are 0..{series.slice_count - 1})")  # fmt: skip
    total_ms = sum(entry["active_ms"] for entry in slices)
    if total_ms > READING_TIME_BATCH_MAX_MS:
        raise DomainError(
            f"a batch holds at most {READING_TIME_BATCH_MAX_MS} ms of active time, this one {total_ms} ms"
        )
    with transaction.atomic():
        # One batch of a reading at a time: the batch id check and the sums below cannot interleave.
        reading = Reading.objects.select_for_update().get(pk=reading.pk)
        if reading.state == Reading.State.SUBMITTED:
            raise Conflict("the reading is submitted; its reading time is closed")
        if ReadingTimeBatch.objects.filter(reading=reading, batch_id=batch_id).exists():
            return False
        ReadingTimeBatch.objects.create(reading=reading, batch_id=batch_id, active_ms=total_ms)
        rows = {row.slice_id: row for row in SliceReadingTime.objects.filter(reading=reading)}
        for entry in slices:
            slice_id = slice_ids[entry["z_index"]]
            row = rows.get(slice_id) or SliceReadingTime(reading=reading, slice_id=slice_id)
            row.active_ms += entry["active_ms"]
            row.visits += entry["visits"]
            row.save()
    return True


# ---------------------------------------------------------------- submit and reopen


def reading_slice_reviewed(*, reading: Reading, z_index: int, reviewed: bool, user: User) -> Reading:
    """Mark a slice of the reading as reviewed (or not): progress counts it, the submit warning leaves it out."""
    if not 0 <= z_index < reading.review.series.slice_count:
        raise NotFound(f"series {reading.review.series_id} has no slice with z index {z_index}")
    with transaction.atomic():
        reading = Reading.objects.select_for_update().get(pk=reading.pk)
        if reading.state == Reading.State.SUBMITTED:
            raise Conflict("the reading is submitted; an admin must reopen it first")
        marked = set(reading.reviewed_slices)
        marked = marked | {z_index} if reviewed else marked - {z_index}
        reading.reviewed_slices = sorted(marked)
        if reading.state == Reading.State.ASSIGNED:
            reading.state = Reading.State.IN_PROGRESS
        reading.save(update_fields=["reviewed_slices", "state"])
    return reading


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
            job_create(kind=AGREEMENT_JOB, series=review.series, user=user)
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


def agreement_run(job: Job) -> None:
    review = job.series.review
    first, second = (reading_labels_volume(r) for r in reader_readings(review))
    series = job.series
    lung = inference_services.series_lung_volume_or_compute(series, lambda fraction: job_progress(job, 0.3 * fraction))
    region = inference_services.series_lung_region(series, lung, (first > 0) | (second > 0))
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
                job_progress(job, 0.3 + 0.7 * z_index / len(slices))


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
            labels = labelmaps.decode_png(png, shape=(series.rows, series.columns), max_label=MAX_PATTERN_LABEL)
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
        # The adjudicator's own reading says how far the adjudication is, as readers' readings do.
        review.readings.filter(role=Reading.Role.ADJUDICATOR, state=Reading.State.ASSIGNED).update(
            state=Reading.State.IN_PROGRESS
        )
    return row


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
        first, second = (reading_labels_volume(r) for r in reader_readings(review))
        shape = first.shape[1:]
        ConsensusMask.objects.filter(review=review).delete()
        for decision in review.decisions.select_related("slice"):
            z_index = decision.slice.z_index
            if decision.decision == ConsensusDecision.Decision.EDITED:
                labels = labelmaps.decode_png(bytes(decision.edited_png), shape=shape, max_label=MAX_PATTERN_LABEL)
            else:
                labels = agreement_math.consensus_labels(decision.decision, first[z_index], second[z_index])
            ConsensusMask.objects.create(review=review, slice=decision.slice, labels_png=labelmaps.encode_png(labels))
        review.finalized_at, review.finalized_by = timezone.now(), user
        review.save(update_fields=["finalized_at", "finalized_by"])
        review.readings.filter(role=Reading.Role.ADJUDICATOR).update(
            state=Reading.State.SUBMITTED, submitted_at=review.finalized_at
        )
        audit_record(user=user, action="finalize", series=review.series, obj=review)
        return job_create(kind=INVOLVEMENT_JOB, series=review.series, user=user)


def review_involvement_run(job: Job) -> None:
    """Involvement of reader_1, reader_2 and consensus for the series' visit."""
    series = job.series
    review = series.review
    lung = inference_services.series_lung_volume_or_compute(series, lambda fraction: job_progress(job, 0.5 * fraction))
    first, second = reader_readings(review)
    sources = {"reader_1": reading_labels_volume(first), "reader_2": reading_labels_volume(second)}
    if review.finalized_at:
        sources["consensus"] = consensus_labels_volume(review)
    for source, labels in sources.items():
        inference_services.involvement_store(series=series, source=source, labels=labels)
    if "consensus" in sources:  # each reader against the final word (the AI-effect figures compare these)
        consensus = sources["consensus"]
        for reading, labels in ((first, sources["reader_1"]), (second, sources["reader_2"])):
            region = inference_services.series_lung_region(series, lung, (labels > 0) | (consensus > 0))
            ConsensusAgreement.objects.update_or_create(
                reading=reading, defaults={"figures": agreement_math.agreement_figures(labels, consensus, region)}
            )
