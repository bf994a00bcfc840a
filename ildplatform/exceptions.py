"""Domain errors and the one place that maps them to HTTP answers."""

from __future__ import annotations

import errno
import logging

from django.db import InterfaceError, OperationalError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from .dicom_import import FileProblem

logger = logging.getLogger(__name__)


class DomainError(Exception):
    """A refusal the client can act on; `status_code` is the HTTP answer."""

    status_code = status.HTTP_400_BAD_REQUEST

    def __init__(self, message: str, *, extra: dict | None = None):
        super().__init__(message)
        self.message = message
        self.extra = extra or {}

    def as_dict(self) -> dict:
        return {"detail": self.message, **self.extra}


class NotFound(DomainError):
    status_code = status.HTTP_404_NOT_FOUND


class Forbidden(DomainError):
    status_code = status.HTTP_403_FORBIDDEN


class Conflict(DomainError):
    status_code = status.HTTP_409_CONFLICT


class TooManyRequests(DomainError):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS


class PayloadTooLarge(DomainError):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE


class ImportRejected(DomainError):
    """An import refused whole: nothing of it was stored."""

    def __init__(self, problems: list[FileProblem]):
        self.problems = problems
        files = len({p.file for p in problems})
        super().__init__(
            f"import refused, nothing stored: {files} file(s) with problems",
            extra={"errors": [{"file": p.file, "reason": p.reason} for p in problems]},
        )

    def __str__(self) -> str:
        return "\n".join([self.message, *(f"  {p}" for p in self.problems)])


class ImportConflict(ImportRejected):
    """An import refused whole because it contradicts what is stored (a series or instance UID in use)."""

    status_code = status.HTTP_409_CONFLICT


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, DomainError):
        return Response(exc.as_dict(), status=exc.status_code)
    if isinstance(exc, (OperationalError, InterfaceError)):
        # The database restarting or unreachable: nothing was saved, and the client may try again.
        logger.error("database unavailable: %s", exc)
        return Response({"detail": "the database is not reachable right now: nothing was saved, try again"},
                        status=status.HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": "5"})  # fmt: skip
    if isinstance(exc, FileNotFoundError):
        # The database names a stored file the storage no longer has (deleted by hand, a volume not mounted).
        logger.error("a stored file is missing: %s", exc)
        return Response({"detail": "a stored file this answer needs is missing from the file storage; "
                                   "tell the administrator"}, status=status.HTTP_404_NOT_FOUND)  # fmt: skip
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        logger.error("storage full: %s", exc)
        return Response({"detail": "the file storage is full: nothing was saved; tell the administrator"},
                        status=status.HTTP_507_INSUFFICIENT_STORAGE)  # fmt: skip
    return exception_handler(exc, context)
