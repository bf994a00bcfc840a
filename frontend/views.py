from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from ildplatform import selectors


@login_required
def home(request):
    roles = sorted(request.user.groups.values_list("name", flat=True))
    return render(request, "frontend/home.html", {"patients": selectors.patient_list(), "roles": roles})
