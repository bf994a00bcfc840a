from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from ildplatform.apis import JobOutputSerializer
from ildplatform.permissions import IsPlatformAdmin
from ildplatform.routing import ApiRoutes
from ildplatform.selectors import series_get

from . import selectors, services
from .models import Involvement, ModelVersion

routes = ApiRoutes()


class InvolvementOutputSerializer(serializers.ModelSerializer):
    visit_id = serializers.IntegerField()
    visit_date = serializers.DateField(source="visit.date")
    visit_label = serializers.CharField(source="visit.label")
    series_id = serializers.IntegerField()

    class Meta:
        model = Involvement
        fields = [
            "visit_id", "visit_date", "visit_label", "series_id", "source", "reticulation_pct", "ggo_pct",
            "total_pct", "lung_volume_ml", "reticulation_ml", "ggo_ml", "abnormal_ml", "qc_missed_fraction",
        ]  # fmt: skip


@routes.route("series/<int:series_id>/inference/", name="series-inference")
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


@routes.route("visits/<int:visit_id>/involvement/", name="visit-involvement")
class VisitInvolvementApi(APIView):
    @extend_schema(responses=InvolvementOutputSerializer(many=True))
    def get(self, request, visit_id: int):
        rows = selectors.visit_involvement_list(visit_id=visit_id, user=request.user)
        return Response(InvolvementOutputSerializer(rows, many=True).data)


@routes.route("patients/<int:patient_id>/involvement/", name="patient-involvement")
class PatientInvolvementApi(APIView):
    @extend_schema(responses=InvolvementOutputSerializer(many=True))
    def get(self, request, patient_id: int):
        rows = selectors.patient_involvement_trend(patient_id=patient_id, user=request.user)
        return Response(InvolvementOutputSerializer(rows, many=True).data)


@routes.route("series/<int:series_id>/slices/<int:z_index>/lung-mask", name="lung-mask")
class SliceLungMaskApi(APIView):
    @extend_schema(responses={(200, "image/png"): bytes})
    def get(self, request, series_id: int, z_index: int):
        found = selectors.lung_mask_get(series_id=series_id, z_index=z_index)
        return HttpResponse(bytes(found.mask_png), content_type="image/png")


@routes.route("series/<int:series_id>/slices/<int:z_index>/predictions/<int:model_version_id>", name="slice-prediction")
class SlicePredictionApi(APIView):
    @extend_schema(responses={(200, "image/png"): bytes})
    def get(self, request, series_id: int, z_index: int, model_version_id: int):
        found = selectors.prediction_get(series_id=series_id, z_index=z_index, model_version_id=model_version_id)
        return HttpResponse(bytes(found.labels_png), content_type="image/png")


@routes.route("series/<int:series_id>/lung/", name="series-lung")
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
