"""Blinded dual reading of a series, the agreement between readers, adjudication and the audit trail."""

from django.conf import settings
from django.db import models

from ildplatform.models import Series, Slice


class Review(models.Model):
    """The reading workflow of one series: who reads, whether AI pre-annotation is on, finalisation."""

    series = models.OneToOneField(Series, on_delete=models.CASCADE, related_name="review")
    ai_preannotation = models.BooleanField(default=False, help_text="readers' empty slices start from the model")
    blind_to_priors = models.BooleanField(
        default=True,
        help_text="while a reader's reading of this series is open, the patient's other readings, consensus, "
        "model predictions and involvement are hidden from that reader (research reading)",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finalized_at = models.DateTimeField(null=True, blank=True)
    finalized_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    def __str__(self) -> str:
        return f"review of series {self.series_id}"


class Reading(models.Model):
    """One reader's (or the adjudicator's) work on one series: reader_1, reader_2 or adjudicator."""

    class Role(models.TextChoices):
        READER_1 = "reader_1"
        READER_2 = "reader_2"
        ADJUDICATOR = "adjudicator"

    class State(models.TextChoices):
        ASSIGNED = "assigned"
        IN_PROGRESS = "in_progress"
        SUBMITTED = "submitted"

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="readings")
    role = models.CharField(max_length=16, choices=Role.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="readings")
    state = models.CharField(max_length=16, choices=State.choices, default=State.ASSIGNED)
    submitted_at = models.DateTimeField(null=True, blank=True)
    # Model versions whose predictions seeded empty slices (AI pre-annotation), recorded for the paper trail.
    preannotated_from = models.JSONField(default=list, blank=True)
    # Slices the reader marked as looked at and done (a normal slice has nothing to paint), sorted z indices.
    reviewed_slices = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["review", "role"], name="one_reading_per_role"),
            models.UniqueConstraint(fields=["review", "user"], name="one_role_per_user_and_series"),
        ]

    def __str__(self) -> str:
        return f"{self.role} reading of series {self.review.series_id} by {self.user}"


class MaskVersion(models.Model):
    """One saved state of a reader's mask on one slice; versions are never changed or deleted.

    A save names the version it changes; the unique (reading, slice, version) key turns a lost race into a 409.
    """

    reading = models.ForeignKey(Reading, on_delete=models.PROTECT, related_name="mask_versions")
    slice = models.ForeignKey(Slice, on_delete=models.PROTECT, related_name="+")
    version = models.PositiveIntegerField()
    labels_png = models.BinaryField()
    reticulation_pixels = models.PositiveIntegerField()
    ggo_pixels = models.PositiveIntegerField()
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["reading", "slice", "version"]
        constraints = [
            models.UniqueConstraint(fields=["reading", "slice", "version"], name="mask_version_unique"),
        ]

    def __str__(self) -> str:
        return f"mask v{self.version} of {self.reading} on slice {self.slice.z_index}"


class Agreement(models.Model):
    """Series agreement between the two readers, computed once both have submitted."""

    review = models.OneToOneField(Review, on_delete=models.CASCADE, related_name="agreement")
    figures = models.JSONField(help_text="series Dice/Jaccard per class and combined, kappa in the lung")
    computed_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"agreement of series {self.review.series_id}"


class SliceAgreement(models.Model):
    """One slice's agreement figures and its disagreement map.

    The adjudication page ranks slices by `differing_pixels`, the pixels whose labels differ.
    """

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="slice_agreements")
    slice = models.ForeignKey(Slice, on_delete=models.CASCADE, related_name="+")
    figures = models.JSONField()
    disagreement_png = models.BinaryField(help_text="1 only reader 1, 2 only reader 2, 3 both")
    differing_pixels = models.PositiveIntegerField(help_text="pixels whose labels differ between readers")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["review", "slice"], name="slice_agreement_unique")]

    def __str__(self) -> str:
        return f"agreement on slice {self.slice.z_index} of series {self.review.series_id}"


class ConsensusDecision(models.Model):
    """The adjudicator's decision on one slice.

    Slices both readers marked identically are pre-decided (reader_1); any decision can change until finalising.
    """

    class Decision(models.TextChoices):
        READER_1 = "reader_1"
        READER_2 = "reader_2"
        UNION = "union"
        INTERSECTION = "intersection"
        EDITED = "edited"

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="decisions")
    slice = models.ForeignKey(Slice, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=16, choices=Decision.choices)
    edited_png = models.BinaryField(null=True, blank=True)
    pre_decided = models.BooleanField(default=False, help_text="both readers agreed exactly")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["review", "slice"], name="one_decision_per_slice")]

    def __str__(self) -> str:
        return f"{self.decision} on slice {self.slice.z_index} of series {self.review.series_id}"


class ConsensusMask(models.Model):
    """One slice of the finalised consensus, made from its decision."""

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="consensus_masks")
    slice = models.ForeignKey(Slice, on_delete=models.PROTECT, related_name="+")
    labels_png = models.BinaryField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["review", "slice"], name="one_consensus_mask_per_slice")]

    def __str__(self) -> str:
        return f"consensus on slice {self.slice.z_index} of series {self.review.series_id}"


class AuditEvent(models.Model):
    """Who did what to which object, when; with the mask versions before and after where there are some."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=32)
    series = models.ForeignKey(Series, on_delete=models.PROTECT, related_name="+")
    object_type = models.CharField(max_length=32)
    object_id = models.CharField(max_length=64)
    before_version = models.PositiveIntegerField(null=True)
    after_version = models.PositiveIntegerField(null=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.user} {self.action} {self.object_type} {self.object_id}"


class SliceReadingTime(models.Model):
    """A reader's active time on one slice of their reading (the page visible, the reader not idle), summed
    over the increments the reader workspace sends; `visits`: how often the slice came on screen."""

    reading = models.ForeignKey(Reading, on_delete=models.CASCADE, related_name="slice_times")
    slice = models.ForeignKey(Slice, on_delete=models.CASCADE, related_name="+")
    active_ms = models.PositiveBigIntegerField(default=0)
    visits = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["reading", "slice"], name="one_reading_time_per_slice")]

    def __str__(self) -> str:
        return f"{self.active_ms} ms on slice {self.slice.z_index} in {self.reading}"


class ReadingTimeBatch(models.Model):
    """One increment of reading time as the workspace sent it, kept by its id so that a retried send (its
    answer lost on the way) is recognised and not counted twice."""

    reading = models.ForeignKey(Reading, on_delete=models.CASCADE, related_name="time_batches")
    batch_id = models.UUIDField()
    active_ms = models.PositiveBigIntegerField()
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["reading", "batch_id"], name="reading_time_batch_once")]

    def __str__(self) -> str:
        return f"batch {self.batch_id} of {self.reading}"


class ConsensusAgreement(models.Model):
    """How far one reader's submitted reading agrees with the finalised consensus (Dice and Jaccard per
    class and combined, kappa in the lung), computed when the consensus involvement is."""

    reading = models.OneToOneField(Reading, on_delete=models.CASCADE, related_name="consensus_agreement")
    figures = models.JSONField()
    computed_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.reading} against the consensus"
