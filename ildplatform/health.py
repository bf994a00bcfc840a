"""Is this web server able to serve: its database, its broker and its file storage, each tried for real."""

from __future__ import annotations

import logging
import uuid

import redis
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection

logger = logging.getLogger(__name__)
PROBE_TIMEOUT_S = 3


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _broker() -> None:
    client = redis.Redis.from_url(
        settings.CELERY_BROKER_URL, socket_timeout=PROBE_TIMEOUT_S, socket_connect_timeout=PROBE_TIMEOUT_S
    )
    try:
        client.ping()
    finally:
        client.close()


def _storage() -> None:
    # A small file written, read back and deleted: a full disk or a read-only bucket shows here.
    name = default_storage.save(f"healthz/probe-{uuid.uuid4().hex}", ContentFile(b"ok"))
    try:
        with default_storage.open(name) as handle:
            if handle.read() != b"ok":
                raise OSError("the probe file read back differs")
    finally:
        default_storage.delete(name)


CHECKS = {"database": _database, "broker": _broker, "storage": _storage}


def health_report() -> dict[str, str]:
    """ "ok" or "failing" per part. The reason goes to the log only: the answer is public."""
    report = {}
    for part, check in CHECKS.items():
        try:
            check()
            report[part] = "ok"
        except Exception:
            logger.exception("health check of the %s failed", part)
            report[part] = "failing"
    return report
