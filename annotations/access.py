"""The one place that knows the blinding rule and who may see or change what in a review.

- A reader sees and edits their own reading. They see nothing of the other reading (masks, pixel
  counts, history, agreement, involvement) until both readings are submitted.
- The adjudicator sees nothing of the readings until both are submitted; then reads them and decides.
- Clinicians read the finalised consensus and involvement; they never edit.
- Admins see everything and manage assignments; they do not paint in a reader's name.
Refusals: 404 where the user may not know the object exists (someone else's reading), 403 where
they know it (a series they are assigned to, a consensus they may read but not change).
"""

from __future__ import annotations

from ildplatform.exceptions import Forbidden, NotFound
from ildplatform.permissions import has_role
from ildplatform.roles import ADMIN, CLINICIAN

from .models import Reading, Review

READER_ROLES = (Reading.Role.READER_1, Reading.Role.READER_2)


def both_submitted(review: Review) -> bool:
    states = {r.role: r.state for r in review.readings.all()}
    return all(states.get(role) == Reading.State.SUBMITTED for role in READER_ROLES)


def role_in(review: Review, user) -> str | None:
    for reading in review.readings.all():
        if reading.user_id == user.pk:
            return reading.role
    return None


def is_admin(user) -> bool:
    return has_role(user, ADMIN)


def readings_unblinded_for(review: Review, user) -> bool:
    """May this user see the readers' masks, figures and reader involvement of this review?"""
    if is_admin(user):
        return True
    if role_in(review, user) is not None or has_role(user, CLINICIAN):
        return both_submitted(review)
    return False


def reading_for_view(reading_id: int, user) -> Reading:
    reading = Reading.objects.select_related("review__series", "user").filter(pk=reading_id).first()
    if reading is None:
        raise NotFound(f"no reading with id {reading_id}")
    if reading.user_id == user.pk or is_admin(user):
        return reading
    review = reading.review
    if role_in(review, user) is not None:
        if readings_unblinded_for(review, user):
            return reading
        if role_in(review, user) == Reading.Role.ADJUDICATOR:
            raise Forbidden("the readings are hidden until both readers have submitted")
    # Another reader's work is not even acknowledged before unblinding.
    raise NotFound(f"no reading with id {reading_id}")


def reading_for_edit(reading_id: int, user) -> Reading:
    reading = reading_for_view(reading_id, user)
    if reading.user_id != user.pk:
        raise Forbidden("only the reader of a reading may change it")
    if reading.role == Reading.Role.ADJUDICATOR:
        raise Forbidden("the adjudicator decides on the consensus; this reading holds no masks")
    return reading


def review_for_results(review: Review | None, user, series_id: int) -> Review:
    """Agreement and disagreement maps: readers, adjudicator, clinicians and admins after unblinding."""
    if review is None:
        raise NotFound(f"series {series_id} has no reading assignment")
    if not readings_unblinded_for(review, user):
        if role_in(review, user) is None and not has_role(user, CLINICIAN):
            raise Forbidden("you are not part of the review of this series")
        raise Forbidden("agreement figures are hidden until both readers have submitted")
    return review


def review_for_adjudication(review: Review | None, user, series_id: int) -> Review:
    if review is None:
        raise NotFound(f"series {series_id} has no reading assignment")
    if role_in(review, user) != Reading.Role.ADJUDICATOR:
        raise Forbidden("only the series' adjudicator may decide on the consensus")
    if not both_submitted(review):
        raise Forbidden("adjudication opens once both readers have submitted")
    return review


def hidden_involvement_sources(review: Review | None, user) -> set[str]:
    """Involvement sources of the review's visit that this user may not see (yet)."""
    if review is None or readings_unblinded_for(review, user):
        return set()
    return {"reader_1", "reader_2", "consensus"}


def hidden_involvement_sources_by_series(series_ids, user) -> dict[int, set[str]]:
    """The same rule for many series at once (registered with inference's involvement selectors)."""
    reviews = Review.objects.filter(series_id__in=series_ids).prefetch_related("readings")
    return {review.series_id: hidden_involvement_sources(review, user) for review in reviews}
