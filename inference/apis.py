from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from ildplatform.exceptions import DomainError
from ildplatform.permissions import IsPlatformAdmin
from ildplatform.selectors import series_get

from . import selectors, services
from .models import ModelVersion


class JobOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    state = serializers.CharField()
    progress = serializers.FloatField()
    error = serializers.CharField()
    series_id = serializers.IntegerField(allow_null=True)
    model_version_id = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class InvolvementOutputSerializer(serializers.Serializer):
    visit_id = serializers.IntegerField()
    visit_date = serializers.DateField(source="visit.date")
    visit_label = serializers.CharField(source="visit.label")
    series_id = serializers.IntegerField()
    source = serializers.CharField()
    reticulation_pct = serializers.FloatField(allow_null=True)
    ggo_pct = serializers.FloatField(allow_null=True)
    total_pct = serializers.FloatField()
    lung_volume_ml = serializers.FloatField()
    reticulation_ml = serializers.FloatField(allow_null=True)
    ggo_ml = serializers.FloatField(allow_null=True)
    abnormal_ml = serializers.FloatField()
    qc_missed_fraction = serializers.FloatField()


class SeriesInferenceApi(APIView):
    permission_classes = [IsPlatformAdmin]

    class InputSerializer(serializers.Serializer):
        task = serializers.ChoiceField(choices=ModelVersion.Task.values, default=ModelVersion.Task.MERGED)

    @extend_schema(request=InputSerializer, responses={202: JobOutputSerializer})
    def post(self, request, series_id: int):
        params = self.InputSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        series = series_get(series_id=series_id)
        job = services.inference_schedule(series=series, task=params.validated_data["task"], user=request.user)
        return Response(JobOutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class JobListApi(APIView):
    """Recent jobs (200 at most), optionally of one series or only those still queued or running."""

    @extend_schema(responses=JobOutputSerializer(many=True))
    def get(self, request):
        series = request.query_params.get("series")
        if series is not None and not series.isdigit():
            raise DomainError(f"series must be a series id, got {series!r}")
        jobs = selectors.job_list(series_id=int(series) if series else None,
                                  active_only=request.query_params.get("active") in ("1", "true"))  # fmt: skip
        return Response(JobOutputSerializer(jobs, many=True).data)


class JobDetailApi(APIView):
    @extend_schema(responses=JobOutputSerializer)
    def get(self, request, job_id: int):
        return Response(JobOutputSerializer(selectors.job_get(job_id=job_id)).data)


class VisitInvolvementApi(APIView):
    @extend_schema(responses=InvolvementOutputSerializer(many=True))
    def get(self, request, visit_id: int):
        rows = selectors.visit_involvement_list(visit_id=visit_id, user=request.user)
        return Response(InvolvementOutputSerializer(rows, many=True).data)


class PatientInvolvementApi(APIView):
    @extend_schema(responses=InvolvementOutputSerializer(many=True))
    def get(self, request, patient_id: int):
        rows = selectors.patient_involvement_trend(patient_id=patient_id, user=request.user)
        return Response(InvolvementOutputSerializer(rows, many=True).data)


class SliceLungMaskApi(APIView):
    @extend_schema(responses={(200, "image/png"): bytes})
    def get(self, request, series_id: int, z_index: int):
        found = selectors.lung_mask_get(series_id=series_id, z_index=z_index)
        return HttpResponse(bytes(found.mask_png), content_type="image/png")


class SlicePredictionApi(APIView):
    @extend_schema(responses={(200, "image/png"): bytes})
    def get(self, request, series_id: int, z_index: int, model_version_id: int):
        found = selectors.prediction_get(series_id=series_id, z_index=z_index, model_version_id=model_version_id)
        return HttpResponse(bytes(found.labels_png), content_type="image/png")


class SeriesLungApi(APIView):
    class OutputSerializer(serializers.Serializer):
        series_id = serializers.IntegerField()
        slices_masked = serializers.IntegerField()
        slice_count = serializers.IntegerField()
        complete = serializers.BooleanField()
        lung_volume_ml = serializers.FloatField()
        dense_missed_ml = serializers.FloatField()
        dense_missed_fraction = serializers.FloatField(help_text="dense (-750..-100 HU) lung left out of the mask")

    @extend_schema(responses=OutputSerializer)
    def get(self, request, series_id: int):
        return Response(self.OutputSerializer(selectors.series_lung_summary(series_id=series_id)).data)
