"""Core domain: patients (by pseudonym), visits, CT series and their slices, and background jobs."""

from django.conf import settings
from django.db import models


class Patient(models.Model):
    """A patient known by a pseudonym only (never the real name)."""

    class Sex(models.TextChoices):
        FEMALE = "F", "female"
        MALE = "M", "male"
        OTHER = "O", "other"
        UNKNOWN = "U", "unknown"

    pseudonym = models.CharField(max_length=64, unique=True)
    sex = models.CharField(max_length=1, choices=Sex.choices, default=Sex.UNKNOWN)
    birth_year = models.PositiveSmallIntegerField(null=True, blank=True)
    # Keyed hash of the source PatientID: re-imports find the same patient without storing the ID.
    source_key = models.CharField(max_length=64, unique=True, null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pseudonym"]

    def __str__(self) -> str:
        return self.pseudonym


class Visit(models.Model):
    """A patient's CT date (baseline, follow-up 1, ...) with optional lung function values."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="visits")
    date = models.DateField()
    # "baseline", "follow-up 1", ...: kept in date order by the import service.
    label = models.CharField(max_length=32, blank=True)
    fvc_pct_pred = models.FloatField(null=True, blank=True, help_text="FVC, % predicted")
    dlco_pct_pred = models.FloatField(null=True, blank=True, help_text="DLCO, % predicted")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["patient", "date"], name="visit_unique_patient_date")]
        ordering = ["patient", "date"]

    def __str__(self) -> str:
        return f"{self.patient} {self.date} ({self.label})"


class Series(models.Model):
    """One CT series of a visit: its geometry and its HU volume, stored once."""

    visit = models.ForeignKey(Visit, on_delete=models.CASCADE, related_name="series")
    # De-identified UIDs (the ones in the stored files), deterministic per source UID.
    study_uid = models.CharField(max_length=64)
    series_uid = models.CharField(max_length=64, unique=True)
    description = models.CharField(max_length=128, blank=True)
    rows = models.PositiveIntegerField()
    columns = models.PositiveIntegerField()
    pixel_spacing_row = models.FloatField(help_text="mm between rows")
    pixel_spacing_column = models.FloatField(help_text="mm between columns")
    slice_spacing = models.FloatField(help_text="mm between slice centres")
    slice_thickness = models.FloatField(null=True, blank=True)
    manufacturer = models.CharField(max_length=128, blank=True)
    kernel = models.CharField(max_length=128, blank=True)
    slice_count = models.PositiveIntegerField()
    # int16 HU volume (z, y, x) as .npy, memory-mapped by the selector.
    volume_file = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["visit", "id"]
        verbose_name_plural = "series"

    def __str__(self) -> str:
        return f"series {self.pk} of {self.visit}"


class Slice(models.Model):
    """One slice of a series: its position along the slice normal and its de-identified DICOM file."""

    series = models.ForeignKey(Series, on_delete=models.CASCADE, related_name="slices")
    sop_uid = models.CharField(max_length=64, unique=True)
    z_index = models.PositiveIntegerField()
    z_position = models.FloatField(help_text="mm along the slice normal")
    dicom_file = models.FileField(max_length=255)
    # The file's transfer syntax and, per frame, the [offset, length] pieces of its pixel data in the
    # file: a frame goes out as stored with a seek and a read (null: not known, the file is parsed).
    transfer_syntax_uid = models.CharField(max_length=64, blank=True, db_default="")
    frame_ranges = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["series", "z_index"]
        constraints = [models.UniqueConstraint(fields=["series", "z_index"], name="slice_unique_series_z")]

    def __str__(self) -> str:
        return f"slice {self.z_index} of series {self.series_id}"


class Job(models.Model):
    """A background task's state as the browser reads it; the row, not the broker, is the truth.

    `kind` names a runner registered with `ildplatform.jobs`; `params` holds what that runner needs
    besides the series (e.g. the model version of an inference job).
    """

    class State(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"
        CANCELLED = "cancelled"

    kind = models.CharField(max_length=32)
    state = models.CharField(max_length=9, choices=State.choices, default=State.QUEUED)
    progress = models.FloatField(default=0.0)
    # What a long job is doing now, as its runner reports it (a training job: fold, epoch, losses).
    detail = models.JSONField(default=dict, blank=True)
    cancel_requested = models.BooleanField(default=False, help_text="the runner stops at its next checkpoint")
    error = models.TextField(blank=True)
    series = models.ForeignKey(Series, null=True, blank=True, on_delete=models.CASCADE, related_name="jobs")
    params = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0, help_text="how many times a worker started it")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind} job {self.pk} ({self.state})"
