"""Thin API views of the imaging core: validate input, call one service or selector, serialise."""

from __future__ import annotations

from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.http import FileResponse, HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from . import health, jobs, labels, reformat, selectors, services
from .dicom_import import SourceFile, expand_zip, looks_like_zip
from .exceptions import DomainError, ImportRejected, NotFound, PayloadTooLarge, TooManyRequests
from .models import Job, Patient, Series, Visit
from .permissions import IsPlatformAdmin
from .routing import ApiRoutes

routes = ApiRoutes()


class HealthApi(APIView):
    """For load balancers and orchestrators: 200 when the database, the broker and the file storage all
    answer, else 503 naming the part that fails. No sign-in; nothing but the parts' states."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(responses={200: dict, 503: dict})
    def get(self, request):
        report = health.health_report()
        healthy = all(state == "ok" for state in report.values())
        return Response(
            {"status": "ok" if healthy else "failing", **report},
            status=status.HTTP_200_OK if healthy else status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Cache-Control": "no-store"},
        )


class TokenApi(ObtainAuthToken):
    """POST username and password, get the user's API token. DRF's view names its own parsers; this one
    takes the platform's, so a body nested too deep is a 400 here too (DRF's JSON parser recursed into a
    500)."""

    parser_classes = api_settings.DEFAULT_PARSER_CLASSES

    def post(self, request, *args, **kwargs):
        # django-axes counts the failures (its backend); a locked-out pair gets told so, not "wrong password".
        username = request.data.get("username") if hasattr(request.data, "get") else None
        if AxesProxyHandler.is_locked(request, credentials={"username": str(username or "")}):
            raise TooManyRequests(
                "too many failed sign-ins for this user from this address: try again in "
                f"{int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)} minutes"
            )
        return super().post(request, *args, **kwargs)


def png_response(data: bytes, etag: str | None = None) -> HttpResponse:
    response = HttpResponse(data, content_type="image/png")
    if etag is not None:
        response["ETag"] = f'"{etag}"'
    response["Cache-Control"] = "private, no-cache"
    return response


class SliceLabelMapApi(APIView):
    """GET: one slice's label map as an 8-bit PNG; a subclass says where it comes from (`label_map_png`)."""

    @extend_schema(responses={(200, "image/png"): bytes})
    def get(self, request, series_id: int, z_index: int, **more):
        return png_response(self.label_map_png(request, series_id=series_id, z_index=z_index, **more))

    def label_map_png(self, request, **where) -> bytes:
        raise NotImplementedError


@routes.route("imports/", name="import")
class ImportApi(APIView):
    """Import CT series from DICOM files or one zip (multipart field `files`)."""

    permission_classes = [IsPlatformAdmin]
    parser_classes = [MultiPartParser]

    class InputSerializer(serializers.Serializer):
        patient = serializers.CharField(required=False, max_length=64)
        visit_date = serializers.DateField(required=False)
        allow_modality = serializers.ListField(child=serializers.CharField(max_length=16), required=False)

    def initial(self, request, *args, **kwargs):
        # Refuse an oversize upload from its header, before anything reads the body.
        length = int(request.META.get("CONTENT_LENGTH") or 0)
        if length > settings.IMPORT_MAX_UPLOAD_BYTES:
            raise PayloadTooLarge(
                f"upload of {length} bytes is over the limit of {settings.IMPORT_MAX_UPLOAD_BYTES} bytes"
            )
        super().initial(request, *args, **kwargs)

    @extend_schema(request=None, responses={201: dict})
    def post(self, request):
        params = self.InputSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        sources = []
        problems = []
        for upload in request.FILES.getlist("files"):
            data = upload.read()
            if looks_like_zip(upload.name, data):
                members, archive_problems = expand_zip(upload.name, data, services.archive_limits())
                sources.extend(members)
                problems.extend(archive_problems)
            else:
                sources.append(SourceFile(upload.name, data))
        if problems:
            raise ImportRejected(problems)
        report = services.series_import(
            sources=sources,
            patient_pseudonym=params.validated_data.get("patient"),
            visit_date=params.validated_data.get("visit_date"),
            allowed_modalities=tuple(params.validated_data.get("allow_modality", ())),
        )
        return Response(report.as_dict(), status=status.HTTP_201_CREATED if report.created else status.HTTP_200_OK)


class SeriesOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Series
        fields = [
            "id", "study_uid", "series_uid", "description", "rows", "columns", "pixel_spacing_row",
            "pixel_spacing_column", "slice_spacing", "slice_thickness", "manufacturer", "kernel", "slice_count",
        ]  # fmt: skip


class VisitOutputSerializer(serializers.ModelSerializer):
    series = SeriesOutputSerializer(many=True, source="series.all")

    class Meta:
        model = Visit
        fields = ["id", "date", "label", "fvc_pct_pred", "dlco_pct_pred", "series"]


class PatientOutputSerializer(serializers.ModelSerializer):
    visits = VisitOutputSerializer(many=True, source="visits.all")

    class Meta:
        model = Patient
        fields = ["id", "pseudonym", "sex", "birth_year", "visits"]


@routes.route("patients/", name="patient-list")
class PatientListApi(APIView):
    """Every patient with their visits and series."""

    @extend_schema(responses=PatientOutputSerializer(many=True))
    def get(self, request):
        return Response(PatientOutputSerializer(selectors.patient_list(), many=True).data)


@routes.route("patients/<int:patient_id>/", name="patient-detail")
class PatientDetailApi(APIView):
    """One patient with their visits and series."""

    @extend_schema(responses=PatientOutputSerializer)
    def get(self, request, patient_id: int):
        return Response(PatientOutputSerializer(selectors.patient_get(patient_id=patient_id)).data)


@routes.route("series/<int:series_id>/", name="series-detail")
class SeriesDetailApi(APIView):
    """One series' geometry and where it belongs (patient, visit)."""

    class OutputSerializer(SeriesOutputSerializer):
        patient = serializers.CharField(source="visit.patient.pseudonym")
        visit_id = serializers.IntegerField()
        visit_date = serializers.DateField(source="visit.date")

        class Meta(SeriesOutputSerializer.Meta):
            fields = [*SeriesOutputSerializer.Meta.fields, "patient", "visit_id", "visit_date"]

    @extend_schema(responses=OutputSerializer)
    def get(self, request, series_id: int):
        return Response(self.OutputSerializer(selectors.series_get(series_id=series_id)).data)


@routes.route("series/<int:series_id>/slices/<int:z_index>/dicom", name="slice-dicom")
class SliceDicomApi(APIView):
    """The stored, de-identified DICOM file of one slice (WADO-URI style)."""

    @extend_schema(responses={(200, "application/dicom"): bytes})
    def get(self, request, series_id: int, z_index: int):
        found = selectors.slice_get(series_id=series_id, z_index=z_index)
        return FileResponse(found.dicom_file.open("rb"), content_type="application/dicom")


@routes.route("series/<int:series_id>/instances/", name="series-instances")
class SeriesInstancesApi(APIView):
    """The series' instances for DICOMweb (/dicomweb/studies/{study_uid}/series/{series_uid}/...): the SOP
    Instance UID of each slice in z order, so a viewer shows slice z where masks and readings expect it."""

    class OutputSerializer(serializers.Serializer):
        series_id = serializers.IntegerField()
        study_uid = serializers.CharField()
        series_uid = serializers.CharField()
        sop_uids = serializers.ListField(child=serializers.CharField(), help_text="sop_uids[z] is slice z")

    @extend_schema(responses=OutputSerializer)
    def get(self, request, series_id: int):
        return Response(self.OutputSerializer(selectors.series_instance_uids(series_id=series_id)).data)


class ReformatPlaneSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="planes of this kind: axial rows (coronal) or columns (sagittal)")
    width = serializers.IntegerField()
    column_spacing = serializers.FloatField(help_text="mm")


@routes.route("series/<int:series_id>/reformat/", name="series-reformat")
class SeriesReformatApi(APIView):
    """The layout of the series' coronal and sagittal reformats: the slice on each row (head on top), and
    per plane the number of planes, their width and column spacing; rows are `row_spacing` mm apart."""

    class OutputSerializer(serializers.Serializer):
        series_id = serializers.IntegerField()
        slice_order = serializers.ListField(child=serializers.IntegerField())
        row_spacing = serializers.FloatField()
        planes = serializers.DictField(child=ReformatPlaneSerializer(), help_text="coronal and sagittal")
        axial = serializers.DictField(
            help_text="orientation, head_is_last, top_position, pixel_spacing, frame_of_reference_uid"
        )

    @extend_schema(responses=OutputSerializer)
    def get(self, request, series_id: int):
        return Response(self.OutputSerializer(selectors.series_reformat_layout(series_id=series_id)).data)


@routes.route("series/<int:series_id>/reformat/<str:plane>/<int:index>", name="series-reformat-plane")
class SeriesReformatPlaneApi(APIView):
    """One coronal plane (axial row `index`) or sagittal plane (axial column `index`) in Hounsfield units:
    little-endian int16, rows as in the layout's slice_order, `X-Rows` x `X-Columns`."""

    @extend_schema(responses={(200, "application/octet-stream"): bytes}, operation_id="api_v1_series_reformat_plane")
    def get(self, request, series_id: int, plane: str, index: int):
        if plane not in reformat.PLANES:
            raise NotFound(f"no {plane!r} reformat: the planes are {', '.join(reformat.PLANES)}")
        image = selectors.series_reformat_plane(series_id=series_id, plane=plane, index=index)
        response = HttpResponse(image.astype("<i2", copy=False).tobytes(), content_type="application/octet-stream")
        response["X-Rows"], response["X-Columns"] = str(image.shape[0]), str(image.shape[1])
        response["Cache-Control"] = "private, max-age=86400"  # a stored series never changes
        return response


class JobOutputSerializer(serializers.ModelSerializer):
    series_id = serializers.IntegerField(allow_null=True)
    # Inference jobs name their model version; kept as its own field for API clients.
    model_version_id = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = [
            "id", "kind", "state", "progress", "detail", "cancel_requested", "error", "series_id", "model_version_id",
            "created_at", "started_at", "finished_at",
        ]  # fmt: skip

    def get_model_version_id(self, job: Job) -> int | None:
        return job.params.get("model_version_id")


@routes.route("jobs/", name="job-list")
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


@routes.route("jobs/<int:job_id>/", name="job-detail")
class JobDetailApi(APIView):
    """One job's state and progress.

    The browser polls it. A job whose worker died stays `running` until its redelivered task starts it again.
    """

    @extend_schema(responses=JobOutputSerializer)
    def get(self, request, job_id: int):
        return Response(JobOutputSerializer(selectors.job_get(job_id=job_id)).data)


@routes.route("jobs/<int:job_id>/cancel/", name="job-cancel")
class JobCancelApi(APIView):
    """Cancel a job (admins, or whoever queued it): a queued job at once, a running one at its next checkpoint
    (a training job: the end of its current epoch). 409 for a job that has finished."""

    @extend_schema(request=None, responses={202: JobOutputSerializer})
    def post(self, request, job_id: int):
        job = jobs.job_cancel(job=selectors.job_get(job_id=job_id), user=request.user)
        return Response(JobOutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)


@routes.route("labels/", name="label-table")
class LabelTableApi(APIView):
    """The label table the viewer draws with: values, names and colours of every kind of label map."""

    @extend_schema(responses={200: dict})
    def get(self, request):
        return Response(labels.label_table())
