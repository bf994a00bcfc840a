"""Thin API views of the review workflow: parse, call one service or selector, answer."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db.models import Q
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.parsers import BaseParser, FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from ildplatform import labelmaps
from ildplatform.apis import JobOutputSerializer, SliceLabelMapApi, png_response
from ildplatform.csv_export import csv_table
from ildplatform.exceptions import DomainError, NotFound
from ildplatform.parsing import (
    BoundedJSONParser,
    StrictBooleanField,
    StrictCharField,
    StrictIntegerField,
    StrictUUIDField,
)
from ildplatform.permissions import IsPlatformAdmin
from ildplatform.routing import ApiRoutes
from ildplatform.selectors import series_get

from . import access, selectors, services

routes = ApiRoutes()


class PngParser(BaseParser):
    media_type = "image/png"

    def parse(self, stream, media_type=None, parser_context=None):
        return stream.read() if stream is not None else b""


def parse_if_match(header: str | None) -> int | None:
    """'"3"', 'W/"3"' or '3' -> 3; None when absent."""
    if header is None:
        return None
    value = header.strip().removeprefix("W/").strip('"')
    if not value.isdigit():
        raise DomainError(f'If-Match must be a mask version such as "3", got {header!r}')
    return int(value)


@extend_schema_field(OpenApiTypes.STR)
class UserField(serializers.Field):
    """A user by username or id."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, (str, int)):
            raise serializers.ValidationError("a username (text) or a user id (a whole number)")
        user = User.objects.filter(Q(username=str(data)) | Q(pk=int(data) if str(data).isdigit() else None)).first()
        if user is None:
            raise serializers.ValidationError(f"no user {data!r}")
        return user

    def to_representation(self, value):
        return value.username


class ReadingOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    series_id = serializers.IntegerField(source="review.series_id")
    role = serializers.CharField()
    user = serializers.CharField(source="user.username")
    state = serializers.CharField()
    submitted_at = serializers.DateTimeField(allow_null=True)


@routes.route("series/<int:series_id>/readings/", name="review-assign")
class ReviewAssignApi(APIView):
    """GET: the series' readings the user may know of; POST (admins): assign the readers."""

    class InputSerializer(serializers.Serializer):
        reader_1 = UserField()
        reader_2 = UserField()
        adjudicator = UserField()

    def get_permissions(self):
        return [IsPlatformAdmin()] if self.request.method == "POST" else super().get_permissions()

    @extend_schema(responses=ReadingOutputSerializer(many=True))
    def get(self, request, series_id: int):
        readings = selectors.series_readings(series_id=series_id, user=request.user)
        return Response(ReadingOutputSerializer(readings, many=True).data)

    @extend_schema(request=InputSerializer, responses={201: ReadingOutputSerializer(many=True)})
    def post(self, request, series_id: int):
        params = self.InputSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        review = services.review_assign(
            series=series_get(series_id=series_id), by=request.user, **params.validated_data
        )
        readings = review.readings.select_related("user", "review")
        return Response(ReadingOutputSerializer(readings, many=True).data, status=status.HTTP_201_CREATED)


@routes.route("series/<int:series_id>/review/", name="review-settings")
class ReviewSettingsApi(APIView):
    """GET: AI pre-annotation of the series and its effect (admins): whether it is on, the models that seed the
    readers' empty slices (the active reticulation and GGO models with predictions on this series) and per
    reading the model versions that seeded its saved slices. PATCH: switch it on or off (admins, audited)."""

    permission_classes = [IsPlatformAdmin]

    class InputSerializer(serializers.Serializer):
        ai_preannotation = StrictBooleanField(required=False)
        blind_to_priors = StrictBooleanField(
            required=False, help_text="hide the patient's other results from a reader whose reading is open"
        )

    @extend_schema(responses={200: dict})
    def get(self, request, series_id: int):
        return Response(selectors.preannotation_effect(series_id=series_id))

    @extend_schema(request=InputSerializer, responses={200: dict})
    def patch(self, request, series_id: int):
        params = self.InputSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        review = selectors.review_get(series_id=series_id)
        if review is None:
            raise NotFound(f"series {series_id} has no reading assignment")
        if not params.validated_data:
            raise DomainError(f"give at least one of: {', '.join(services.REVIEW_SETTINGS)}")
        services.review_settings_set(review=review, by=request.user, **params.validated_data)
        return Response({"series_id": series_id, "ai_preannotation": review.ai_preannotation,
                         "blind_to_priors": review.blind_to_priors})  # fmt: skip


@routes.route("readings/", name="worklist")
class WorklistApi(APIView):
    """Readings: the user's own (`?mine=1`), or everyone's for admins."""

    class OutputSerializer(ReadingOutputSerializer):
        patient = serializers.CharField(source="review.series.visit.patient.pseudonym")
        visit_date = serializers.DateField(source="review.series.visit.date")
        visit_label = serializers.CharField(source="review.series.visit.label")
        slice_count = serializers.IntegerField(source="review.series.slice_count")
        slices_annotated = serializers.IntegerField(help_text="slices with a saved mask")
        slices_done = serializers.IntegerField(help_text="slices with a saved mask or marked reviewed")
        ai_preannotation = serializers.BooleanField(source="review.ai_preannotation")
        preannotated_from = serializers.ListField(
            child=serializers.IntegerField(), help_text="model versions whose predictions seeded saved slices"
        )

    @extend_schema(responses=OutputSerializer(many=True))
    def get(self, request):
        everyone = request.query_params.get("mine") not in ("1", "true", "yes")
        readings = selectors.worklist(user=request.user, everyone=everyone)
        return Response(self.OutputSerializer(readings, many=True).data)


@routes.route("readings/<int:reading_id>/slices/<int:z_index>/mask", name="mask")
class MaskApi(APIView):
    """GET: a slice's current mask (ETag: its version; `?version=N` for an old one). PUT: save a new version."""

    parser_classes = [PngParser]

    @extend_schema(responses={(200, "image/png"): bytes})
    def get(self, request, reading_id: int, z_index: int):
        reading = access.reading_for_view(reading_id, request.user)
        wanted = request.query_params.get("version")
        if wanted is not None:
            if not wanted.isdigit():
                raise DomainError(f"version must be a whole number, got {wanted!r}")
            found = selectors.mask_version_get(reading=reading, z_index=z_index, version=int(wanted))
            return png_response(bytes(found.labels_png), etag=str(found.version))
        labels, version = selectors.mask_current(reading, z_index)
        return png_response(labelmaps.encode_png(labels), etag=str(version))

    @extend_schema(request={"image/png": bytes}, responses={200: dict})
    def put(self, request, reading_id: int, z_index: int):
        reading = access.reading_for_edit(reading_id, request.user)
        if_match = parse_if_match(request.headers.get("If-Match"))
        saved = services.mask_save(
            reading=reading, z_index=z_index, png=request.data or b"", if_match=if_match, user=request.user
        )
        response = Response({"version": saved.version, "reticulation_pixels": saved.reticulation_pixels,
                             "ggo_pixels": saved.ggo_pixels})  # fmt: skip
        response["ETag"] = f'"{saved.version}"'
        return response


@routes.route("readings/<int:reading_id>/slices/<int:z_index>/mask/history", name="mask-history")
class MaskHistoryApi(APIView):
    """Every saved version of one slice's mask, oldest first."""

    class OutputSerializer(serializers.Serializer):
        version = serializers.IntegerField()
        author = serializers.CharField(source="author.username")
        created_at = serializers.DateTimeField()
        reticulation_pixels = serializers.IntegerField()
        ggo_pixels = serializers.IntegerField()

    @extend_schema(responses=OutputSerializer(many=True))
    def get(self, request, reading_id: int, z_index: int):
        reading = access.reading_for_view(reading_id, request.user)
        return Response(self.OutputSerializer(selectors.mask_history(reading=reading, z_index=z_index), many=True).data)


class ReadingProgressSerializer(serializers.Serializer):
    reading_id = serializers.IntegerField()
    state = serializers.CharField()
    slice_count = serializers.IntegerField()
    annotated_slices = serializers.ListField(child=serializers.IntegerField(), help_text="slices with a saved mask")
    reviewed_slices = serializers.ListField(child=serializers.IntegerField(), help_text="slices marked reviewed")
    slices_done = serializers.IntegerField(help_text="slices annotated or marked reviewed")
    unreviewed_slices = serializers.ListField(
        child=serializers.IntegerField(), help_text="slices neither annotated nor marked reviewed: the submit warning"
    )


@routes.route("readings/<int:reading_id>/progress/", name="reading-progress")
class ReadingProgressApi(APIView):
    """Which slices of the reading are painted or marked reviewed, and which are neither."""

    @extend_schema(responses=ReadingProgressSerializer)
    def get(self, request, reading_id: int):
        reading = access.reading_for_view(reading_id, request.user)
        return Response(ReadingProgressSerializer(selectors.reading_progress(reading)).data)


@routes.route("readings/<int:reading_id>/slices/<int:z_index>/reviewed", name="slice-reviewed")
class SliceReviewedApi(APIView):
    """PUT {"reviewed": true|false}: mark a slice of one's own open reading as reviewed (e.g. a normal slice)."""

    class InputSerializer(serializers.Serializer):
        reviewed = StrictBooleanField()

    @extend_schema(request=InputSerializer, responses=ReadingProgressSerializer)
    def put(self, request, reading_id: int, z_index: int):
        params = self.InputSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        reading = access.reading_for_edit(reading_id, request.user)
        reading = services.reading_slice_reviewed(reading=reading, z_index=z_index, user=request.user,
                                                  reviewed=params.validated_data["reviewed"])  # fmt: skip
        return Response(ReadingProgressSerializer(selectors.reading_progress(reading)).data)


class SliceTimeSerializer(serializers.Serializer):
    z_index = StrictIntegerField(min_value=0, max_value=2**31 - 1)
    active_ms = StrictIntegerField(
        min_value=0, max_value=services.READING_TIME_BATCH_MAX_MS, help_text="active time on the slice, ms"
    )
    visits = StrictIntegerField(min_value=0, max_value=100_000, help_text="times the slice came on screen")


class ReadingTimeSerializer(serializers.Serializer):
    reading_id = serializers.IntegerField()
    role = serializers.CharField()
    user = serializers.CharField()
    state = serializers.CharField()
    total_active_ms = serializers.IntegerField(help_text="active time over all slices, ms")
    slices_visited = serializers.IntegerField(help_text="slices with any active time")
    annotated_slices = serializers.ListField(
        child=serializers.IntegerField(), help_text="slices whose latest saved mask holds a mark"
    )
    active_ms_on_annotated_slices = serializers.IntegerField()
    mean_active_ms_per_annotated_slice = serializers.FloatField(allow_null=True)
    slices = SliceTimeSerializer(many=True, help_text="active time and visits per slice, in z order")


@routes.route("readings/<int:reading_id>/time/", name="reading-time")
class ReadingTimeApi(APIView):
    """Active reading time (the page visible, the reader not idle) per slice. GET: the summary (whoever may see
    the reading). POST: one batch of increments from the reader workspace, for the reader's own open reading;
    a batch id already counted is answered again and counts nothing (`counted: false`)."""

    class InputSerializer(serializers.Serializer):
        batch_id = StrictUUIDField(help_text="made by the client per batch; a retry sends the same id")
        slices = SliceTimeSerializer(many=True, max_length=10_000)

    class OutputSerializer(serializers.Serializer):
        batch_id = serializers.UUIDField()
        counted = serializers.BooleanField(help_text="false: this batch had been counted before")

    @extend_schema(responses=ReadingTimeSerializer)
    def get(self, request, reading_id: int):
        reading = access.reading_for_view(reading_id, request.user)
        return Response(ReadingTimeSerializer(selectors.reading_time_summary(reading)).data)

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def post(self, request, reading_id: int):
        reading = access.reading_for_edit(reading_id, request.user)
        params = self.InputSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        counted = services.reading_time_add(reading=reading, **params.validated_data)
        return Response(self.OutputSerializer({"batch_id": params.validated_data["batch_id"], "counted": counted}).data)


@routes.route("series/<int:series_id>/reading-time/", name="series-reading-time")
class SeriesReadingTimeApi(APIView):
    """Active reading time of each reader of the series whose reading the user may see: admins both, the
    adjudicator both once both readers have submitted, a reader their own until then."""

    @extend_schema(responses=ReadingTimeSerializer(many=True))
    def get(self, request, series_id: int):
        return Response(ReadingTimeSerializer(selectors.series_reading_times(series_id=series_id, user=request.user),
                                              many=True).data)  # fmt: skip


@routes.route("readings/<int:reading_id>/submit/", name="reading-submit")
class SubmitApi(APIView):
    """Submit the reading: its masks are final until an admin reopens it."""

    @extend_schema(request=None, responses=ReadingOutputSerializer)
    def post(self, request, reading_id: int):
        reading = access.reading_for_edit(reading_id, request.user)
        return Response(ReadingOutputSerializer(services.reading_submit(reading=reading, user=request.user)).data)


@routes.route("readings/<int:reading_id>/reopen/", name="reading-reopen")
class ReopenApi(APIView):
    """Reopen a submitted reading, with the reason (admins)."""

    permission_classes = [IsPlatformAdmin]

    class InputSerializer(serializers.Serializer):
        reason = StrictCharField(max_length=2000)

    @extend_schema(request=InputSerializer, responses=ReadingOutputSerializer)
    def post(self, request, reading_id: int):
        params = self.InputSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        reading = access.reading_for_view(reading_id, request.user)
        reopened = services.reading_reopen(reading=reading, reason=params.validated_data["reason"], user=request.user)
        return Response(ReadingOutputSerializer(reopened).data)


@routes.route("series/<int:series_id>/agreement/", name="agreement")
class AgreementApi(APIView):
    """Series agreement figures and the slices ranked by disagreement (after both readers submitted)."""

    @extend_schema(responses={200: dict})
    def get(self, request, series_id: int):
        figures, slices = selectors.agreement_get(series_id=series_id, user=request.user)
        ranked = [
            {"z_index": s.slice.z_index, "differing_pixels": s.differing_pixels, **s.figures}
            for s in slices
            if s.differing_pixels or s.figures["dice_combined"] < 1
        ]
        return Response({"series_id": series_id, "series": figures, "slices_by_disagreement": ranked})


@routes.route("series/<int:series_id>/slices/<int:z_index>/disagreement", name="disagreement")
class DisagreementApi(SliceLabelMapApi):
    """One slice's disagreement map as an 8-bit PNG.

    Its values are the label table's `disagreement` entries: 1 only reader 1, 2 only reader 2, 3 both.
    """

    def label_map_png(self, request, **where) -> bytes:
        return selectors.disagreement_png(**where, user=request.user)


@routes.route("series/<int:series_id>/consensus/", name="consensus")
class ConsensusApi(APIView):
    """The adjudication: decisions per slice and the slices still undecided."""

    @extend_schema(responses={200: dict})
    def get(self, request, series_id: int):
        review = selectors.consensus_get(series_id=series_id, user=request.user)
        decisions = [
            {"z_index": d.slice.z_index, "decision": d.decision, "pre_decided": d.pre_decided,
             "decided_by": d.decided_by.username if d.decided_by else None}
            for d in review.decisions.select_related("slice", "decided_by").order_by("slice__z_index")
        ]  # fmt: skip
        undecided = [] if review.finalized_at else selectors.slices_needing_decision(review)
        return Response({"series_id": series_id, "finalized_at": review.finalized_at, "decisions": decisions,
                         "undecided_slices": undecided})  # fmt: skip


@routes.route("series/<int:series_id>/consensus/slices/<int:z_index>/", name="consensus-decide")
class ConsensusDecisionApi(APIView):
    """Decide one slice: reader_1, reader_2, union, intersection, or edited (with the mask)."""

    parser_classes = [BoundedJSONParser, MultiPartParser, FormParser]

    class InputSerializer(serializers.Serializer):
        decision = StrictCharField(max_length=16)
        mask = serializers.FileField(required=False)

    @extend_schema(request=InputSerializer, responses={200: dict})
    def post(self, request, series_id: int, z_index: int):
        review = access.review_for_adjudication(selectors.review_get(series_id=series_id), request.user, series_id)
        params = self.InputSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        upload = params.validated_data.get("mask")
        row = services.consensus_decide(review=review, z_index=z_index, decision=params.validated_data["decision"],
                                        png=upload.read() if upload else None, user=request.user)  # fmt: skip
        return Response({"z_index": z_index, "decision": row.decision})


@routes.route("series/<int:series_id>/consensus/slices/<int:z_index>/proposal", name="consensus-proposal")
class ConsensusProposalApi(SliceLabelMapApi):
    """The slice as an automatic decision would make it (`?decision=union`): where an edit starts."""

    def label_map_png(self, request, **where) -> bytes:
        decision = request.query_params.get("decision", "")
        return selectors.consensus_proposal_png(**where, decision=decision, user=request.user)


@routes.route("series/<int:series_id>/consensus/finalize/", name="consensus-finalize")
class FinalizeApi(APIView):
    """Finalise the consensus; answers the job that computes involvement."""

    @extend_schema(request=None, responses=JobOutputSerializer)
    def post(self, request, series_id: int):
        review = access.review_for_adjudication(selectors.review_get(series_id=series_id), request.user, series_id)
        job = services.consensus_finalize(review=review, user=request.user)
        return Response(JobOutputSerializer(job).data)


@routes.route("series/<int:series_id>/consensus/slices/<int:z_index>/mask", name="consensus-mask")
class ConsensusMaskApi(SliceLabelMapApi):
    """One slice of the finalised consensus as an 8-bit PNG label map."""

    def label_map_png(self, request, **where) -> bytes:
        return selectors.consensus_mask_png(**where, user=request.user)


@routes.route("audit/", name="audit")
class AuditApi(APIView):
    """The audit trail (admins), optionally of one series."""

    permission_classes = [IsPlatformAdmin]

    class OutputSerializer(serializers.Serializer):
        at = serializers.DateTimeField()
        user = serializers.CharField(source="user.username", allow_null=True)
        action = serializers.CharField()
        series_id = serializers.IntegerField()
        object_type = serializers.CharField()
        object_id = serializers.CharField()
        before_version = serializers.IntegerField(allow_null=True)
        after_version = serializers.IntegerField(allow_null=True)
        detail = serializers.JSONField()

    @extend_schema(responses=OutputSerializer(many=True))
    def get(self, request):
        series = request.query_params.get("series")
        if series is not None and not series.isdigit():
            raise DomainError(f"series must be a series id, got {series!r}")
        events = selectors.audit_list(series_id=int(series) if series else None)
        return Response(self.OutputSerializer(events, many=True).data)


class MedianRatioSerializer(serializers.Serializer):
    ratio = serializers.FloatField(help_text="median with pre-annotation / median without")
    ci_low = serializers.FloatField(help_text="bootstrap 95 % CI")
    ci_high = serializers.FloatField()
    n_numerator = serializers.IntegerField()
    n_denominator = serializers.IntegerField()


class ReadingGroupSerializer(serializers.Serializer):
    readings = serializers.IntegerField(help_text="submitted reader readings")
    timed = serializers.IntegerField(help_text="of them with recorded reading time")
    median_active_ms = serializers.FloatField(allow_null=True)
    with_consensus = serializers.IntegerField(help_text="of them with a finalised consensus")
    median_dice_with_consensus = serializers.FloatField(allow_null=True)


@routes.route("statistics/ai-effect/", name="ai-effect")
class AiEffectApi(APIView):
    """What AI pre-annotation changes (admins): readings that started from the model's labels against those
    drawn from scratch, reading time and Dice with the consensus as median ratios with bootstrap CIs."""

    permission_classes = [IsPlatformAdmin]

    class OutputSerializer(serializers.Serializer):
        with_preannotation = ReadingGroupSerializer()
        without_preannotation = ReadingGroupSerializer()
        time_ratio = MedianRatioSerializer(allow_null=True, help_text="null below two readings in a group")
        dice_ratio = MedianRatioSerializer(allow_null=True)
        anchor = serializers.CharField(help_text="what the literature found")

    @extend_schema(responses=OutputSerializer)
    def get(self, request):
        return Response(self.OutputSerializer(selectors.ai_effect()).data)


@routes.route("exports/readings.csv", name="readings-export")
class ReadingsExportApi(APIView):
    """Every submitted reader reading as one CSV row (admins): series, reader, pre-annotation, reading time,
    the reader's and the consensus' involvement, Dice with the consensus."""

    permission_classes = [IsPlatformAdmin]

    @extend_schema(responses={(200, "text/csv"): str})
    def get(self, request):
        text = csv_table(selectors.READINGS_EXPORT_COLUMNS, selectors.readings_export_rows())
        response = HttpResponse(text, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="readings.csv"'
        return response
