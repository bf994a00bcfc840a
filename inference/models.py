"""Model registry, and what the algorithms produced per slice and per visit."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from ildplatform.models import Series, Slice, Visit


class ModelVersion(models.Model):
    """Registered U-Net weights for a task, with their threshold and provenance; one active per task."""

    class Task(models.TextChoices):
        RETICULATION = "reticulation"
        GGO = "ggo"
        MERGED = "merged"

    task = models.CharField(max_length=16, choices=Task.choices)
    variant = models.CharField(max_length=16, default="table2")
    weights_file = models.FileField(max_length=255)
    threshold = models.FloatField(help_text="probability threshold of the pattern class")
    fold_thresholds = models.JSONField(default=list, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    training_set = models.JSONField(default=dict, blank=True, help_text="what the model saw in training")
    training_run = models.JSONField(
        default=dict, blank=True,
        help_text="how it was trained: settings, seed, duration, code version, lung method, chosen fold",
    )  # fmt: skip
    trained_by = models.CharField(max_length=150, blank=True)
    trained_at = models.DateTimeField(null=True, blank=True)
    registered_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    registered_at = models.DateTimeField(auto_now_add=True)
    is_active = models.BooleanField(default=False)
    is_demo = models.BooleanField(
        default=False, help_text="trained on synthetic phantoms: demo weights, never for patients"
    )

    class Meta:
        ordering = ["task", "-registered_at"]
        constraints = [
            models.UniqueConstraint(fields=["task"], condition=Q(is_active=True), name="one_active_model_per_task"),
            models.CheckConstraint(condition=Q(threshold__gt=0) & Q(threshold__lte=1), name="threshold_in_0_1"),
        ]

    def __str__(self) -> str:
        return f"{self.task} model {self.pk} ({self.variant}, threshold {self.threshold})"

    @property
    def source(self) -> str:
        """The involvement source name of this model's predictions."""
        return f"model:{self.pk}"

    @property
    def label(self) -> str:
        """What every page that names the model says beside it."""
        return weights_label(is_demo=self.is_demo)


DEMO_WEIGHTS_LABEL = "Demo weights: trained on synthetic phantoms, never for patients"


def weights_label(*, is_demo: bool) -> str:
    return DEMO_WEIGHTS_LABEL if is_demo else ""


class ModelActivation(models.Model):
    """The audit trail of the registry: who switched which version on or off, when and why."""

    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="activations")
    active = models.BooleanField(help_text="switched on (true) or off (false)")
    reason = models.TextField()
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        switched = "on" if self.active else "off"
        return f"model {self.model_version_id} {switched} at {self.at:%Y-%m-%d %H:%M} by {self.by}"


LUNG_MASKS_JOB = "lung_masks"  # the job kind that draws a series' lung masks and their QC


class LungMask(models.Model):
    """The lung mask of one slice, tagged with the algorithm that made it, and its QC pixel counts."""

    slice = models.OneToOneField(Slice, on_delete=models.CASCADE, related_name="lung_mask")
    # Masks stored before the method was recorded were all Mader's.
    method = models.CharField(max_length=16, default="mader2d", help_text="lung3d or mader2d")
    algorithm = models.CharField(max_length=160, help_text="the method with its parameters")
    mask_png = models.BinaryField(help_text="8-bit PNG: 0 outside, 1 right lung, 2 left lung")
    lung_pixels = models.PositiveIntegerField()
    right_pixels = models.PositiveIntegerField(default=0)
    left_pixels = models.PositiveIntegerField(default=0)
    # Source-free QC, null until computed (a mask is stored first, its QC follows): dense (-750..-100 HU)
    # lung inside the mask, and enclosed by lung but left out.
    dense_inside_pixels = models.PositiveIntegerField(null=True)
    dense_missed_pixels = models.PositiveIntegerField(null=True)
    # Source-free QC: pure gas inside the mask in pockets no lung holds (stomach, bowel, trachea); null
    # until computed, and on masks stored before the figure existed.
    gas_pocket_pixels = models.PositiveIntegerField(null=True)
    created_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"lung mask of {self.slice}"


class Prediction(models.Model):
    """One model version's label map of one slice."""

    slice = models.ForeignKey(Slice, on_delete=models.CASCADE, related_name="predictions")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="predictions")
    labels_png = models.BinaryField(help_text="8-bit PNG label map: 0 background, 1 reticulation, 2 GGO")
    reticulation_pixels = models.PositiveIntegerField()
    ggo_pixels = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["slice", "model_version"], name="one_prediction_per_slice_and_model")
        ]

    def __str__(self) -> str:
        return f"prediction of model {self.model_version_id} on {self.slice}"


class Involvement(models.Model):
    """Eq. 1 of the paper for one visit and one source (reader_1, reader_2, consensus, model:<id>)."""

    visit = models.ForeignKey(Visit, on_delete=models.CASCADE, related_name="involvements")
    series = models.ForeignKey(Series, on_delete=models.CASCADE, related_name="involvements")
    source = models.CharField(max_length=32)
    # The split is null where the source cannot tell the patterns apart (a merged model).
    reticulation_pct = models.FloatField(null=True)
    ggo_pct = models.FloatField(null=True)
    total_pct = models.FloatField()
    lung_volume_ml = models.FloatField()
    reticulation_ml = models.FloatField(null=True)
    ggo_ml = models.FloatField(null=True)
    abnormal_ml = models.FloatField()
    qc_missed_fraction = models.FloatField(help_text="share of abnormal pixels outside the stored lung mask")
    lung_method = models.CharField(max_length=16, default="mader2d", help_text="the lung method of the region")
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["visit__date", "source"]
        constraints = [models.UniqueConstraint(fields=["visit", "source"], name="one_involvement_per_visit_source")]

    def __str__(self) -> str:
        return f"{self.source} involvement of {self.visit}: {self.total_pct:.2f} %"
