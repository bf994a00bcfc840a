"""Browser pages: thin shells that hand ids to the viewer bundle, which talks to /api/v1/.

Each page's context names its `page`: the bundle's entry `src/<page>/main.js` (see base.html).

Permissions are the API's: a page only says which object it is about; every byte of imaging, masks and
figures comes through the API, where the blinding rule is enforced.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render

from annotations import access
from annotations import selectors as annotation_selectors
from annotations.models import Reading
from ildplatform import selectors
from ildplatform.exceptions import DomainError
from ildplatform.permissions import may_run_model
from ildplatform.roles import ADJUDICATOR, READER


def _roles(request) -> list[str]:
    return sorted(request.user.groups.values_list("name", flat=True))


@login_required
def home(request):
    return render(request, "frontend/home.html", {"patients": selectors.patient_list(), "roles": _roles(request)})


@login_required
def worklist(request):
    context = {"page": "worklist", "roles": _roles(request), "is_admin": access.is_admin(request.user)}
    if context["is_admin"]:
        users = get_user_model().objects.filter(is_active=True).order_by("username")
        context.update(
            series=[s for p in selectors.patient_list() for v in p.visits.all() for s in v.series.all()],
            readers=users.filter(groups__name=READER),
            adjudicators=users.filter(groups__name=ADJUDICATOR),
        )
    return render(request, "frontend/worklist.html", context)


@login_required
def reader_workspace(request, reading_id: int):
    try:
        reading = access.reading_for_view(reading_id, request.user)
    except DomainError:
        raise Http404("no such reading") from None
    if reading.role == Reading.Role.ADJUDICATOR:
        raise Http404("the adjudicator works in the adjudication view")
    context = {"page": "reader", "reading": reading, "series": reading.review.series,
               "can_run_model": may_run_model(request.user)}  # fmt: skip
    return render(request, "frontend/reader.html", context)


@login_required
def adjudication(request, series_id: int):
    series = _series_or_404(series_id)
    review = annotation_selectors.review_get(series_id=series.pk)
    if review is None or access.role_in(review, request.user) != Reading.Role.ADJUDICATOR:
        return _refused(request, "Only the adjudicator assigned to this series adjudicates it.")
    context = {"page": "adjudicate", "series": series, "can_run_model": may_run_model(request.user)}
    return render(request, "frontend/adjudicate.html", context)


@login_required
def series_viewer(request, series_id: int):
    overlay = request.GET.get("overlay", "")
    context = {"page": "series", "series": _series_or_404(series_id), "overlay": overlay,
               "can_run_model": may_run_model(request.user)}  # fmt: skip
    return render(request, "frontend/series.html", context)


@login_required
def patient(request, patient_id: int):
    try:
        found = selectors.patient_get(patient_id=patient_id)
    except DomainError:
        raise Http404("no such patient") from None
    return render(request, "frontend/patient.html", {"page": "patient", "patient": found})


@login_required
def jobs(request):
    return render(request, "frontend/jobs.html", {"page": "jobs", "is_admin": access.is_admin(request.user)})


@login_required
def overview(request):
    if not access.is_admin(request.user):
        return _refused(request, "The reading overview is for admins.")
    return render(request, "frontend/overview.html", {"page": "overview"})


@login_required
def models(request):
    return render(request, "frontend/models.html", {"page": "models", "is_admin": access.is_admin(request.user)})


def _refused(request, reason: str):
    """A page the user's role may not use: a plain 403 page saying why, never a viewer that cannot load."""
    return render(request, "frontend/forbidden.html", {"reason": reason}, status=403)


def _series_or_404(series_id: int):
    try:
        return selectors.series_get(series_id=series_id)
    except DomainError:
        raise Http404("no such series") from None
