"""Thin API views of the imaging core: validate input, call one service or selector, serialise."""

from __future__ import annotations

from django.conf import settings
from django.http import FileResponse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from . import selectors, services
from .dicom_import import SourceFile, expand_zip, looks_like_zip
from .exceptions import ImportRejected, PayloadTooLarge
from .permissions import IsPlatformAdmin


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


class SeriesOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    study_uid = serializers.CharField()
    series_uid = serializers.CharField()
    description = serializers.CharField()
    rows = serializers.IntegerField()
    columns = serializers.IntegerField()
    pixel_spacing_row = serializers.FloatField()
    pixel_spacing_column = serializers.FloatField()
    slice_spacing = serializers.FloatField()
    slice_thickness = serializers.FloatField(allow_null=True)
    manufacturer = serializers.CharField()
    kernel = serializers.CharField()
    slice_count = serializers.IntegerField()


class VisitOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    date = serializers.DateField()
    label = serializers.CharField()
    fvc_pct_pred = serializers.FloatField(allow_null=True)
    dlco_pct_pred = serializers.FloatField(allow_null=True)
    series = SeriesOutputSerializer(many=True, source="series.all")


class PatientOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    pseudonym = serializers.CharField()
    sex = serializers.CharField()
    birth_year = serializers.IntegerField(allow_null=True)
    visits = VisitOutputSerializer(many=True, source="visits.all")


class PatientListApi(APIView):
    @extend_schema(responses=PatientOutputSerializer(many=True))
    def get(self, request):
        return Response(PatientOutputSerializer(selectors.patient_list(), many=True).data)


class PatientDetailApi(APIView):
    @extend_schema(responses=PatientOutputSerializer)
    def get(self, request, patient_id: int):
        return Response(PatientOutputSerializer(selectors.patient_get(patient_id=patient_id)).data)


class SeriesDetailApi(APIView):
    class OutputSerializer(SeriesOutputSerializer):
        patient = serializers.CharField(source="visit.patient.pseudonym")
        visit_id = serializers.IntegerField()
        visit_date = serializers.DateField(source="visit.date")

    @extend_schema(responses=OutputSerializer)
    def get(self, request, series_id: int):
        return Response(self.OutputSerializer(selectors.series_get(series_id=series_id)).data)


class SliceDicomApi(APIView):
    """The stored, de-identified DICOM file of one slice (WADO-URI style)."""

    @extend_schema(responses={(200, "application/dicom"): bytes})
    def get(self, request, series_id: int, z_index: int):
        found = selectors.slice_get(series_id=series_id, z_index=z_index)
        return FileResponse(found.dicom_file.open("rb"), content_type="application/dicom")
