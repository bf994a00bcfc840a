from django.db.models import QuerySet

from ildplatform.exceptions import NotFound
from ildplatform.models import Patient, Visit

from .models import Involvement, Job, LungMask, Prediction


def job_list(*, series_id: int | None = None, active_only: bool = False) -> QuerySet[Job]:
    jobs = Job.objects.all()
    if series_id is not None:
        jobs = jobs.filter(series_id=series_id)
    if active_only:
        jobs = jobs.filter(state__in=[Job.State.QUEUED, Job.State.RUNNING])
    return jobs.order_by("-created_at")[:200]


def job_get(*, job_id: int) -> Job:
    job = Job.objects.filter(pk=job_id).first()
    if job is None:
        raise NotFound(f"no job with id {job_id}")
    return job


def _visible(rows: QuerySet[Involvement], user) -> list[Involvement]:
    """Drop reader and consensus figures the user may not see yet (the blinding rule)."""
    from annotations import access

    hidden_by_series: dict[int, set[str]] = {}
    visible = []
    for row in rows.select_related("visit", "series__review"):
        if row.series_id not in hidden_by_series:
            review = getattr(row.series, "review", None)
            hidden_by_series[row.series_id] = access.hidden_involvement_sources(review, user)
        if row.source not in hidden_by_series[row.series_id]:
            visible.append(row)
    return visible


def visit_involvement_list(*, visit_id: int, user) -> list[Involvement]:
    if not Visit.objects.filter(pk=visit_id).exists():
        raise NotFound(f"no visit with id {visit_id}")
    return _visible(Involvement.objects.filter(visit_id=visit_id), user)


def patient_involvement_trend(*, patient_id: int, user) -> list[Involvement]:
    """Every visit's involvement from every source the user may see, in visit date order."""
    if not Patient.objects.filter(pk=patient_id).exists():
        raise NotFound(f"no patient with id {patient_id}")
    return _visible(Involvement.objects.filter(visit__patient_id=patient_id).order_by("visit__date", "source"), user)


def lung_mask_get(*, series_id: int, z_index: int) -> LungMask:
    found = LungMask.objects.filter(slice__series_id=series_id, slice__z_index=z_index).first()
    if found is None:
        raise NotFound(f"no lung mask for slice {z_index} of series {series_id} (yet)")
    return found


def prediction_get(*, series_id: int, z_index: int, model_version_id: int) -> Prediction:
    found = Prediction.objects.filter(
        slice__series_id=series_id, slice__z_index=z_index, model_version_id=model_version_id
    ).first()
    if found is None:
        raise NotFound(f"no prediction of model {model_version_id} for slice {z_index} of series {series_id}")
    return found


def series_lung_summary(*, series_id: int) -> dict:
    """Lung volume of the raw masks and the source-free QC figure (dense lung the mask left out)."""
    from django.db.models import Count, Sum

    from ildplatform.selectors import series_get

    series = series_get(series_id=series_id)
    totals = LungMask.objects.filter(slice__series=series).aggregate(
        slices=Count("id"),
        lung=Sum("lung_pixels"),
        inside=Sum("dense_inside_pixels"),
        missed=Sum("dense_missed_pixels"),
    )
    voxel_ml = series.pixel_spacing_row * series.pixel_spacing_column * series.slice_spacing / 1000.0
    missed, inside = totals["missed"] or 0, totals["inside"] or 0
    return {
        "series_id": series.pk,
        "slices_masked": totals["slices"],
        "slice_count": series.slice_count,
        "complete": totals["slices"] == series.slice_count,
        "lung_volume_ml": (totals["lung"] or 0) * voxel_ml,
        "dense_missed_ml": missed * voxel_ml,
        "dense_missed_fraction": missed / (missed + inside) if missed + inside else 0.0,
    }
