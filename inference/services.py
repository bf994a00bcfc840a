"""Writes of the inference app: lung masks, predictions, involvement, model registry.

Its job runners (registered with the core's job engine in apps.py) are idempotent: running a job
again replaces its results (update_or_create on unique keys), never adds a second copy.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.files import File
from django.db import transaction

from ildplatform import labelmaps
from ildplatform.exceptions import Conflict, DomainError
from ildplatform.involvement import Involvement as InvolvementFigures
from ildplatform.involvement import RegionCounts, involvement_from_counts, involvement_in_region, region_counts
from ildplatform.jobs import JobCancelled, job_cancel_requested, job_create, job_detail, job_progress, progress_chunks
from ildplatform.labels import GGO, RETICULATION
from ildplatform.models import Job, Series, Visit
from ildplatform.parallel import fork_map
from ildplatform.selectors import series_hu_volume

from . import lungmask, lungs, preprocessing
from .models import LUNG_MASKS_JOB, Involvement, LungMask, ModelActivation, ModelVersion, Prediction

logger = logging.getLogger(__name__)

# The kinds of job this app runs (apps.py registers their runners with the core).
INFERENCE_JOB = "inference"
TRAINING_JOB = "training"
LUNG_MASKS_POLL_SECONDS = 0.2  # how often an inference job looks for the masks a lung masks job is computing


# ---------------------------------------------------------------- lung masks


def lung_masks_schedule(*, series: Series, user=None, method: str | None = None) -> Job:
    """Compute (or recompute) the series' lung masks: by `method`, else the series' own, else the default."""
    method = method or series_lung_method_in_use(series)
    lungs.method_with_parameters(method)  # refuses an unknown method before anything is queued
    return job_create(kind=LUNG_MASKS_JOB, series=series, params={"method": method}, user=user)


def _spacing(series: Series) -> tuple[float, float]:
    return (series.pixel_spacing_row, series.pixel_spacing_column)


def lung_masks_run(job: Job) -> None:
    # Jobs queued before the method was recorded carry none: the series' own method then.
    series = job.series
    drawn = lung_masks_draw(series, lambda fraction: job_progress(job, fraction), method=job.params.get("method"))
    involvement_refresh(series=series)
    lung_qc_store(series, drawn)
    job_progress(job, 0.95)


def series_lung_method(series: Series) -> str | None:
    """The method of the series' stored lung masks, None before there are any."""
    return LungMask.objects.filter(slice__series=series).values_list("method", flat=True).first()


def series_lung_method_in_use(series: Series) -> str:
    """The method of the series' stored masks, or the deployment's default before there are any."""
    return series_lung_method(series) or settings.LUNG_METHOD


def lung_masks_compute(series: Series, on_progress, method: str | None = None) -> np.ndarray:
    """Lung masks of every slice, stored, then their QC counts (see `lung_masks_draw`, `lung_qc_store`).
    Returns the label volume it stored (0 outside, RIGHT_LUNG, LEFT_LUNG)."""
    drawn = lung_masks_draw(series, on_progress, method)
    lung_qc_store(series, drawn)
    return drawn.labels


@dataclass
class DrawnLungMasks:
    labels: np.ndarray  # (z, rows, columns): 0 outside, RIGHT_LUNG, LEFT_LUNG
    masks: list[LungMask]  # as stored, z order


def lung_masks_draw(series: Series, on_progress, method: str | None = None) -> DrawnLungMasks:
    """The lung masks of every slice, stored without their QC counts (these follow, `lung_qc_store`): an
    inference job waiting for the masks goes on as soon as they are there. The first 60 % of the progress."""
    method = method or series_lung_method_in_use(series)
    volume = series_hu_volume(series)
    labels = lungs.lung_labels(volume, _spacing(series), series.slice_spacing, method,
                               on_progress=lambda fraction: on_progress(0.5 * fraction))  # fmt: skip
    slices = list(series.slices.order_by("z_index"))
    algorithm = lungs.method_with_parameters(method)

    def mask_fields(z: int) -> dict:
        right_pixels = int(np.count_nonzero(labels[z] == lungs.RIGHT_LUNG))
        left_pixels = int(np.count_nonzero(labels[z] == lungs.LEFT_LUNG))
        return {
            "mask_png": labelmaps.encode_png(labels[z]),
            "lung_pixels": right_pixels + left_pixels,
            "right_pixels": right_pixels,
            "left_pixels": left_pixels,
        }

    # PNG encoding holds the GIL: side by side in forked workers, written here. QC counts unknown (None) yet.
    fields = fork_map(mask_fields, len(slices))
    masks = [
        LungMask(slice=slices[z], method=method, algorithm=algorithm, dense_inside_pixels=None,
                 dense_missed_pixels=None, gas_pocket_pixels=None, **fields[z])
        for z in range(len(slices))
    ]  # fmt: skip
    _upsert(LungMask, masks, unique_fields=["slice"])
    on_progress(0.6)
    return DrawnLungMasks(labels=labels, masks=masks)


def lung_qc_store(series: Series, drawn: DrawnLungMasks) -> None:
    """The source-free QC counts of stored masks: dense (-750..-100 HU) lung inside each mask and enclosed
    by the lung but left out, and the gas pockets inside it. Computed at the lowest CPU priority: they
    are for the review of the masks, and must not slow an inference job that runs beside them."""
    volume, lung = series_hu_volume(series), drawn.labels > 0
    spacing, slice_spacing = _spacing(series), series.slice_spacing

    def gas_pocket_pixels() -> np.ndarray:  # per slice; the pockets are found in 3-D
        return lungs.gas_pockets(volume, lung, spacing, slice_spacing).sum(axis=(1, 2))

    def dense_pixels(z: int) -> tuple[int, int]:
        slice_hu = np.asarray(volume[z])
        inside = lungmask.dense_lung_pixels(slice_hu, lung[z])
        return inside, int(lungmask.dense_pathology_candidates(slice_hu, lung[z]).sum())

    # One worker takes the gas pockets while the others take the slices.
    parts = [gas_pocket_pixels] + [partial(dense_pixels, z) for z in range(len(drawn.masks))]
    counted = fork_map(lambda index: parts[index](), len(parts), background=True)
    for mask, (inside, missed), gas in zip(drawn.masks, counted[1:], counted[0], strict=True):
        mask.dense_inside_pixels, mask.dense_missed_pixels, mask.gas_pocket_pixels = inside, missed, int(gas)
    with transaction.atomic():
        # Written only onto the masks they were computed for: a lung masks job started since (another
        # method, say) has drawn new ones, and its own QC follows them.
        stored = LungMask.objects.select_for_update().filter(slice__series=series)
        if dict(stored.values_list("slice_id", "created_at")) != {m.slice_id: m.created_at for m in drawn.masks}:
            logger.info("lung QC of series %s left out: its masks were drawn again meanwhile", series.pk)
            return
        _upsert(LungMask, drawn.masks, unique_fields=["slice"])


def _upsert(model, rows: list, unique_fields: list[str]) -> None:
    """Insert these rows, replacing the stored ones with the same unique key: one statement, not two
    queries per row (a 250-slice series wrote 500 round trips)."""
    update_fields = [
        field.name for field in model._meta.concrete_fields if not field.primary_key and field.name not in unique_fields
    ]
    with transaction.atomic():
        model.objects.bulk_create(rows, update_conflicts=True, unique_fields=unique_fields, update_fields=update_fields)


def series_lung_volume(series: Series) -> np.ndarray | None:
    labels = series_lung_labels(series)
    return None if labels is None else labels > 0


def series_lung_volume_for_export(*, series: Series, method: str | None = None) -> np.ndarray:
    """The series' lungs as bool (z, rows, columns): the stored masks when they are of `method` (or no
    method is asked for); computed and stored first when there are none; computed without storing
    when the stored ones are of another method."""
    stored_method = series_lung_method(series)
    if stored_method is None:
        lung_masks_compute(series, lambda fraction: None, method=method)
    elif method is not None and method != stored_method:
        volume = series_hu_volume(series)
        return lungs.lung_labels(volume, _spacing(series), series.slice_spacing, method) > 0
    return series_lung_volume(series)


def series_lung_region(series: Series, lung: np.ndarray, abnormal: np.ndarray) -> np.ndarray:
    """The one lung region of the series for these marks (see `inference.lungs.lung_region_for`)."""
    return lungs.lung_region_for(series_lung_method_in_use(series), lung, abnormal)


def series_lung_volume_or_compute(series: Series, on_progress) -> np.ndarray:
    """The series' lung masks, computed first (reporting progress) where they are not stored yet."""
    lung = series_lung_volume(series)
    if lung is None:
        lung = lung_masks_compute(series, on_progress) > 0
    return lung


# ---------------------------------------------------------------- model registry and inference


def model_register(
    *, weights: Path, task: str, threshold: float, variant: str = "table2", metrics: dict | None = None,
    fold_thresholds: list | None = None, training_set: dict | None = None, training_run: dict | None = None,
    trained_by: str = "", activate: bool = True, is_demo: bool = False, user=None,
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
        version = ModelVersion(
            task=task, variant=variant, threshold=threshold, metrics=metrics or {},
            fold_thresholds=fold_thresholds or [], training_set=training_set or {}, training_run=training_run or {},
            trained_by=trained_by, registered_by=user, is_demo=is_demo,
        )  # fmt: skip
        version.save()
        with weights.open("rb") as handle:
            version.weights_file.save(f"models/{task}-{version.pk}.weights.h5", File(handle), save=True)
        if activate:
            model_set_active(version=version, active=True, reason="registered as the active model", user=user)
    return version


def model_set_active(*, version: ModelVersion, active: bool, reason: str, user=None) -> ModelVersion:
    """Switch a version on (the task's active one is switched off) or off, with the reason, audited: every
    switch is a ModelActivation row in the same transaction."""
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("say why the model is switched on or off (reason)")
    with transaction.atomic():
        # Every version of the task locked (not only the active one): two activations at once queue here
        # instead of both passing and one failing on the one-active-per-task constraint.
        versions = list(ModelVersion.objects.select_for_update().filter(task=version.task).order_by("pk"))
        version = next(row for row in versions if row.pk == version.pk)
        if active:
            for previous in (row for row in versions if row.is_active):
                if previous.pk != version.pk:
                    previous.is_active = False
                    previous.save(update_fields=["is_active"])
                    replaced = f"replaced by model {version.pk}: {reason}"
                    ModelActivation.objects.create(model_version=previous, active=False, reason=replaced, by=user)
        if version.is_active != active:
            version.is_active = active
            version.save(update_fields=["is_active"])
            ModelActivation.objects.create(model_version=version, active=active, reason=reason, by=user)
    logger.info("model %s %s by %s: %s", version.pk, "activated" if active else "deactivated", user, reason)
    return version


def model_register_cross_validation(
    *,
    run,
    task: str,
    settings,
    duration_s: float,
    lung_method: str,
    variant: str = "table2",
    trained_by: str = "",
    extra: dict | None = None,
    is_demo: bool = False,
    user=None,
) -> ModelVersion:
    """A cross-validated run (`inference.trainer.cross_validate`) as an inactive model version: the
    chosen fold's weights and threshold, every fold's threshold and metrics, the spread over folds and
    the test figures, the patients and slices of each fold and of the test set, and how it was trained.
    Activation is a separate, explicit step."""
    fold_lists = (
        "training_patients",
        "validation_patients",
        "training_slices",
        "validation_slices",
        "augmented_slices",
    )
    return model_register(
        weights=run.weights, task=task, threshold=run.threshold, variant=variant, activate=False, user=user,
        trained_by=trained_by, is_demo=is_demo,
        fold_thresholds=[fold["threshold"] for fold in run.folds],
        metrics={
            "folds": [{key: fold[key] for key in ("fold", "threshold", "validation_metrics", "dice_by_threshold",
                                                  "epochs_run", "best_epoch", "best_validation_loss")}
                      for fold in run.folds],
            "over_folds": run.over_folds, "test": run.test_metrics, "involvement": run.involvement,
        },
        training_set={
            "test_patients": list(run.split.test),
            "folds": [{key: fold[key] for key in fold_lists} for fold in run.folds],
        },
        training_run={
            "settings": settings.as_dict(), "seed": settings.seed, "duration_s": duration_s,
            "code_version": code_version(), "lung_method": lung_method, "chosen_fold": run.chosen_fold,
            "lung_masked": settings.lung_masked, **(extra or {}),
        },
    )  # fmt: skip


def code_version() -> str:
    """The commit of the running code (git), else the installed package's version."""
    import subprocess
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent, capture_output=True, text=True,
            timeout=5, check=True,
        )  # fmt: skip
        return found.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        try:
            return f"ildplatform {version('ildplatform')}"
        except PackageNotFoundError:
            return "unknown"


# ---------------------------------------------------------------- training


@dataclass(frozen=True)
class TrainingRequest:
    """What a training run is asked for (the job's params, the command's options); every
    hyperparameter not named here is `trainer.TrainingSettings`' paper default, recorded with the run."""

    task: str
    source: str = "phantoms"
    variant: str = "table2"
    folds: int = 5
    epochs: int = 300
    seed: int = 0
    test_patients: list[str] | None = None
    # GGO starts from the active reticulation model with the transfer freeze (the paper's protocol).
    transfer: bool = True
    demo: bool = False
    activate_when_done: bool = False
    # Any other hyperparameter by name (`trainer.TrainingSettings`, "augmentation.copies" for the augmentation's).
    settings: dict = field(default_factory=dict)

    def training_settings(self):
        """The run's settings: the paper's, with this request's epochs, seed and overrides."""
        from . import trainer

        clashing = {"max_epochs", "seed"} & set(self.settings)
        if clashing:
            raise DomainError(f"give {', '.join(sorted(clashing))} as epochs / seed, not as a setting")
        try:
            return trainer.TrainingSettings(max_epochs=self.epochs, seed=self.seed).overridden(self.settings)
        except ValueError as error:
            raise DomainError(str(error)) from None

    def check(self) -> None:
        from . import training_data

        if self.task not in ModelVersion.Task.values:
            raise DomainError(f"unknown task {self.task!r}; choose one of {', '.join(ModelVersion.Task.values)}")
        try:
            training_data.training_source(self.source)
        except ValueError as error:
            raise DomainError(str(error)) from None
        if not 2 <= self.folds <= 10:
            raise DomainError(f"folds must be 2..10, got {self.folds}")
        if not 1 <= self.epochs <= 1000:
            raise DomainError(f"epochs must be 1..1000, got {self.epochs}")
        if self.activate_when_done and not self.demo:
            raise DomainError("only demo weights are activated without a person's decision")
        self.training_settings()
        if self.task == ModelVersion.Task.GGO and self.transfer:
            transfer_base(self.variant)


# The demo's model: a short run on synthetic phantoms (other phantoms than the demo patients'), about four
# minutes on two CPU cores; labelled demo weights, activated when it ends and then run on every demo series.
# At the paper's learning rate (1e-2) so short a run on so few slices collapses to marking every lung pixel
# (measured: over-fold Dice 0.05); at 1e-3 it reaches 0.64 (test 0.69). The change is recorded with the run.
DEMO_TRAINING = TrainingRequest(
    task="merged", folds=2, epochs=8, seed=2026, demo=True, activate_when_done=True, settings={"learning_rate": 1e-3}
)


def transfer_base(variant: str) -> ModelVersion:
    """The active reticulation model a GGO model starts from; refused when there is none of the variant."""
    base = ModelVersion.objects.filter(task=ModelVersion.Task.RETICULATION, is_active=True).first()
    if base is None:
        raise Conflict("ggo training starts from the active reticulation model, and there is none "
                       "(train and activate one first, or train ggo without transfer)")  # fmt: skip
    if base.variant != variant:
        raise Conflict(f"the active reticulation model is a {base.variant!r} U-Net, not {variant!r}")
    return base


def training_schedule(*, request: TrainingRequest, user=None) -> Job:
    request.check()
    return job_create(kind=TRAINING_JOB, series=None, params=asdict(request), user=user)


def training_run_job(job: Job) -> None:
    request = TrainingRequest(**job.params)
    epochs_in_all = request.folds * request.epochs

    def on_epoch(fold: int, epoch: int, logs: dict) -> None:
        job_detail(job, {"task": request.task, "fold": fold + 1, "folds": request.folds, "epoch": epoch,
                         "epochs": request.epochs, "loss": logs.get("loss"),
                         "val_loss": logs.get("val_loss")})  # fmt: skip
        # Early stopping may end a fold sooner: progress is a lower bound, reaching 1 when the job ends.
        job_progress(job, 0.95 * (fold * request.epochs + epoch) / epochs_in_all)

    version = training_execute(request=request, on_epoch=on_epoch, should_stop=lambda: job_cancel_requested(job),
                               trained_by=f"training job {job.pk}", user=job.created_by)  # fmt: skip
    if version is None:  # stopped early (cancelled): nothing registered
        raise JobCancelled(f"job {job.pk} was cancelled")
    job_detail(job, {"model_version_id": version.pk})
    if request.activate_when_done:
        demo_model_activate(version)


def demo_model_activate(version: ModelVersion) -> None:
    """Switch the demo's weights on, unless someone activated weights of their own for the task meanwhile,
    and run them on every demo (phantom) series."""
    from ildplatform.demo.phantoms import MANUFACTURER

    if ModelVersion.objects.filter(task=version.task, is_active=True, is_demo=False).exists():
        logger.info("demo model %s left inactive: a model of the task was activated meanwhile", version.pk)
        return
    model_set_active(version=version, active=True, reason="demo weights, activated when their training ended")
    for series in Series.objects.filter(manufacturer=MANUFACTURER).select_related("visit"):
        if visit_primary_series(series.visit) == series:
            job_create(kind=INFERENCE_JOB, series=series, params={"model_version_id": version.pk})


def training_execute(
    *, request: TrainingRequest, on_epoch=lambda fold, epoch, logs: None, should_stop=lambda: False,
    trained_by: str = "", user=None,
) -> ModelVersion | None:  # fmt: skip
    """Train with the paper's protocol and register the run as a model version (inactive unless asked):
    None when `should_stop` ended it early (nothing registered)."""
    import tempfile
    import time

    from . import trainer, training, training_data, unet

    request.check()
    settings = request.training_settings()
    source = training_data.training_source(request.source)
    try:
        slices = training_data.training_slices(source(), request.task, lung_masked=settings.lung_masked)
        split = training.patient_split(sorted(set(slices.patients)), request.folds, seed=request.seed,
                                       test_patients=request.test_patients)  # fmt: skip
    except ValueError as error:
        raise DomainError(str(error)) from None
    base = transfer_base(request.variant) if request.task == ModelVersion.Task.GGO and request.transfer else None

    def build_model():
        model = unet.build_unet(request.variant)
        if base is not None:
            model.load_weights(base.weights_file.path)
            unet.freeze_for_transfer(model)
        return model

    counts = unet.parameter_counts(build_model())
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="train-unet-") as workdir:
        run = trainer.cross_validate(slices, split, settings, Path(workdir), build_model, on_epoch=on_epoch,
                                     should_stop=should_stop)  # fmt: skip
        if should_stop():
            return None
        version = model_register_cross_validation(
            run=run, task=request.task, settings=settings, duration_s=time.perf_counter() - started,
            variant=request.variant, lung_method=source.lung_method, trained_by=trained_by,
            is_demo=request.demo or source.synthetic,
            user=user, extra={"source": request.source, "transfer_from": base.pk if base else None,
                              "trainable_parameters": counts["trainable"], "parameters": counts["total"]},
        )  # fmt: skip
    return version


def inference_schedule(*, series: Series, task: str, user=None) -> Job:
    model = ModelVersion.objects.filter(task=task, is_active=True).first()
    if model is None:
        raise Conflict(f"no active model for task {task}")
    return job_create(kind=INFERENCE_JOB, series=series, params={"model_version_id": model.pk}, user=user)


def inference_run(job: Job) -> None:
    from . import runtime

    series = job.series
    model_version = ModelVersion.objects.filter(pk=job.params.get("model_version_id")).first()
    if model_version is None:
        raise DomainError(f"model version {job.params.get('model_version_id')} of this job no longer exists")
    volume = series_hu_volume(series)
    slices = list(series.slices.order_by("z_index"))
    batches = progress_chunks(len(slices), multiple_of=runtime.BATCH_SIZE)
    # A model trained on lung-masked inputs needs the lungs first. The others run their forward passes
    # first: the lung masks job that follows every import may be computing the masks on a CPU worker
    # meanwhile, and the lungs are needed only to keep the predictions inside them.
    lung_masked = bool(model_version.training_run.get("lung_masked"))
    lung = series_lung_volume_when_ready(series) if lung_masked else None
    probability = np.zeros((len(slices), preprocessing.MODEL_SIZE, preprocessing.MODEL_SIZE), dtype=np.float32)
    for chunk in batches:
        hu = np.asarray(volume[chunk.start : chunk.stop])
        # A model trained on lung-masked inputs sees the stored region (what training saw); the others the slice.
        lung_chunk = None if lung is None else lung[chunk.start : chunk.stop]
        probability[chunk.start : chunk.stop] = runtime.predict_probability(model_version, hu, lung=lung_chunk)
        job_progress(job, 0.8 * chunk.stop / len(slices))
    # The stored masks as PNGs: each tail worker decodes its slice's (a volume decoded here took 0.15 s).
    lung_pngs = series_lung_mask_pngs_when_ready(series)
    method = series_lung_method_in_use(series)
    # A merged model says "abnormal" only: stored as 1, and its involvement leaves the split empty.
    label = GGO if model_version.task == ModelVersion.Task.GGO else RETICULATION
    threshold, shape = model_version.threshold, volume.shape[1:]

    def finished_slice(z: int) -> tuple[bytes, RegionCounts, tuple[int, int]]:
        """Slice z's prediction at the native size, kept inside the one lung region the reader path
        uses (never clipped to a narrower mask first): its PNG and its counts for Eq. 1 and the QC."""
        lung = labelmaps.decode_png(lung_pngs[z], shape=shape) > 0
        predicted = preprocessing.postprocess(probability[z], threshold, shape)[0]
        region = lungs.lung_region_for(method, lung, predicted)
        slice_labels = (predicted & region).astype(np.uint8) * label
        counts = region_counts(slice_labels, region)
        return labelmaps.encode_png(slice_labels), counts, lungmask.abnormal_and_missed_pixels(lung, slice_labels > 0)

    # Slice by slice (the region is formed per slice), side by side in forked workers: this tail runs
    # after the forward passes and the lung masks, when nothing else is left to overlap it with. Only
    # PNGs and counts come back: Eq. 1 sums over the slices.
    finished = fork_map(finished_slice, len(slices))
    job_progress(job, 0.95)
    pattern_pixels = [(counts.reticulation_pixels, counts.ggo_pixels) for _, counts, _ in finished]
    _predictions_write(model_version, slices, [png for png, _, _ in finished], pattern_pixels)
    if visit_primary_series(series.visit) == series:
        figures = involvement_from_counts(sum((counts for _, counts, _ in finished), RegionCounts()),
                                          _spacing(series), series.slice_spacing)  # fmt: skip
        abnormal_pixels = sum(abnormal for _, _, (abnormal, _) in finished)
        missed = lungmask.missed_fraction(abnormal_pixels, sum(outside for _, _, (_, outside) in finished))
        _involvement_write(series=series, source=model_version.source, figures=figures, lung_method=method,
                           qc_missed_fraction=missed,
                           patterns_told_apart=model_version.task != ModelVersion.Task.MERGED)  # fmt: skip


def series_lung_mask_pngs_when_ready(series: Series) -> list[bytes]:
    """The series' stored lung masks as PNGs, z order: the stored ones; else those a lung masks job is
    drawing on another worker now (waited for, up to LUNG_MASKS_WAIT_SECONDS); else drawn here."""
    deadline = time.monotonic() + settings.LUNG_MASKS_WAIT_SECONDS
    while True:
        # Running is asked before the masks are read: a job that ends in between has stored them.
        running = Job.objects.filter(series=series, kind=LUNG_MASKS_JOB, state=Job.State.RUNNING).exists()
        pngs = series_lung_mask_pngs(series)
        if pngs is not None:
            return pngs
        if not running or time.monotonic() > deadline:
            lung_masks_compute(series, lambda fraction: None)
            return series_lung_mask_pngs(series)
        time.sleep(LUNG_MASKS_POLL_SECONDS)


def series_lung_volume_when_ready(series: Series) -> np.ndarray:
    """The series' lungs (bool z, rows, columns) from `series_lung_mask_pngs_when_ready`."""
    return _decoded_labels(series, series_lung_mask_pngs_when_ready(series)) > 0


def predictions_store(model_version: ModelVersion, slices: list, labels: np.ndarray) -> None:
    """The model's label maps of these slices (labels[i] is slices[i]'s), replacing earlier ones."""
    pattern_pixels = [
        (int(np.count_nonzero(slice_labels == RETICULATION)), int(np.count_nonzero(slice_labels == GGO)))
        for slice_labels in labels
    ]
    _predictions_write(model_version, slices, [labelmaps.encode_png(slice_labels) for slice_labels in labels],
                       pattern_pixels)  # fmt: skip


def _predictions_write(
    model_version: ModelVersion, slices: list, pngs: list[bytes], pattern_pixels: list[tuple[int, int]]
) -> None:
    """Label map PNGs of these slices with their (reticulation, GGO) pixel counts, replacing earlier ones."""
    rows = [
        Prediction(slice=slice_, model_version=model_version, labels_png=png, reticulation_pixels=reticulation,
                   ggo_pixels=ggo)
        for slice_, png, (reticulation, ggo) in zip(slices, pngs, pattern_pixels, strict=True)
    ]  # fmt: skip
    _upsert(Prediction, rows, unique_fields=["slice", "model_version"])


def predictions_import(*, series: Series, model_version: ModelVersion, labels: np.ndarray) -> None:
    """A whole series' predictions of a model made elsewhere (a DICOM SEG), then the involvement."""
    if model_version.task == ModelVersion.Task.MERGED and np.any(labels > RETICULATION):
        raise DomainError(f"model {model_version.pk} is a merged model: its labels say abnormal (1) only")
    predictions_store(model_version, list(series.slices.order_by("z_index")), labels)
    involvement_refresh(series=series)


def series_lung_labels(series: Series) -> np.ndarray | None:
    """The stored lung masks as labels (0 outside, 1 right, 2 left), z order; None until all are stored."""
    pngs = series_lung_mask_pngs(series)
    return None if pngs is None else _decoded_labels(series, pngs)


def series_lung_mask_pngs(series: Series) -> list[bytes] | None:
    """The stored lung masks' PNGs, z order; None until all are stored."""
    masks = dict(LungMask.objects.filter(slice__series=series).values_list("slice__z_index", "mask_png"))
    if len(masks) != series.slice_count:
        return None
    return [bytes(masks[z]) for z in range(series.slice_count)]


def _decoded_labels(series: Series, pngs: list[bytes]) -> np.ndarray:
    shape = (series.rows, series.columns)
    return np.stack([labelmaps.decode_png(png, shape=shape) for png in pngs])


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
        [labelmaps.decode_png(bytes(stored[z]), shape=shape, max_label=GGO) for z in range(series.slice_count)]
    )


# ---------------------------------------------------------------- involvement


def visit_primary_series(visit: Visit) -> Series | None:
    """The series involvement is computed on: the visit's series with the most slices."""
    return visit.series.order_by("-slice_count", "id").first()


def involvement_store(
    *, series: Series, source: str, labels: np.ndarray, patterns_told_apart: bool = True
) -> Involvement | None:
    """Eq. 1 for one source's label volume on the visit's primary series, in the region formed from its
    stored lung masks and these labels; None before the masks are stored.

    A merged model marks "abnormal" without saying which pattern: `patterns_told_apart=False` keeps
    its total and leaves the reticulation/GGO split empty.
    """
    lung = series_lung_volume(series)
    if lung is None:
        return None
    abnormal = labels > 0
    method = series_lung_method_in_use(series)
    region = lungs.lung_region_for(method, lung, abnormal)
    figures = involvement_in_region(labels, region, _spacing(series), series.slice_spacing)
    return _involvement_write(series=series, source=source, figures=figures, lung_method=method,
                              qc_missed_fraction=lungmask.qc_missed_fraction(lung, abnormal),
                              patterns_told_apart=patterns_told_apart)  # fmt: skip


def _involvement_write(
    *, series: Series, source: str, figures: InvolvementFigures, lung_method: str, qc_missed_fraction: float,
    patterns_told_apart: bool,
) -> Involvement:  # fmt: skip
    """The figures stored with the lung method whose region they were computed in."""
    row, _ = Involvement.objects.update_or_create(
        visit=series.visit,
        source=source,
        defaults={
            "series": series,
            **figures.as_dict(patterns_told_apart=patterns_told_apart),
            "qc_missed_fraction": qc_missed_fraction,
            "lung_method": lung_method,
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
