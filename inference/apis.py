from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from ildplatform.apis import JobOutputSerializer, SliceLabelMapApi
from ildplatform.exceptions import Forbidden
from ildplatform.involvement import INVOLVEMENT_FIELDS
from ildplatform.parsing import StrictBooleanField, StrictCharField, StrictIntegerField
from ildplatform.permissions import IsPlatformAdmin, MayRunModel, has_role, may_run_model
from ildplatform.roles import ADMIN
from ildplatform.routing import ApiRoutes
from ildplatform.selectors import series_get

from . import lungs, selectors, services, visibility
from .models import Involvement, ModelActivation, ModelVersion

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
    """Run the active model of a task on the series (admins and adjudicators); answers the queued job."""

    permission_classes = [MayRunModel]

    class InputSerializer(serializers.Serializer):
        task = serializers.ChoiceField(choices=ModelVersion.Task.choices, default=ModelVersion.Task.MERGED)

    @extend_schema(request=InputSerializer, responses={202: JobOutputSerializer})
    def post(self, request, series_id: int):
        params = self.InputSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        series = series_get(series_id=series_id)
        if visibility.source_hidden(series.pk, visibility.EVERY_SOURCE, request.user):
            raise Forbidden("you are reading this patient: the model's output stays hidden from you until you submit")
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
        return bytes(selectors.prediction_get(**where, user=request.user).labels_png)


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
        dense_missed_ml = serializers.FloatField(
            allow_null=True, help_text="null until computed: the QC figures follow the masks (masks_computing)"
        )
        dense_missed_fraction = serializers.FloatField(
            allow_null=True, help_text="dense (-750..-100 HU) lung left out of the mask; null until computed"
        )
        dense_missed_flag = serializers.BooleanField(help_text="dense_missed_fraction above the deployment's limit")
        non_lung_air_ml = serializers.FloatField(
            allow_null=True,
            help_text="pure gas (< -900 HU) inside the mask in pockets 14 mm across or wider: stomach, bowel, "
            "trachea; null until computed, and for masks stored before this figure existed (recompute them)",
        )
        non_lung_air_fraction = serializers.FloatField(
            allow_null=True, help_text="non_lung_air_ml as a share of the lung volume"
        )
        non_lung_air_flag = serializers.BooleanField(help_text="non_lung_air_fraction above the deployment's limit")
        qc_flag = serializers.BooleanField(help_text="dense_missed_flag or non_lung_air_flag")
        masks_computing = serializers.BooleanField(
            help_text="a lung masks job for the series is queued or running: masks or QC figures still to come"
        )

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


class ModelActivationOutputSerializer(serializers.ModelSerializer):
    by = serializers.CharField(source="by.username", allow_null=True, default=None)

    class Meta:
        model = ModelActivation
        fields = ["at", "by", "active", "reason"]


class ModelVersionOutputSerializer(serializers.ModelSerializer):
    """A registered version with its figures. Every difference in `involvement` is model minus consensus."""

    label = serializers.CharField(help_text="demo weights say so here; empty otherwise")
    activations = ModelActivationOutputSerializer(many=True, help_text="the audit trail of switching it on and off")
    training_set = serializers.SerializerMethodField()
    # How it was trained, from `training_run`; versions registered from outside weights have none of it.
    trainable_parameters = serializers.IntegerField(source="training_run.trainable_parameters", default=None)
    code_version = serializers.CharField(source="training_run.code_version", default=None)
    lung_method = serializers.CharField(source="training_run.lung_method", default=None)
    lung_masked = serializers.BooleanField(source="training_run.lung_masked", default=False)
    seed = serializers.IntegerField(source="training_run.seed", default=None)
    chosen_fold = serializers.IntegerField(
        source="training_run.chosen_fold", default=None, help_text="the fold whose model this version is (0-based)"
    )
    training_source = serializers.CharField(source="training_run.source", default=None)
    duration_s = serializers.FloatField(source="training_run.duration_s", default=None)
    settings = serializers.DictField(source="training_run.settings", default=dict)
    involvement = serializers.SerializerMethodField(
        help_text="per-patient involvement of the model against consensus (out of fold and test): MAE, "
        "Bland-Altman bias and limits; difference = model minus consensus, in percentage points"
    )

    class Meta:
        model = ModelVersion
        fields = [
            "id", "task", "variant", "threshold", "fold_thresholds", "is_active", "is_demo", "label", "trained_by",
            "registered_at", "trainable_parameters", "code_version", "lung_method", "lung_masked", "seed",
            "chosen_fold", "training_source", "duration_s", "settings", "metrics", "involvement", "training_set",
            "activations",
        ]  # fmt: skip

    def get_involvement(self, version) -> dict | None:
        """Admins see whose figures they are; others get the points without the patients' pseudonyms (a
        reference figure is a patient's consensus, which may be hidden from them)."""
        involvement = version.metrics.get("involvement")
        if involvement is None or self._is_admin():
            return involvement
        return {
            name: {**figures, "patients": [{**row, "patient": f"patient {index + 1}"}
                                           for index, row in enumerate(figures.get("patients", []))]}
            if isinstance(figures, dict) else figures
            for name, figures in involvement.items()
        }  # fmt: skip

    def get_training_set(self, version) -> dict:
        """The patients and slices of every fold and of the test set: admins only."""
        return version.training_set if self._is_admin() else {}

    def _is_admin(self) -> bool:
        request = self.context.get("request")
        return request is not None and has_role(request.user, ADMIN)


@routes.route("models/", name="model-list")
class ModelVersionListApi(APIView):
    """Every registered model version, newest first, with its metrics and its activation trail."""

    @extend_schema(responses=ModelVersionOutputSerializer(many=True))
    def get(self, request):
        versions = selectors.model_version_list()
        return Response(ModelVersionOutputSerializer(versions, many=True, context={"request": request}).data)


@routes.route("models/<int:model_version_id>/", name="model-detail")
class ModelVersionDetailApi(APIView):
    @extend_schema(responses=ModelVersionOutputSerializer)
    def get(self, request, model_version_id: int):
        version = selectors.model_version_get(model_version_id=model_version_id)
        return Response(ModelVersionOutputSerializer(version, context={"request": request}).data)


@routes.route("models/<int:model_version_id>/activation/", name="model-activation")
class ModelActivationApi(APIView):
    """Switch a version on (its task's active version goes off) or off, with a reason (admins; audited)."""

    permission_classes = [IsPlatformAdmin]

    class InputSerializer(serializers.Serializer):
        active = StrictBooleanField()
        reason = StrictCharField(max_length=500)

    @extend_schema(request=InputSerializer, responses=ModelVersionOutputSerializer)
    def post(self, request, model_version_id: int):
        params = self.InputSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        version = selectors.model_version_get(model_version_id=model_version_id)
        services.model_set_active(version=version, user=request.user, **params.validated_data)
        version = selectors.model_version_get(model_version_id=version.pk)
        return Response(ModelVersionOutputSerializer(version, context={"request": request}).data)


@routes.route("models/training/", name="model-training")
class ModelTrainingApi(APIView):
    """Queue a training run on the gpu queue (admins); it registers an inactive version when it ends."""

    permission_classes = [IsPlatformAdmin]

    class InputSerializer(serializers.Serializer):
        task = serializers.ChoiceField(choices=ModelVersion.Task.choices)
        source = StrictCharField(max_length=32, default="phantoms")
        variant = serializers.ChoiceField(choices=("table2", "text"), default="table2")
        folds = StrictIntegerField(min_value=2, max_value=10, default=5)
        epochs = StrictIntegerField(min_value=1, max_value=1000, default=300)
        seed = StrictIntegerField(min_value=0, max_value=2**31 - 1, default=0)
        test_patients = serializers.ListField(
            child=StrictCharField(max_length=64), max_length=1000, required=False, allow_null=True, default=None
        )
        transfer = StrictBooleanField(default=True, help_text="ggo: start from the active reticulation model")
        settings = serializers.DictField(
            child=serializers.JSONField(), required=False, default=dict,
            help_text='other hyperparameters by name, e.g. {"learning_rate": 0.001, "augmentation.copies": 2}',
        )  # fmt: skip

    @extend_schema(request=InputSerializer, responses={202: JobOutputSerializer})
    def post(self, request):
        params = self.InputSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        job = services.training_schedule(request=services.TrainingRequest(**params.validated_data), user=request.user)
        return Response(JobOutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)


@routes.route("series/<int:series_id>/models/", name="series-models")
class SeriesModelsApi(APIView):
    """The active models "Run model" would run on this series, those with predictions on it, and whether the
    user may run one."""

    @extend_schema(responses={200: dict})
    def get(self, request, series_id: int):
        shown = selectors.series_models(series_id=series_id, user=request.user)
        return Response({**shown, "can_run": may_run_model(request.user)})


class NoiseBandSerializer(serializers.Serializer):
    """Reader noise of one measure, in percentage points of involvement; the figures are absent below min_n."""

    n = serializers.IntegerField(help_text="series read by both readers")
    estimable = serializers.BooleanField()
    sd = serializers.FloatField(required=False, help_text="SD of reader 1 - reader 2")
    sem = serializers.FloatField(required=False, help_text="SD / sqrt(2)")
    mdc95 = serializers.FloatField(required=False, help_text="1.96 * sqrt(2) * SEM")
    mdc95_ci_low = serializers.FloatField(required=False)
    mdc95_ci_high = serializers.FloatField(required=False)
    bias = serializers.FloatField(required=False, help_text="Bland-Altman: mean of reader 1 - reader 2")
    limit_low = serializers.FloatField(required=False, help_text="bias - 1.96 SD")
    limit_high = serializers.FloatField(required=False, help_text="bias + 1.96 SD")


class NoiseBandsSerializer(serializers.Serializer):
    total = NoiseBandSerializer()
    reticulation = NoiseBandSerializer()
    ggo = NoiseBandSerializer()


@routes.route("statistics/reader-noise/", name="reader-noise")
class ReaderNoiseApi(APIView):
    """Minimal detectable change (MDC95, with its 95 % CI) and inter-reader Bland-Altman of involvement,
    from every series read by both readers that you may see; optionally of one kernel or manufacturer."""

    class FilterSerializer(serializers.Serializer):
        kernel = StrictCharField(required=False, max_length=128)
        manufacturer = StrictCharField(required=False, max_length=128)

    class OutputSerializer(serializers.Serializer):
        min_n = serializers.IntegerField(help_text="series needed before a band is given")
        kernel = serializers.CharField(allow_null=True)
        manufacturer = serializers.CharField(allow_null=True)
        measures = NoiseBandsSerializer()

    @extend_schema(parameters=[FilterSerializer], responses=OutputSerializer)
    def get(self, request):
        params = self.FilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        noise = selectors.reader_noise(user=request.user, **params.validated_data)
        return Response(self.OutputSerializer(noise).data)


class InvolvementChangeSerializer(serializers.Serializer):
    """One visit-to-visit change of one source and measure, in percentage points."""

    source = serializers.CharField()
    measure = serializers.ChoiceField(choices=list(selectors.MEASURES))
    from_visit_id = serializers.IntegerField()
    from_date = serializers.DateField()
    to_visit_id = serializers.IntegerField()
    to_date = serializers.DateField()
    change_pct_points = serializers.FloatField()
    mdc95 = serializers.FloatField(allow_null=True)
    noise_n = serializers.IntegerField()
    estimable = serializers.BooleanField()
    beyond_noise = serializers.BooleanField(allow_null=True, help_text="null while the band is not estimable")


@routes.route("patients/<int:patient_id>/changes/", name="patient-changes")
class PatientChangesApi(APIView):
    """Each visit-to-visit change of involvement per source and measure, beyond or within reader noise."""

    class OutputSerializer(serializers.Serializer):
        min_n = serializers.IntegerField()
        noise = NoiseBandsSerializer()
        changes = InvolvementChangeSerializer(many=True)

    @extend_schema(responses=OutputSerializer)
    def get(self, request, patient_id: int):
        return Response(self.OutputSerializer(selectors.patient_changes(patient_id=patient_id, user=request.user)).data)


@routes.route("patients/<int:patient_id>/staging/", name="patient-staging")
class PatientStagingApi(APIView):
    """Goh-Wells stage (limited or extensive) of each visit, with the extent, FVC and rule it used."""

    class OutputSerializer(serializers.Serializer):
        visit_id = serializers.IntegerField()
        visit_date = serializers.DateField()
        visit_label = serializers.CharField()
        source = serializers.CharField(help_text="consensus, else the newest model version")
        extent_pct = serializers.FloatField()
        fvc_pct_pred = serializers.FloatField(allow_null=True)
        stage = serializers.ChoiceField(choices=["limited", "extensive"])
        rule = serializers.CharField()
        note = serializers.CharField()

    @extend_schema(responses=OutputSerializer(many=True))
    def get(self, request, patient_id: int):
        return Response(self.OutputSerializer(selectors.patient_staging(patient_id=patient_id, user=request.user),
                                              many=True).data)  # fmt: skip
