from __future__ import annotations

import os
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from ildplatform import embedded, services
from ildplatform.celery import app as celery_app

from .ci_strict import DATA_ABSENT

pytest_plugins = ["tests.ci_strict"]

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("ILD_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{DATA_ABSENT} at {SHARED_DATA} (CI has it; set ILD_SHARED_DATA elsewhere)")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path) -> Path:
    """Each test writes its files to its own folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_ROOT.mkdir()
    return settings.MEDIA_ROOT


# Workers and jobs in tests load a new model for nearly every test: TensorFlow's path alone, not the
# seconds of measuring every path each time. The choice among paths is tested on its own
# (test_runtime_choice.py) and in a real worker (test_inference_pipeline.py).
UNET_PATHS_IN_TESTS = "tensorflow"


@pytest.fixture(autouse=True)
def unet_paths(settings):
    settings.UNET_CPU_PATHS = tuple(UNET_PATHS_IN_TESTS.split(","))


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


def test_database_url() -> str:
    """The test database as a URL, for processes of our own (workers, gunicorn) to share it."""
    from django.db import connection

    database = connection.settings_dict
    if database["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{database['NAME']}"
    return (
        f"postgres://{database['USER']}:{database['PASSWORD']}@{database['HOST'] or '127.0.0.1'}:"
        f"{database['PORT'] or 5432}/{database['NAME']}"
    )


class LiveServices:
    """A real Redis server and real Celery worker processes sharing this test's database and files."""

    def __init__(self, tmp_path: Path, media_root: Path):
        self.tmp_path = tmp_path
        self.port = embedded.free_port()
        self.redis = embedded.start_redis(self.port, tmp_path / "redis")
        self.broker = f"redis://127.0.0.1:{self.port}/0"
        self.env = os.environ | {
            "REDIS_URL": self.broker,
            "DATABASE_URL": test_database_url(),
            "MEDIA_ROOT": str(media_root),
            # Short, so that a task of a killed worker is redelivered within the test.
            "CELERY_VISIBILITY_TIMEOUT": "8",
            "CELERY_UNACKED_MUTEX_EXPIRE": "5",
            "UNET_CPU_PATHS": UNET_PATHS_IN_TESTS,
        }
        self.workers: list = []
        celery_app.conf.broker_url = self.broker
        celery_app.conf.broker_transport_options = {"visibility_timeout": 8, "unacked_mutex_expire": 5}
        celery_app._after_fork()  # drop connections pooled for the previous broker URL

    def start_worker(self, queues: str = "cpu,gpu"):
        log = open(self.tmp_path / f"worker-{len(self.workers)}.log", "w")  # noqa: SIM115 - closed in stop
        worker = embedded.start_worker(self.env, queues=queues, log_file=log)
        self.workers.append(worker)
        return worker

    def worker_logs(self) -> str:
        return "\n".join(p.read_text()[-3000:] for p in sorted(self.tmp_path.glob("worker-*.log")))

    def restart_redis(self) -> None:
        """Stop Redis as an operator would (SIGTERM: it writes its append-only file) and start it again."""
        embedded.stop([self.redis])
        self.redis = embedded.start_redis(self.port, self.tmp_path / "redis")

    def stop(self) -> None:
        embedded.stop([*self.workers, self.redis])


@pytest.fixture
def live_services(transactional_db, tmp_path, media_root):
    services_ = LiveServices(tmp_path, media_root)
    yield services_
    services_.stop()


LIVE_FRAME_LOOKUP_SECONDS = 2  # short, so that tests see a revoked token or a deleted series refused soon


@pytest.fixture
def live_web(request, transactional_db, tmp_path, media_root):
    """gunicorn, as in production, on this test's database and files (and its live_services' Redis
    when the test has one); PUBLIC_BASE_URL is https://ild.example.org (what users would reach it by),
    so answers show where URLs come from."""
    port = embedded.free_port()
    env = os.environ | {"DATABASE_URL": test_database_url(), "MEDIA_ROOT": str(media_root),
                        "PUBLIC_BASE_URL": "https://ild.example.org", "LOG_LEVEL": "WARNING",
                        "DICOMWEB_FRAME_LOOKUP_SECONDS": str(LIVE_FRAME_LOOKUP_SECONDS)}  # fmt: skip
    if "live_services" in request.fixturenames:
        env["REDIS_URL"] = request.getfixturevalue("live_services").broker
    web = embedded.start_web(env, "127.0.0.1", port, workers=1, access_log=False)
    yield f"http://127.0.0.1:{port}"
    embedded.stop([web])
