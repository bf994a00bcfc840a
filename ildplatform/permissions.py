from rest_framework.permissions import BasePermission

from .roles import ADMIN


def has_role(user, role: str) -> bool:
    return bool(user and user.is_authenticated and user.groups.filter(name=role).exists())


class IsPlatformAdmin(BasePermission):
    message = "only users with the admin role may do this"

    def has_permission(self, request, view) -> bool:
        return has_role(request.user, ADMIN)
