from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from ildplatform.apis import JobOutputSerializer, SliceLabelMapApi
from ildplatform.involvement import INVOLVEMENT_FIELDS
from ildplatform.permissions import IsPlatformAdmin
from ildplatform.routing import ApiRoutes
from ildplatform.selectors import series_get

from . import lungs, selectors, services
from .models import Involvement, ModelVersion

routes = ApiRoutes()


class InvolvementOutputSerializer(serializers.ModelSerializer):
    """Eq. 1 of one visit and source: the core's involvement figures and the raw mask's QC figure."""

    visit_id = serializers.IntegerField()
    visit_date = serializers.DateField(source="visit.date")
    visit_label = serializers.CharField(source="visit.label")
    series_id = serializers.IntegerField()

    class Meta:
        model = Involvement
        fields = ["visit_id", "visit_date", "visit_label", "series_id", "source", *INVOLVEMENT_FIELDS,
                  "qc_missed_fraction", "lung_method"]  # fmt: skip


@routes.route("series/<int:series_id>/inference/", name="series-inference")
class SeriesInferenceApi(APIView):
    """Run the active model of a task on the series (admins); answers the queued job."""

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
@routes.route("patients/<int:patient_id>/involvement/", name="patient-involvement")
class InvolvementListApi(APIView):
    """Involvement of one visit, or of every visit of a patient in date order (the trend), per source."""

    @extend_schema(responses=InvolvementOutputSerializer(many=True))
    def get(self, request, visit_id: int | None = None, patient_id: int | None = None):
        if visit_id is not None:
            rows = selectors.visit_involvement_list(visit_id=visit_id, user=request.user)
        else:
            rows = selectors.patient_involvement_trend(patient_id=patient_id, user=request.user)
        return Response(InvolvementOutputSerializer(rows, many=True).data)


@routes.route("series/<int:series_id>/slices/<int:z_index>/lung-mask", name="lung-mask")
class SliceLungMaskApi(SliceLabelMapApi):
    """The lung mask of one slice as an 8-bit PNG (0 outside, 1 right lung, 2 left lung)."""

    def label_map_png(self, request, **where) -> bytes:
        return bytes(selectors.lung_mask_get(**where).mask_png)


@routes.route("series/<int:series_id>/slices/<int:z_index>/predictions/<int:model_version_id>", name="slice-prediction")
class SlicePredictionApi(SliceLabelMapApi):
    """One model version's prediction for one slice as an 8-bit PNG label map."""

    def label_map_png(self, request, **where) -> bytes:
        return bytes(selectors.prediction_get(**where).labels_png)


@routes.route("series/<int:series_id>/lung/", name="series-lung")
class SeriesLungApi(APIView):
    """GET: the series' lungs (method, volumes, apex-to-base slices) and their QC figure.
    POST (admins): recompute them, e.g. with the paper's `mader2d` to reproduce it."""

    class InputSerializer(serializers.Serializer):
        method = serializers.ChoiceField(choices=lungs.LUNG_METHODS)

    class OutputSerializer(serializers.Serializer):
        series_id = serializers.IntegerField()
        method = serializers.CharField(allow_null=True, help_text="lung3d or mader2d; null before any mask")
        slices_masked = serializers.IntegerField()
        slice_count = serializers.IntegerField()
        complete = serializers.BooleanField()
        lung_volume_ml = serializers.FloatField()
        right_lung_ml = serializers.FloatField()
        left_lung_ml = serializers.FloatField()
        lung_slices = serializers.ListField(
            child=serializers.IntegerField(), allow_null=True, help_text="z index of the lowest and highest lung slice"
        )
        dense_missed_ml = serializers.FloatField()
        dense_missed_fraction = serializers.FloatField(help_text="dense (-750..-100 HU) lung left out of the mask")
        dense_missed_flag = serializers.BooleanField(help_text="dense_missed_fraction above the deployment's limit")
        non_lung_air_ml = serializers.FloatField(
            allow_null=True,
            help_text="pure gas (< -900 HU) inside the mask in pockets 14 mm across or wider: stomach, bowel, "
            "trachea; null for masks stored before this figure was computed (recompute them)",
        )
        non_lung_air_fraction = serializers.FloatField(
            allow_null=True, help_text="non_lung_air_ml as a share of the lung volume"
        )
        non_lung_air_flag = serializers.BooleanField(help_text="non_lung_air_fraction above the deployment's limit")
        qc_flag = serializers.BooleanField(help_text="dense_missed_flag or non_lung_air_flag")

    def get_permissions(self):
        return [IsPlatformAdmin()] if self.request.method == "POST" else super().get_permissions()

    @extend_schema(responses=OutputSerializer)
    def get(self, request, series_id: int):
        return Response(self.OutputSerializer(selectors.series_lung_summary(series_id=series_id)).data)

    @extend_schema(request=InputSerializer, responses={202: JobOutputSerializer})
    def post(self, request, series_id: int):
        params = self.InputSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        job = services.lung_masks_schedule(series=series_get(series_id=series_id), user=request.user,
                                           method=params.validated_data["method"])  # fmt: skip
        return Response(JobOutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)
