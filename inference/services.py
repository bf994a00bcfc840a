"""Writes of the inference app: jobs, lung masks, predictions, involvement, model registry.

Celery tasks only call `job_run`; everything they do is here, replaceable and idempotent: running a
job again replaces its results (update_or_create on unique keys), never adds a second copy.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from django.core.files import File
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from ildplatform import labelmaps
from ildplatform.exceptions import Conflict, DomainError
from ildplatform.models import Series, Visit
from ildplatform.selectors import series_hu_volume

from . import involvement as involvement_math
from . import lungmask, preprocessing
from .models import Involvement, Job, LungMask, ModelVersion, Prediction

logger = logging.getLogger(__name__)

LUNG_ALGORITHM = (
    f"mader-mm(threshold {lungmask.THRESHOLD_HU:g} HU, erode {lungmask.EROSION_MM} mm, close {lungmask.CLOSING_MM} mm)"
)
QUEUE_FOR_KIND = {Job.Kind.INFERENCE: "gpu"}  # every other kind runs on the cpu queue
# What runs each kind of job; the annotations app's runners are named, not imported, to keep the
# dependency one way (annotations -> inference).
RUNNERS = {
    Job.Kind.LUNG_MASKS: "inference.services._lung_masks_run",
    Job.Kind.INFERENCE: "inference.services._inference_run",
    Job.Kind.AGREEMENT: "annotations.services.agreement_run",
    Job.Kind.INVOLVEMENT: "annotations.services.review_involvement_run",
}
PROGRESS_STEPS = 20  # progress writes per job: often enough for a progress bar, few enough for the database


# ---------------------------------------------------------------- jobs


def job_create(*, kind: str, series: Series, model_version: ModelVersion | None = None, user=None) -> Job:
    """Create a job row and queue its Celery task once the row is committed."""
    job = Job.objects.create(kind=kind, series=series, model_version=model_version, created_by=user)
    transaction.on_commit(lambda: _enqueue(job))
    return job


def _enqueue(job: Job) -> None:
    from .tasks import run_job

    try:
        run_job.apply_async(
            args=[job.pk],
            queue=QUEUE_FOR_KIND.get(job.kind, "cpu"),
            retry=True,
            retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5},
        )
    except Exception as error:  # broker down: say so on the job instead of hanging the request
        logger.error("could not queue job %s: %s", job.pk, error)
        Job.objects.filter(pk=job.pk).update(state=Job.State.FAILED, error=f"could not reach the broker: {error}")


def _job_begin(job_id: int) -> Job | None:
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.state == Job.State.DONE:
            return None  # deleted, or a redelivery of a job that finished before its ack
        job.state, job.progress, job.error = Job.State.RUNNING, 0.0, ""
        job.attempts += 1
        job.started_at = timezone.now()
        job.save()
    return job


def job_progress(job: Job, fraction: float) -> None:
    job.progress = float(min(max(fraction, 0.0), 1.0))
    Job.objects.filter(pk=job.pk).update(progress=job.progress)


def job_run(*, job_id: int) -> None:
    job = _job_begin(job_id)
    if job is None:
        return
    runner = import_string(RUNNERS[job.kind])
    try:
        runner(job)
    except Exception as error:
        logger.exception("job %s failed", job.pk)
        Job.objects.filter(pk=job.pk).update(
            state=Job.State.FAILED, error=str(error)[:2000], finished_at=timezone.now()
        )
        return
    Job.objects.filter(pk=job.pk).update(state=Job.State.DONE, progress=1.0, finished_at=timezone.now())


def _chunks(count: int, multiple_of: int = 1) -> list[range]:
    """About PROGRESS_STEPS ranges over count items, each a multiple of `multiple_of` long (a GPU batch)."""
    step = max(1, -(-count // PROGRESS_STEPS))
    step = -(-step // multiple_of) * multiple_of
    return [range(start, min(start + step, count)) for start in range(0, count, step)]


# ---------------------------------------------------------------- lung masks


def lung_masks_schedule(*, series: Series, user=None) -> Job:
    return job_create(kind=Job.Kind.LUNG_MASKS, series=series, user=user)


def _spacing(series: Series) -> tuple[float, float]:
    return (series.pixel_spacing_row, series.pixel_spacing_column)


def _lung_masks_run(job: Job) -> None:
    lung_masks_compute(job.series, lambda fraction: job_progress(job, fraction))
    involvement_refresh(series=job.series)


def lung_masks_compute(series: Series, on_progress) -> None:
    volume = series_hu_volume(series)
    slices = list(series.slices.order_by("z_index"))
    for chunk in _chunks(len(slices)):
        with transaction.atomic():
            for z in chunk:
                slice_hu = np.asarray(volume[z])
                mask = lungmask.lung_mask(slice_hu, _spacing(series))
                LungMask.objects.update_or_create(
                    slice=slices[z],
                    defaults={
                        "algorithm": LUNG_ALGORITHM,
                        "mask_png": labelmaps.encode_png(mask.astype(np.uint8)),
                        "lung_pixels": int(mask.sum()),
                        "dense_inside_pixels": lungmask.dense_lung_pixels(slice_hu, mask),
                        "dense_missed_pixels": int(lungmask.dense_pathology_candidates(slice_hu, mask).sum()),
                    },
                )
        on_progress(chunk.stop / len(slices))


def series_lung_volume(series: Series) -> np.ndarray | None:
    masks = dict(LungMask.objects.filter(slice__series=series).values_list("slice__z_index", "mask_png"))
    if len(masks) != series.slice_count:
        return None
    shape = (series.rows, series.columns)
    return np.stack([labelmaps.decode_png(bytes(masks[z]), shape=shape) > 0 for z in range(series.slice_count)])


# ---------------------------------------------------------------- model registry and inference


def model_register(
    *, weights: Path, task: str, threshold: float, variant: str = "table2", metrics: dict | None = None,
    fold_thresholds: list | None = None, training_set: dict | None = None, trained_by: str = "",
    activate: bool = True, user=None,
) -> ModelVersion:  # fmt: skip
    """Register weights for a task; checks they load into the variant before anything is stored."""
    if task not in ModelVersion.Task.values:
        raise DomainError(f"unknown task {task!r}; choose one of {', '.join(ModelVersion.Task.values)}")
    if not 0 < threshold <= 1:
        raise DomainError(f"threshold must be in (0, 1], got {threshold}")
    from . import unet

    try:
        unet.build_unet(variant).load_weights(str(weights))
    except Exception as error:
        raise DomainError(f"{weights}: weights do not load into the {variant!r} U-Net ({error})") from None
    with transaction.atomic():
        if activate:
            ModelVersion.objects.filter(task=task, is_active=True).update(is_active=False)
        version = ModelVersion(
            task=task, variant=variant, threshold=threshold, metrics=metrics or {},
            fold_thresholds=fold_thresholds or [], training_set=training_set or {}, trained_by=trained_by,
            registered_by=user, is_active=activate,
        )  # fmt: skip
        version.save()
        with weights.open("rb") as handle:
            version.weights_file.save(f"models/{task}-{version.pk}.weights.h5", File(handle), save=True)
    return version


def inference_schedule(*, series: Series, task: str, user=None) -> Job:
    model = ModelVersion.objects.filter(task=task, is_active=True).first()
    if model is None:
        raise Conflict(f"no active model for task {task}")
    return job_create(kind=Job.Kind.INFERENCE, series=series, model_version=model, user=user)


def _inference_run(job: Job) -> None:
    from . import runtime

    series, model_version = job.series, job.model_version
    lung = series_lung_volume(series)
    if lung is None:  # masks not there yet: compute them in this job first (first 10 % of its progress)
        lung_masks_compute(series, lambda fraction: job_progress(job, 0.1 * fraction))
        lung = series_lung_volume(series)
    volume = series_hu_volume(series)
    slices = list(series.slices.order_by("z_index"))
    # A merged model says "abnormal" only: stored as 1, and its involvement leaves the split empty.
    label = 2 if model_version.task == ModelVersion.Task.GGO else 1
    for chunk in _chunks(len(slices), multiple_of=runtime.BATCH_SIZE):
        hu = np.asarray(volume[chunk.start : chunk.stop])
        probability = runtime.predict_probability(model_version, hu)
        patterns = preprocessing.postprocess(
            probability, model_version.threshold, hu.shape[1:], lung[chunk.start : chunk.stop]
        )
        with transaction.atomic():
            for offset, z in enumerate(chunk):
                labels = patterns[offset].astype(np.uint8) * label
                Prediction.objects.update_or_create(
                    slice=slices[z],
                    model_version=model_version,
                    defaults={
                        "labels_png": labelmaps.encode_png(labels),
                        "reticulation_pixels": int((labels == 1).sum()),
                        "ggo_pixels": int((labels == 2).sum()),
                    },
                )
        job_progress(job, 0.1 + 0.9 * chunk.stop / len(slices))
    involvement_refresh(series=series)


def series_prediction_volume(series: Series, model_version_id: int) -> np.ndarray | None:
    stored = dict(
        Prediction.objects.filter(slice__series=series, model_version_id=model_version_id).values_list(
            "slice__z_index", "labels_png"
        )
    )
    if len(stored) != series.slice_count:
        return None
    shape = (series.rows, series.columns)
    return np.stack(
        [labelmaps.decode_png(bytes(stored[z]), shape=shape, max_label=2) for z in range(series.slice_count)]
    )


# ---------------------------------------------------------------- involvement


def visit_primary_series(visit: Visit) -> Series | None:
    """The series involvement is computed on: the visit's series with the most slices."""
    return visit.series.order_by("-slice_count", "id").first()


def involvement_store(
    *, series: Series, source: str, labels: np.ndarray, patterns_told_apart: bool = True
) -> Involvement | None:
    """Eq. 1 for one source's label volume on the visit's primary series (needs its lung masks).

    A merged model marks "abnormal" without saying which pattern: `patterns_told_apart=False` keeps
    its total and leaves the reticulation/GGO split empty.
    """
    lung = series_lung_volume(series)
    if lung is None:
        return None
    abnormal = labels > 0
    region = lungmask.lung_region(lung, abnormal)
    figures = involvement_math.involvement(labels, region, _spacing(series), series.slice_spacing)
    row, _ = Involvement.objects.update_or_create(
        visit=series.visit,
        source=source,
        defaults={
            "series": series,
            "reticulation_pct": figures.reticulation_pct if patterns_told_apart else None,
            "ggo_pct": figures.ggo_pct if patterns_told_apart else None,
            "total_pct": figures.total_pct,
            "lung_volume_ml": figures.lung_volume_ml,
            "reticulation_ml": figures.reticulation_ml if patterns_told_apart else None,
            "ggo_ml": figures.ggo_ml if patterns_told_apart else None,
            "abnormal_ml": figures.abnormal_ml,
            "qc_missed_fraction": lungmask.qc_missed_fraction(lung, abnormal),
        },
    )
    return row


def involvement_refresh(*, series: Series) -> list[Involvement]:
    """Recompute every model source of the series' visit (its inputs changed)."""
    if visit_primary_series(series.visit) != series:
        return []
    rows = []
    models_used = ModelVersion.objects.filter(predictions__slice__series=series).distinct()
    for model in models_used:
        labels = series_prediction_volume(series, model.pk)
        if labels is not None:
            told_apart = model.task != ModelVersion.Task.MERGED
            rows.append(
                involvement_store(series=series, source=model.source, labels=labels, patterns_told_apart=told_apart)
            )
    return [row for row in rows if row is not None]
