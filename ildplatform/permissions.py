from rest_framework.permissions import BasePermission

from .roles import ADJUDICATOR, ADMIN


def has_role(user, role: str) -> bool:
    return bool(user and user.is_authenticated and user.groups.filter(name=role).exists())


class IsPlatformAdmin(BasePermission):
    message = "only users with the admin role may do this"

    def has_permission(self, request, view) -> bool:
        return has_role(request.user, ADMIN)


def may_run_model(user) -> bool:
    """Admins and adjudicators run models on a series; readers see a model only through AI pre-annotation,
    which an admin switches on, so that their blinded reading stays their own."""
    return has_role(user, ADMIN) or has_role(user, ADJUDICATOR)


class MayRunModel(BasePermission):
    message = "only admins and adjudicators may run a model"

    def has_permission(self, request, view) -> bool:
        return may_run_model(request.user)
