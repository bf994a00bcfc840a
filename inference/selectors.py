from django.conf import settings
from django.db.models import Count, QuerySet, Sum

from ildplatform.exceptions import Forbidden, NotFound
from ildplatform.models import Job, Patient, Visit
from ildplatform.selectors import series_get

from . import staging, statistics, visibility
from .models import LUNG_MASKS_JOB, Involvement, LungMask, ModelVersion, Prediction, weights_label


def _visible(rows: QuerySet[Involvement], user) -> list[Involvement]:
    """Drop the figures the user may not see yet (registered rules: the review's blinding rule)."""
    rows = list(rows.select_related("visit"))
    hidden = visibility.hidden_sources({row.series_id for row in rows}, user)
    return [row for row in rows if not visibility.is_hidden(row.source, hidden.get(row.series_id, set()))]


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


def prediction_get(*, series_id: int, z_index: int, model_version_id: int, user) -> Prediction:
    if visibility.source_hidden(series_id, f"model:{model_version_id}", user):
        raise Forbidden(f"model predictions of series {series_id} are hidden from you while you read this patient")
    found = Prediction.objects.filter(
        slice__series_id=series_id, slice__z_index=z_index, model_version_id=model_version_id
    ).first()
    if found is None:
        raise NotFound(f"no prediction of model {model_version_id} for slice {z_index} of series {series_id}")
    return found


def series_lung_summary(*, series_id: int) -> dict:
    """Lung volumes (left, right) of the stored masks, their method, the apex-to-base slice range and the
    source-free QC figures: dense (-750..-100 HU) tissue enclosed by the lung but left out of it, and
    non-lung air (pockets of pure gas) inside it; each flagged above the deployment's limit."""
    series = series_get(series_id=series_id)
    masks = LungMask.objects.filter(slice__series=series)
    totals = masks.aggregate(
        slices=Count("id"),
        lung=Sum("lung_pixels"),
        right=Sum("right_pixels"),
        left=Sum("left_pixels"),
        inside=Sum("dense_inside_pixels"),
        missed=Sum("dense_missed_pixels"),
        gas=Sum("gas_pocket_pixels"),
        # Counted where known: QC follows its mask (and masks stored before the gas figure existed lack it).
        dense_counted=Count("dense_missed_pixels"),
        gas_counted=Count("gas_pocket_pixels"),
    )
    voxel_ml = series.pixel_spacing_row * series.pixel_spacing_column * series.slice_spacing / 1000.0
    with_lung = masks.filter(lung_pixels__gt=0).order_by("slice__z_index").values_list("slice__z_index", flat=True)
    missed, inside = totals["missed"] or 0, totals["inside"] or 0
    dense_known = totals["dense_counted"] == totals["slices"]
    missed_fraction = (missed / (missed + inside) if missed + inside else 0.0) if dense_known else None
    lung = totals["lung"] or 0
    gas = (totals["gas"] or 0) if totals["gas_counted"] == totals["slices"] else None
    gas_fraction = None if gas is None else gas / lung if lung else 0.0
    dense_missed_flag = missed_fraction is not None and missed_fraction > settings.LUNG_QC_DENSE_MISSED_LIMIT
    non_lung_air_flag = gas_fraction is not None and gas_fraction > settings.LUNG_QC_NON_LUNG_AIR_LIMIT
    masks_computing = Job.objects.filter(
        series=series, kind=LUNG_MASKS_JOB, state__in=(Job.State.QUEUED, Job.State.RUNNING)
    ).exists()
    return {
        "series_id": series.pk,
        "method": masks.values_list("method", flat=True).first(),
        "slices_masked": totals["slices"],
        "slice_count": series.slice_count,
        "complete": totals["slices"] == series.slice_count,
        "lung_volume_ml": lung * voxel_ml,
        "right_lung_ml": (totals["right"] or 0) * voxel_ml,
        "left_lung_ml": (totals["left"] or 0) * voxel_ml,
        "lung_slices": [with_lung.first(), with_lung.last()] if with_lung.exists() else None,
        "dense_missed_ml": missed * voxel_ml if dense_known else None,
        "dense_missed_fraction": missed_fraction,
        "dense_missed_flag": dense_missed_flag,
        "non_lung_air_ml": None if gas is None else gas * voxel_ml,
        "non_lung_air_fraction": gas_fraction,
        "non_lung_air_flag": non_lung_air_flag,
        "qc_flag": dense_missed_flag or non_lung_air_flag,
        "masks_computing": masks_computing,
    }


def model_version_list() -> QuerySet[ModelVersion]:
    return ModelVersion.objects.select_related("registered_by").prefetch_related("activations__by").order_by("-pk")


def model_version_get(*, model_version_id: int) -> ModelVersion:
    found = model_version_list().filter(pk=model_version_id).first()
    if found is None:
        raise NotFound(f"no model version with id {model_version_id}")
    return found


def series_models(*, series_id: int, user) -> dict:
    """The active model of each task (what "Run model" would run) and the models with predictions on the series
    (none for a reader blinded to this patient's other results)."""
    series = series_get(series_id=series_id)
    active = [
        {"task": version.task, "model_version_id": version.pk, "label": version.label, "is_demo": version.is_demo}
        for version in ModelVersion.objects.filter(is_active=True).order_by("task")
    ]
    counted = (
        Prediction.objects.filter(slice__series=series)
        .values("model_version_id", "model_version__task", "model_version__is_demo")
        .annotate(slices=Count("id"))
        .order_by("model_version_id")
    )
    hidden = visibility.hidden_sources([series.pk], user).get(series.pk, set())  # the rules asked once
    predictions = [
        {"model_version_id": row["model_version_id"], "task": row["model_version__task"],
         "label": weights_label(is_demo=row["model_version__is_demo"]), "slices": row["slices"],
         "complete": row["slices"] == series.slice_count}
        for row in counted
        if not visibility.is_hidden(f"model:{row['model_version_id']}", hidden)
    ]  # fmt: skip
    return {"series_id": series.pk, "active": active, "predictions": predictions}


# ---------------------------------------------------------------- what a change means

MEASURES = {"total": "total_pct", "reticulation": "reticulation_pct", "ggo": "ggo_pct"}
READER_SOURCES = ("reader_1", "reader_2")


def reader_noise(*, user, kernel: str | None = None, manufacturer: str | None = None) -> dict:
    """Minimal detectable change and inter-reader Bland-Altman per measure, over every series both readers
    read whose readings the user may see (optionally of one reconstruction kernel or manufacturer).
    Below READER_NOISE_MIN_SERIES series a measure is reported as not yet estimable."""
    rows = Involvement.objects.filter(source__in=READER_SOURCES)
    if kernel:
        rows = rows.filter(series__kernel=kernel)
    if manufacturer:
        rows = rows.filter(series__manufacturer=manufacturer)
    by_series: dict[int, dict[str, Involvement]] = {}
    for row in _visible(rows, user):
        by_series.setdefault(row.series_id, {})[row.source] = row
    minimum = settings.READER_NOISE_MIN_SERIES
    measures = {}
    for measure, field in MEASURES.items():
        pairs = [(getattr(pair["reader_1"], field), getattr(pair["reader_2"], field))
                 for pair in by_series.values() if len(pair) == 2]  # fmt: skip
        pairs = [(a, b) for a, b in pairs if a is not None and b is not None]
        if len(pairs) < max(minimum, 2):
            measures[measure] = {"n": len(pairs), "estimable": False}
            continue
        first, second = zip(*pairs, strict=True)
        bias, low, high = statistics.bland_altman(first, second)
        measures[measure] = statistics.minimal_detectable_change(first, second) | {
            "estimable": True, "bias": bias, "limit_low": low, "limit_high": high}  # fmt: skip
    return {"min_n": minimum, "kernel": kernel or None, "manufacturer": manufacturer or None, "measures": measures}


def patient_changes(*, patient_id: int, user) -> dict:
    """Each visit-to-visit change of each source's involvement (total, reticulation, GGO), marked as
    beyond or within reader noise (|change| > MDC95 of that measure) where the noise is estimable."""
    trend = patient_involvement_trend(patient_id=patient_id, user=user)
    noise = reader_noise(user=user)["measures"]
    by_source: dict[str, list[Involvement]] = {}
    for row in trend:
        by_source.setdefault(row.source, []).append(row)
    changes = []
    for source, rows in by_source.items():
        for before, after in zip(rows, rows[1:], strict=False):
            for measure, field in MEASURES.items():
                first, second = getattr(before, field), getattr(after, field)
                if first is None or second is None:
                    continue
                band = noise[measure]
                change = second - first
                changes.append({
                    "source": source, "measure": measure,
                    "from_visit_id": before.visit_id, "from_date": before.visit.date,
                    "to_visit_id": after.visit_id, "to_date": after.visit.date, "change_pct_points": change,
                    "mdc95": band.get("mdc95"), "noise_n": band["n"], "estimable": band["estimable"],
                    "beyond_noise": abs(change) > band["mdc95"] if band["estimable"] else None,
                })  # fmt: skip
    return {"noise": noise, "min_n": settings.READER_NOISE_MIN_SERIES, "changes": changes}


def _staging_source(rows: list[Involvement]) -> Involvement | None:
    """The consensus where there is one, else the newest model version's figure."""
    by_source = {row.source: row for row in rows}
    if "consensus" in by_source:
        return by_source["consensus"]
    models = [row for row in rows if row.source.startswith("model:")]
    return max(models, key=lambda row: int(row.source.split(":")[1])) if models else None


def patient_staging(*, patient_id: int, user) -> list[dict]:
    """Goh-Wells stage of every visit that has a consensus or model involvement the user may see."""
    by_visit: dict[int, list[Involvement]] = {}
    for row in patient_involvement_trend(patient_id=patient_id, user=user):
        by_visit.setdefault(row.visit_id, []).append(row)
    staged = []
    for rows in by_visit.values():
        chosen = _staging_source(rows)
        if chosen is None:
            continue
        visit = chosen.visit
        stage = staging.goh_wells_stage(chosen.total_pct, visit.fvc_pct_pred)
        staged.append({
            "visit_id": visit.pk, "visit_date": visit.date, "visit_label": visit.label, "source": chosen.source,
            "extent_pct": chosen.total_pct, "fvc_pct_pred": visit.fvc_pct_pred, "stage": stage.stage,
            "rule": stage.rule, "note": staging.EXTENT_NOTE,
        })  # fmt: skip
    return staged
