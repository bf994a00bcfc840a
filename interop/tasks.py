from celery import shared_task

from ildplatform.models import Series

from . import selectors


@shared_task(ignore_result=True)
def series_metadata_build(series_id: int) -> None:
    """The series' WADO-RS metadata, built after its import so that the first viewer to open the series
    does not wait for every stored file to be read (about 1 s for 248 slices)."""
    series = Series.objects.filter(pk=series_id).first()
    if series is not None:
        selectors.stored_series_metadata(series.pk, series.series_uid)
