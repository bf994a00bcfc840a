"""The project must not shadow the standard library, and its embedded services must really run."""

import os
import subprocess
import sys

from celery import Celery

from ildplatform import embedded


def test_standard_library_platform_module_is_not_shadowed():
    result = subprocess.run(
        [sys.executable, "-c", "import uuid, platform; print(platform.system())"],
        cwd=embedded.REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "Linux"


def test_embedded_redis_and_celery_worker_start_and_answer(tmp_path):
    port = embedded.free_port()
    redis = embedded.start_redis(port, tmp_path / "redis")
    worker = None
    try:
        broker = f"redis://127.0.0.1:{port}/0"
        env = os.environ | {"REDIS_URL": broker}
        log = open(tmp_path / "worker.log", "w")  # noqa: SIM115 - closed below
        worker = embedded.start_worker(env, log_file=log)
        app = Celery(broker=broker)
        replies = []
        for _ in range(60):
            replies = app.control.ping(timeout=1.0)
            if replies:
                break
        assert replies, (tmp_path / "worker.log").read_text()[-2000:]
        queues = app.control.inspect(timeout=2.0).active_queues()
        names = {queue["name"] for worker_queues in queues.values() for queue in worker_queues}
        assert names == {"cpu", "gpu"}
    finally:
        embedded.stop([worker, redis])
