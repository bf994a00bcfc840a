import logging

from django.apps import AppConfig
from django.db import transaction

logger = logging.getLogger(__name__)


class InteropConfig(AppConfig):
    """DICOMweb (QIDO-RS, WADO-RS, WADO-URI, STOW-RS) and DICOM SEG: the top of the house, beside the
    pages; it reads and writes through the other apps' selectors and services."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "interop"

    def ready(self) -> None:
        from ildplatform import events

        events.series_imported.connect(_build_metadata_later, dispatch_uid="interop-metadata-after-import")


def _build_metadata_later(sender, series, **kwargs) -> None:
    def enqueue() -> None:
        from ildplatform.jobs import CPU_QUEUE

        from .tasks import series_metadata_build

        try:
            series_metadata_build.apply_async(args=[series.pk], queue=CPU_QUEUE, retry=False)
        except Exception as error:  # a warm-up only: without it the first metadata request builds it
            logger.warning("could not queue the metadata build of series %s: %s", series.pk, error)

    transaction.on_commit(enqueue)
