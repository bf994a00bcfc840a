"""Production settings and guards: `check --deploy` clean, /healthz tried for real, the Content-Security-
Policy, login throttling, password rules and JSON logs."""

from __future__ import annotations

import io
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from ildplatform import embedded

REPO = Path(__file__).resolve().parents[1]


def manage(args: list[str], tmp_path: Path, **environment: str) -> subprocess.CompletedProcess:
    """manage.py in a fresh process with only these settings from the environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SECRET_KEY", "HTTPS", "DEBUG"))}
    env |= {"ILD_VAR_DIR": str(tmp_path / "var"), "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    env |= environment
    return subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip


PRODUCTION = {
    "DEBUG": "false",
    "HTTPS": "true",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "DEIDENTIFY_SALT": secrets.token_urlsafe(32),
    "ALLOWED_HOSTS": "ild.example.org",
    "CSRF_TRUSTED_ORIGINS": "https://ild.example.org",
}


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    checked = manage(["check", "--deploy", "--fail-level", "WARNING"], tmp_path, **PRODUCTION)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "no issues" in checked.stdout


def test_check_deploy_names_what_plain_http_lacks(tmp_path):
    checked = manage(["check", "--deploy", "--fail-level", "WARNING"], tmp_path, **(PRODUCTION | {"HTTPS": "false"}))
    assert checked.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):  # HSTS, redirect, cookies
        assert warning in checked.stderr, checked.stderr


def test_logs_are_one_json_object_per_line_with_log_format_json(tmp_path):
    code = "import django, logging; django.setup(); logging.getLogger('ildplatform.x').warning('saved %s', 3)"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env |= {"LOG_FORMAT": "json", "DJANGO_SETTINGS_MODULE": "ildplatform.settings", "ILD_VAR_DIR": str(tmp_path)}
    ran = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    record = json.loads(ran.stderr.strip().splitlines()[-1])
    assert record["level"] == "WARNING" and record["logger"] == "ildplatform.x" and record["message"] == "saved 3"
    assert record["time"]


@pytest.fixture
def redis_url(tmp_path):
    port = embedded.free_port()
    server = embedded.start_redis(port, tmp_path / "redis")
    yield f"redis://127.0.0.1:{port}/0"
    embedded.stop([server])


def test_healthz_answers_ok_when_database_broker_and_storage_answer(db, settings, redis_url):
    settings.CELERY_BROKER_URL = redis_url
    response = APIClient().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok", "storage": "ok"}
    assert not list(Path(settings.MEDIA_ROOT).rglob("probe-*")), "the storage probe was left behind"


def test_healthz_names_a_broker_that_does_not_answer(db, settings):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{embedded.free_port()}/0"  # nothing listens there
    response = APIClient().get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "failing", "database": "ok", "broker": "failing", "storage": "ok"}


def test_healthz_names_storage_that_cannot_be_written(db, settings, redis_url, tmp_path):
    settings.CELERY_BROKER_URL = redis_url
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    settings.MEDIA_ROOT = blocker / "media"  # cannot be created, even by root
    response = APIClient().get("/healthz")
    assert response.status_code == 503 and response.json()["storage"] == "failing"


def test_pages_and_api_carry_the_content_security_policy(client, db):
    policy = client.get("/login/")["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    assert directives["script-src"] == "'self' 'wasm-unsafe-eval'"  # no inline script, no eval
    assert directives["object-src"] == "'none'" and directives["frame-ancestors"] == "'none'"
    assert "Content-Security-Policy" in APIClient().get("/api/v1/patients/")


def test_login_is_locked_after_five_wrong_passwords_for_that_user_and_address(client, make_user):
    make_user("reader", username="rita", password="pass-word-1")
    make_user("reader", username="rolf", password="pass-word-1")
    for _ in range(4):
        wrong = client.post("/login/", {"username": "rita", "password": "guess"})
        assert wrong.status_code == 200  # the form again, with its error
    assert client.post("/login/", {"username": "rita", "password": "guess"}).status_code == 429  # the fifth
    locked = client.post("/login/", {"username": "rita", "password": "pass-word-1"})
    assert locked.status_code == 429 and b"too many" in locked.content.lower(), locked.content[:300]
    token = APIClient().post("/api/v1/auth/token/", {"username": "rita", "password": "pass-word-1"}, format="json")
    assert token.status_code == 429 and "try again" in token.json()["detail"]
    # Another user from the same address is not locked out.
    assert client.post("/login/", {"username": "rolf", "password": "pass-word-1"}).status_code == 302


def test_token_api_counts_wrong_passwords_too(make_user, db):
    make_user("reader", username="rita", password="pass-word-1")
    api = APIClient()
    for _ in range(5):
        assert api.post("/api/v1/auth/token/", {"username": "rita", "password": "x"}, format="json").status_code == 400
    refused = api.post("/api/v1/auth/token/", {"username": "rita", "password": "pass-word-1"}, format="json")
    assert refused.status_code == 429 and "token" not in refused.json()
    assert api.post("/api/v1/auth/token/", {"username": "rolf", "password": "x"}, format="json").status_code == 400


@pytest.mark.django_db
@pytest.mark.parametrize(
    "password, why", [("short1", "too short"), ("password123", "too common"), ("4815162342", "entirely numeric"),
                      ("rebecca-reader", "too similar")],
)  # fmt: skip
def test_create_user_refuses_weak_passwords_with_the_reason(password, why):
    with pytest.raises(CommandError, match=why):
        call_command("create_user", "rebecca-reader", "--role", "reader", "--password", password, stdout=io.StringIO())
