from __future__ import annotations

import os
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from ildplatform import services

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("ILD_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real CT data not present at {SHARED_DATA} (CI has it; set ILD_SHARED_DATA elsewhere)")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path) -> Path:
    """Each test writes its files to its own folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_ROOT.mkdir()
    return settings.MEDIA_ROOT


@pytest.fixture
def make_user(db):
    def make(role: str, username: str | None = None, password: str = "correct-horse-9"):
        return services.user_create(username=username or f"{role}-user", role=role, password=password)

    return make


@pytest.fixture
def client_for():
    def make(user) -> APIClient:
        client = APIClient()
        client.force_authenticate(user)
        return client

    return make


@pytest.fixture
def admin_client(make_user, client_for) -> APIClient:
    return client_for(make_user("admin"))
