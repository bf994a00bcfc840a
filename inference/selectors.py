from django.conf import settings
from django.db.models import Count, QuerySet, Sum

from ildplatform.exceptions import NotFound
from ildplatform.models import Patient, Visit
from ildplatform.selectors import series_get

from . import visibility
from .models import Involvement, LungMask, Prediction


def _visible(rows: QuerySet[Involvement], user) -> list[Involvement]:
    """Drop the figures the user may not see yet (registered rules: the review's blinding rule)."""
    rows = list(rows.select_related("visit"))
    hidden = visibility.hidden_sources({row.series_id for row in rows}, user)
    return [row for row in rows if row.source not in hidden.get(row.series_id, ())]


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
    """Lung volumes (left, right) of the stored masks, their method, the apex-to-base slice range and the
    source-free QC figure: dense (-750..-100 HU) tissue enclosed by the lung but left out of it."""
    series = series_get(series_id=series_id)
    masks = LungMask.objects.filter(slice__series=series)
    totals = masks.aggregate(
        slices=Count("id"),
        lung=Sum("lung_pixels"),
        right=Sum("right_pixels"),
        left=Sum("left_pixels"),
        inside=Sum("dense_inside_pixels"),
        missed=Sum("dense_missed_pixels"),
    )
    voxel_ml = series.pixel_spacing_row * series.pixel_spacing_column * series.slice_spacing / 1000.0
    missed, inside = totals["missed"] or 0, totals["inside"] or 0
    with_lung = masks.filter(lung_pixels__gt=0).order_by("slice__z_index").values_list("slice__z_index", flat=True)
    missed_fraction = missed / (missed + inside) if missed + inside else 0.0
    return {
        "series_id": series.pk,
        "method": masks.values_list("method", flat=True).first(),
        "slices_masked": totals["slices"],
        "slice_count": series.slice_count,
        "complete": totals["slices"] == series.slice_count,
        "lung_volume_ml": (totals["lung"] or 0) * voxel_ml,
        "right_lung_ml": (totals["right"] or 0) * voxel_ml,
        "left_lung_ml": (totals["left"] or 0) * voxel_ml,
        "lung_slices": [with_lung.first(), with_lung.last()] if with_lung.exists() else None,
        "dense_missed_ml": missed * voxel_ml,
        "dense_missed_fraction": missed_fraction,
        "qc_flag": missed_fraction > settings.LUNG_QC_DENSE_MISSED_LIMIT,
    }
