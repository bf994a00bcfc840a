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
from ildplatform.models import Series
from ildplatform.permissions import has_role
from ildplatform.roles import ADMIN, CLINICIAN
from inference.visibility import EVERY_SOURCE

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
    reading = (
        Reading.objects.select_related("review__series__visit", "user")
        .prefetch_related("review__readings")  # the blinding rule looks at both readings, several times
        .filter(pk=reading_id)
        .first()
    )
    if reading is None:
        raise NotFound(f"no reading with id {reading_id}")
    blinded_to_priors_check(reading.review, user)  # the reader's own earlier readings of the patient too
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
    blinded_to_priors_check(review, user)
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
    """Involvement sources of the review's visit that this user may not see (yet): every source, models
    included, while the user's own reader reading of it is open (a reader meets the model only through AI
    pre-annotation); the readers' and consensus figures until both readers have submitted."""
    if review is None:
        return set()
    reading_open = any(
        reading.user_id == user.pk and reading.role in READER_ROLES and reading.state != Reading.State.SUBMITTED
        for reading in review.readings.all()
    )
    if reading_open:
        return {EVERY_SOURCE}
    if readings_unblinded_for(review, user):
        return set()
    return {"reader_1", "reader_2", "consensus"}


def hidden_involvement_sources_by_series(series_ids, user) -> dict[int, set[str]]:
    """The same rule for many series at once (registered with inference's visibility rules); every source,
    models included, of a patient the user is blinded to (`patients_blinded_for`)."""
    reviews = Review.objects.filter(series_id__in=series_ids).prefetch_related("readings")
    hidden = {review.series_id: hidden_involvement_sources(review, user) for review in reviews}
    blinded = patients_blinded_for(user)
    if blinded:
        for series_id in Series.objects.filter(pk__in=series_ids, visit__patient_id__in=blinded).values_list(
            "pk", flat=True
        ):
            hidden[series_id] = {EVERY_SOURCE}
    return hidden


def patients_blinded_for(user) -> set[int]:
    """Patients of whom this reader has an open reading on a series read blind to priors: until it is
    submitted, the patient's other readings, consensus, predictions and involvement stay hidden from them."""
    if not (user and user.is_authenticated):
        return set()
    open_readings = Reading.objects.filter(user=user, role__in=READER_ROLES, review__blind_to_priors=True).exclude(
        state=Reading.State.SUBMITTED
    )
    return set(open_readings.values_list("review__series__visit__patient_id", flat=True))


def blinded_to_priors(review: Review, user) -> bool:
    """Is this review another series of a patient the reader is reading blind to priors? (The reader's own
    review, still being read, keeps its own rules.)"""
    # The reader's own open review first: it needs no query (the readings are prefetched), and it is
    # what every autosave asks.
    if (role_in(review, user) in READER_ROLES and not both_submitted(review)) or is_admin(user):
        return False
    return review.series.visit.patient_id in patients_blinded_for(user)


def blinded_to_priors_check(review: Review, user) -> None:
    """Refuse the readings and results of another series of a patient the reader is reading blind to priors."""
    if blinded_to_priors(review, user):
        raise Forbidden(
            "this patient's other readings and results are hidden while your reading of one of their series is open"
        )
