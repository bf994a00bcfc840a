"""Reads of the review workflow; every one takes the user and applies the rules in access.py."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from ildplatform import labelmaps
from ildplatform.exceptions import Conflict, NotFound

from . import access
from .models import AuditEvent, ConsensusMask, MaskVersion, Reading, Review, SliceAgreement


def review_get(*, series_id: int) -> Review | None:
    return Review.objects.select_related("series").prefetch_related("readings").filter(series_id=series_id).first()


def worklist(*, user, everyone: bool = False) -> QuerySet[Reading]:
    readings = Reading.objects.select_related("review__series__visit__patient", "user").annotate(
        slices_annotated=Count("mask_versions__slice", distinct=True)
    )
    if not (everyone and access.is_admin(user)):
        readings = readings.filter(user=user)
    return readings.order_by("state", "review__series_id", "role")


def series_readings(*, series_id: int, user) -> list[Reading]:
    """All readings of the series once the user is unblinded (or an admin); else only the user's own."""
    review = review_get(series_id=series_id)
    if review is None:
        return []
    readings = list(review.readings.select_related("user", "review"))
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
    return agreement.figures, list(review.slice_agreements.select_related("slice"))


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
    import numpy as np

    return labelmaps.encode_png(np.zeros((series.rows, series.columns), dtype=np.uint8))


def audit_list(*, series_id: int | None) -> QuerySet[AuditEvent]:
    events = AuditEvent.objects.select_related("user")
    if series_id is not None:
        events = events.filter(series_id=series_id)
    return events
