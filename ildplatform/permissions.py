from rest_framework.permissions import BasePermission

from .roles import ADJUDICATOR, ADMIN


def forget_roles(sender, instance, **kwargs) -> None:
    """user.groups changed on this user object: its cached roles are stale (connected in apps.py)."""
    instance.__dict__.pop("_ild_roles", None)


def has_role(user, role: str) -> bool:
    if not (user and user.is_authenticated):
        return False
    # Roles are read once per user object (a request asks several times); a role change shows from
    # the next request on, which loads the user afresh.
    if not hasattr(user, "_ild_roles"):
        user._ild_roles = frozenset(user.groups.values_list("name", flat=True))
    return role in user._ild_roles


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
