import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.http import HttpRequest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from ildplatform.roles import ROLES


def api_paths() -> list[str]:
    """Every route under /api/v1/, with 1 for each path parameter."""
    resolver = get_resolver()
    found = []

    def walk(patterns, prefix=""):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern) and route.startswith("api/v1/"):
                found.append("/" + route.replace("<int:", "<").split("<")[0] + _fill(route))

    walk(resolver.url_patterns)
    return found


def _fill(route: str) -> str:
    import re

    head = route.replace("<int:", "<").split("<")[0]
    return re.sub(r"<[^>]+>", "1", route[len(head) :])


@pytest.mark.django_db
@pytest.mark.parametrize("path", [p for p in api_paths() if not p.endswith("auth/token/")])
def test_every_api_endpoint_requires_authentication(path):
    client = APIClient()
    for method in ("get", "post"):
        response = getattr(client, method)(path)
        assert response.status_code in (401, 403), (method, path, response.status_code)


def test_token_for_username_and_password_authenticates_scripts(make_user):
    make_user("clinician", username="dr-who", password="tardis-1963")
    client = APIClient()
    assert client.post("/api/v1/auth/token/", {"username": "dr-who", "password": "wrong"}).status_code == 400
    token = client.post("/api/v1/auth/token/", {"username": "dr-who", "password": "tardis-1963"}).json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/v1/patients/").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_create_user_command_gives_the_role(role, client):
    out = io.StringIO()
    call_command("create_user", f"u-{role}", "--role", role, "--password", "pass-word-1", stdout=out)
    assert f"with role {role}" in out.getvalue()
    from django.contrib.auth.models import User

    user = User.objects.get(username=f"u-{role}")
    assert list(user.groups.values_list("name", flat=True)) == [role]
    assert user.is_staff == (role == "admin")
    assert client.login(request=HttpRequest(), username=f"u-{role}", password="pass-word-1")  # axes needs a request


@pytest.mark.django_db
def test_create_user_refuses_duplicates_and_unknown_roles():
    call_command("create_user", "ann", "--role", "reader", stdout=io.StringIO())
    with pytest.raises(CommandError, match="exists already"):
        call_command("create_user", "ann", "--role", "reader", stdout=io.StringIO())
    with pytest.raises(CommandError):
        call_command("create_user", "bob", "--role", "surgeon", stdout=io.StringIO())


def test_browser_pages_need_login(client, make_user):
    assert client.get("/").status_code == 302
    make_user("reader", username="rita", password="pass-word-1")
    assert client.login(request=HttpRequest(), username="rita", password="pass-word-1")
    page = client.get("/")
    assert page.status_code == 200 and b"rita" in page.content
