from ildplatform.permissions import has_role
from ildplatform.roles import ADMIN


def navigation(request) -> dict:
    """What the page header needs on every page: whether to show the admins' links."""
    user = getattr(request, "user", None)
    return {"nav_is_admin": bool(user and user.is_authenticated and has_role(user, ADMIN))}
