"""DICOMweb under /dicomweb/ (QIDO-RS, WADO-RS, WADO-URI, STOW-RS) and DICOM SEG under /api/v1/: thin
views over interop's selectors and services. Any signed-in user reads images, as on the image API; what
a SEG may show follows the review's blinding rules. Refusals are JSON, as everywhere."""

from __future__ import annotations

import json

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.plumbing import build_array_type, build_basic_type
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from ildplatform.exceptions import DomainError, PayloadTooLarge
from ildplatform.routing import ApiRoutes
from ildplatform.selectors import series_get

from . import dicomweb, selectors, services

# A DICOM JSON answer: an array of datasets (PS3.18 F.2), each an object keyed by tag.
DATASETS = {(200, dicomweb.DICOM_JSON): build_array_type(build_basic_type(OpenApiTypes.OBJECT))}

routes = ApiRoutes()  # /api/v1/
dicomweb_routes = ApiRoutes()  # /dicomweb/


class NotAcceptableHere(DomainError):
    status_code = 406


class UnsupportedMediaType(DomainError):
    status_code = 415


class AnyAccept(BaseContentNegotiation):
    """DICOMweb views choose their own representation from Accept; refusals are always JSON."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class DicomwebView(APIView):
    renderer_classes = [JSONRenderer]
    content_negotiation_class = AnyAccept
    parser_classes = []

    def accept(self, request) -> list[dicomweb.MediaRange]:
        return dicomweb.parse_accept(request.headers.get("Accept"))


def dicom_json_response(data, status: int = 200) -> HttpResponse:
    body = data if isinstance(data, bytes) else json.dumps(data, separators=(",", ":")).encode()
    return HttpResponse(body, status=status, content_type=dicomweb.DICOM_JSON)


def multipart_response(parts: list[tuple[str, bytes]], part_type: str) -> HttpResponse:
    body, boundary = dicomweb.multipart_body(parts)
    return HttpResponse(body, content_type=dicomweb.multipart_content_type(part_type, boundary))


def wants_json(view: DicomwebView, request) -> None:
    accept = view.accept(request)
    if not dicomweb.accepts(accept, dicomweb.DICOM_JSON, multipart=False) and not dicomweb.accepts(
        accept, "application/json", multipart=False
    ):
        raise NotAcceptableHere(f"this resource is {dicomweb.DICOM_JSON}; Accept was {request.headers.get('Accept')!r}")


# ---------------------------------------------------------------- QIDO-RS


def qido(view: DicomwebView, request, results) -> HttpResponse:
    wants_json(view, request)
    return dicom_json_response(results)


@dicomweb_routes.route("studies", name="qido-studies")
class StudiesApi(DicomwebView):
    """GET: QIDO-RS study search. POST: STOW-RS (multipart/related; type="application/dicom")."""

    @extend_schema(responses=DATASETS, operation_id="dicomweb_search_studies")
    def get(self, request):
        return qido(self, request, selectors.study_results(request.query_params))

    @extend_schema(request=None, responses={(200, dicomweb.DICOM_JSON): dict}, operation_id="dicomweb_store")
    def post(self, request):
        return stow_response(request)


@dicomweb_routes.route("series", name="qido-series")
class AllSeriesApi(DicomwebView):
    @extend_schema(responses=DATASETS, operation_id="dicomweb_search_all_series")
    def get(self, request):
        return qido(self, request, selectors.series_results(request.query_params))


@dicomweb_routes.route("instances", name="qido-instances")
class AllInstancesApi(DicomwebView):
    @extend_schema(responses=DATASETS, operation_id="dicomweb_search_all_instances")
    def get(self, request):
        return qido(self, request, selectors.instance_results(request.query_params))


@dicomweb_routes.route("studies/<str:study>/series", name="qido-study-series")
class StudySeriesApi(DicomwebView):
    @extend_schema(responses=DATASETS, operation_id="dicomweb_search_study_series")
    def get(self, request, study: str):
        return qido(self, request, selectors.series_results(request.query_params, study_uid=study))


@dicomweb_routes.route("studies/<str:study>/instances", name="qido-study-instances")
class StudyInstancesApi(DicomwebView):
    @extend_schema(responses=DATASETS, operation_id="dicomweb_search_study_instances")
    def get(self, request, study: str):
        return qido(self, request, selectors.instance_results(request.query_params, study_uid=study))


@dicomweb_routes.route("studies/<str:study>/series/<str:series>/instances", name="qido-series-instances")
class SeriesInstancesApi(DicomwebView):
    @extend_schema(responses=DATASETS, operation_id="dicomweb_search_series_instances")
    def get(self, request, study: str, series: str):
        return qido(self, request, selectors.instance_results(request.query_params, study_uid=study, series_uid=series))


# ---------------------------------------------------------------- WADO-RS metadata


@dicomweb_routes.route("studies/<str:study>/metadata", name="wado-study-metadata")
class StudyMetadataApi(DicomwebView):
    @extend_schema(responses=DATASETS, operation_id="dicomweb_study_metadata")
    def get(self, request, study: str):
        wants_json(self, request)
        parts = [selectors.series_metadata_json(found)[1:-1] for found in selectors.study_series(study)]
        return dicom_json_response(b"[" + b",".join(part for part in parts if part) + b"]")


@dicomweb_routes.route("studies/<str:study>/series/<str:series>/metadata", name="wado-series-metadata")
class SeriesMetadataApi(DicomwebView):
    @extend_schema(responses=DATASETS, operation_id="dicomweb_series_metadata")
    def get(self, request, study: str, series: str):
        wants_json(self, request)
        return dicom_json_response(selectors.series_metadata_json(selectors.series_by_uids(study, series)))


@dicomweb_routes.route("studies/<str:study>/series/<str:series>/instances/<str:instance>/metadata",
                       name="wado-instance-metadata")  # fmt: skip
class InstanceMetadataApi(DicomwebView):
    @extend_schema(responses=DATASETS, operation_id="dicomweb_instance_metadata")
    def get(self, request, study: str, series: str, instance: str):
        wants_json(self, request)
        found = selectors.slice_by_uids(study, series, instance)
        return dicom_json_response([selectors.instance_metadata(found.series, instance)])


# ---------------------------------------------------------------- WADO-RS instances, frames, bulk data


def instances_response(view: DicomwebView, request, slices) -> HttpResponse:
    """Whole stored instances as multipart/related; type="application/dicom" (in their stored syntax)."""
    accept = view.accept(request)
    for wanted in accept:
        if wanted.part_type in (dicomweb.DICOM, "*/*") and wanted.transfer_syntax in (None, "*"):
            break
    else:
        raise NotAcceptableHere(
            'instances are available as multipart/related; type="application/dicom" in their stored transfer '
            f"syntax (transfer-syntax=* or none named), not as {request.headers.get('Accept')!r}"
        )
    return multipart_response([(dicomweb.DICOM, selectors.instance_bytes(s)) for s in slices], dicomweb.DICOM)


@dicomweb_routes.route("studies/<str:study>", name="wado-study")
class StudyApi(DicomwebView):
    """GET: every instance of the study. POST: STOW-RS into this study."""

    @extend_schema(responses={(200, "multipart/related"): bytes}, operation_id="dicomweb_retrieve_study")
    def get(self, request, study: str):
        found = selectors.study_series(study)
        slices = [s for series in found for s in series.slices.order_by("z_index")]
        return instances_response(self, request, slices)

    @extend_schema(request=None, responses={(200, dicomweb.DICOM_JSON): dict}, operation_id="dicomweb_store_study")
    def post(self, request, study: str):
        return stow_response(request, study_uid=study)


@dicomweb_routes.route("studies/<str:study>/series/<str:series>", name="wado-series")
class SeriesApi(DicomwebView):
    @extend_schema(responses={(200, "multipart/related"): bytes}, operation_id="dicomweb_retrieve_series")
    def get(self, request, study: str, series: str):
        found = selectors.series_by_uids(study, series)
        return instances_response(self, request, found.slices.order_by("z_index"))


@dicomweb_routes.route("studies/<str:study>/series/<str:series>/instances/<str:instance>", name="wado-instance")
class InstanceApi(DicomwebView):
    @extend_schema(responses={(200, "multipart/related"): bytes}, operation_id="dicomweb_retrieve_instance")
    def get(self, request, study: str, series: str, instance: str):
        return instances_response(self, request, [selectors.slice_by_uids(study, series, instance)])


def frames_answer(view: DicomwebView, request, dataset) -> dicomweb.Frames:
    """The instance's frames as the client accepts them, or 406 naming what is offered."""
    try:
        return dicomweb.frames_for(dataset, view.accept(request))
    except dicomweb.NotAcceptable as error:
        raise NotAcceptableHere(str(error)) from None


def frames_response(choice: dicomweb.FrameChoice, frames: list[bytes]) -> HttpResponse:
    return multipart_response([(choice.part_content_type(), frame) for frame in frames], choice.media_type)


def frame_numbers(text: str, count: int) -> list[int]:
    numbers = []
    for piece in text.split(","):
        if not piece.strip().isdigit():
            raise DomainError(f"frame numbers are whole numbers from 1, separated by commas; got {text!r}")
        number = int(piece)
        if not 1 <= number <= count:
            raise selectors.NotFound(f"frame {number} does not exist: the instance has {count} frame(s)")
        numbers.append(number)
    return numbers


def request_token(request) -> str | None:
    """The key of an `Authorization: Token <key>` header (DRF's TokenAuthentication scheme)."""
    scheme, _, key = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    key = key.strip()
    return key if scheme.lower() == "token" and key and " " not in key else None


def stored_frames_response(request, study: str, series: str, instance: str, frames: str) -> HttpResponse | None:
    """The frames as stored, or None where the full path must answer (see FramesApi.dispatch)."""
    token = request_token(request)
    if token is None and ("HTTP_AUTHORIZATION" in request.META or not request.user.is_authenticated):
        return None
    found = selectors.stored_frames(study, series, instance, token_key=token)
    if found is None:
        return None
    try:
        choice = dicomweb.frame_choice(found.transfer_syntax_uid, dicomweb.parse_accept(request.headers.get("Accept")))
        if choice.decoded:
            return None
        numbers = frame_numbers(frames, len(found.frame_ranges))
        return frames_response(choice, selectors.stored_frame_bytes(found, numbers))
    except (DomainError, dicomweb.NotAcceptable, OSError):
        return None


@dicomweb_routes.route("studies/<str:study>/series/<str:series>/instances/<str:instance>/frames/<str:frames>",
                       name="wado-frames")  # fmt: skip
class FramesApi(DicomwebView):
    """Frames as multipart/related: in the stored transfer syntax (`transfer-syntax=*`, named on each part)
    or decoded to Explicit VR Little Endian (`type="application/octet-stream"`)."""

    def dispatch(self, request, *args, **kwargs):
        # A viewer's hot path: hundreds of frames per series. Sent as stored, for a token or a signed-in
        # session, straight from the recorded byte ranges; anything else (decoding, errors) goes the
        # full way through DRF, which also says what is wrong.
        response = stored_frames_response(request, **kwargs) if request.method == "GET" else None
        if response is None:
            return super().dispatch(request, *args, **kwargs)
        for name, value in self.default_response_headers.items():
            response[name] = value
        return response

    @extend_schema(responses={(200, "multipart/related"): bytes}, operation_id="dicomweb_retrieve_frames")
    def get(self, request, study: str, series: str, instance: str, frames: str):
        dataset = selectors.instance_dataset(selectors.slice_by_uids(study, series, instance))
        answer = frames_answer(self, request, dataset)
        chosen = frame_numbers(frames, len(answer.frames))
        return frames_response(answer.choice, [answer.frames[n - 1] for n in chosen])


@dicomweb_routes.route("studies/<str:study>/series/<str:series>/instances/<str:instance>/bulkdata/<str:tag>",
                       name="wado-bulkdata")  # fmt: skip
class BulkDataApi(DicomwebView):
    """The value of one binary attribute named by a BulkDataURI; pixel data as its frames."""

    @extend_schema(responses={(200, "multipart/related"): bytes}, operation_id="dicomweb_retrieve_bulkdata")
    def get(self, request, study: str, series: str, instance: str, tag: str):
        dataset = selectors.instance_dataset(selectors.slice_by_uids(study, series, instance))
        try:
            number = int(tag, 16)
        except ValueError:
            raise DomainError(f"bulk data is named by its tag in hex (e.g. 7fe00010), not {tag!r}") from None
        if number not in dataset:
            raise selectors.NotFound(f"instance {instance} has no attribute {tag}")
        if number == 0x7FE00010:
            answer = frames_answer(self, request, dataset)
            return frames_response(answer.choice, answer.frames)
        value = dataset[number].value
        if not isinstance(value, bytes):
            raise DomainError(f"attribute {tag} is not binary; its value is in the metadata")
        return multipart_response([(dicomweb.OCTET_STREAM, value)], dicomweb.OCTET_STREAM)


# ---------------------------------------------------------------- WADO-URI


@dicomweb_routes.route("wado", name="wado-uri")
class WadoUriApi(DicomwebView):
    """WADO-URI (PS3.18 9): ?requestType=WADO&studyUID=&seriesUID=&objectUID=&contentType=application/dicom."""

    @extend_schema(
        parameters=[OpenApiParameter(n, str, required=n != "contentType")
                    for n in ("requestType", "studyUID", "seriesUID", "objectUID", "contentType")],
        responses={(200, dicomweb.DICOM): bytes}, operation_id="dicomweb_wado_uri",
    )  # fmt: skip
    def get(self, request):
        params = request.query_params
        if params.get("requestType") != "WADO":
            raise DomainError("requestType must be WADO")
        missing = [name for name in ("studyUID", "seriesUID", "objectUID") if not params.get(name)]
        if missing:
            raise DomainError(f"missing parameter(s): {', '.join(missing)}")
        content_type = params.get("contentType", dicomweb.DICOM)
        if content_type != dicomweb.DICOM:
            raise NotAcceptableHere(f"contentType {content_type!r} is not offered; only {dicomweb.DICOM}")
        found = selectors.slice_by_uids(params["studyUID"], params["seriesUID"], params["objectUID"])
        return HttpResponse(selectors.instance_bytes(found), content_type=dicomweb.DICOM)


# ---------------------------------------------------------------- STOW-RS


def request_body(request, what: str) -> bytes:
    """The body, within the upload limit: from its declared length, or read to its end when it comes in
    chunks (DICOMweb clients send large STOW bodies chunked; gunicorn de-chunks them, and Django, which
    reads nothing without a Content-Length, is bypassed for them)."""
    limit = settings.IMPORT_MAX_UPLOAD_BYTES
    meta = request.META
    if not meta.get("CONTENT_LENGTH") and "chunked" in meta.get("HTTP_TRANSFER_ENCODING", "").lower():
        data = meta["wsgi.input"].read(limit + 1)
        if len(data) > limit:
            raise PayloadTooLarge(f"{what} of more than {limit} bytes is over the limit")
        return data
    length = int(meta.get("CONTENT_LENGTH") or 0)
    if length > limit:
        raise PayloadTooLarge(f"{what} of {length} bytes is over the limit of {limit} bytes")
    return request._request.read()


def stow_response(request, study_uid: str | None = None) -> HttpResponse:
    content_type = request.META.get("CONTENT_TYPE", "")
    try:
        parts = dicomweb.parse_multipart_related(request_body(request, "upload"), content_type)
    except dicomweb.MultipartError as error:
        raise UnsupportedMediaType(str(error)) from None
    for part in parts:
        if part.content_type not in (dicomweb.DICOM, "application/octet-stream"):
            raise UnsupportedMediaType(f"STOW-RS takes application/dicom parts, not {part.content_type!r}")
    stored = services.stow(parts=[(p.content_type, p.data) for p in parts], user=request.user)
    referenced = [
        dicomweb.json_dataset(ReferencedSOPClassUID="1.2.840.10008.5.1.4.1.1.2", ReferencedSOPInstanceUID=uid,
                              RetrieveURL=selectors.instance_url(series, uid, selectors.base_url()))
        for series, uid in stored["images"]
    ] + [
        dicomweb.json_dataset(ReferencedSOPClassUID=services.seg.SEG_SOP_CLASS_UID, ReferencedSOPInstanceUID=s.sop_uid)
        for s in stored["segs"]
    ]  # fmt: skip
    answer = dicomweb.json_dataset(ReferencedSOPSequence=None)
    answer["00081199"]["Value"] = referenced
    if study_uid is not None:
        answer.update(dicomweb.json_dataset(RetrieveURL=selectors.study_url(study_uid, selectors.base_url())))
    return dicom_json_response(answer)


# ---------------------------------------------------------------- DICOM SEG (/api/v1/)


@routes.route("series/<int:series_id>/seg", name="series-seg")
class SeriesSegApi(APIView):
    """GET ?source=reader_1|reader_2|consensus|model:<id>|lung: the source as one DICOM SEG. POST (body: a
    SEG, application/dicom): import it, MANUAL as your own reading, AUTOMATIC as the named model's predictions."""

    parser_classes = []

    @extend_schema(
        parameters=[OpenApiParameter("source", str, required=True,
                                     description="reader_1, reader_2, consensus, model:<id> or lung")],
        responses={(200, dicomweb.DICOM): bytes},
    )  # fmt: skip
    def get(self, request, series_id: int):
        source = request.query_params.get("source")
        if not source:
            raise DomainError("name the source: ?source=reader_1|reader_2|consensus|model:<id>|lung")
        data = services.seg_export(series=series_get(series_id=series_id), source=source, user=request.user)
        response = HttpResponse(data, content_type=dicomweb.DICOM)
        response["Content-Disposition"] = (
            f'attachment; filename="series-{series_id}-{source.replace(":", "-")}-seg.dcm"'
        )
        return response

    @extend_schema(request={dicomweb.DICOM: bytes}, responses={200: dict})
    def post(self, request, series_id: int):
        if request.META.get("CONTENT_TYPE", "").split(";")[0].strip() != dicomweb.DICOM:
            raise UnsupportedMediaType("send the SEG as the body, Content-Type: application/dicom")
        imported = services.seg_import(data=request_body(request, "SEG"), user=request.user,
                                       series=series_get(series_id=series_id))  # fmt: skip
        return Response({"series_id": imported.series_id, "sop_instance_uid": imported.sop_uid,
                         "imported_as": imported.imported_as, "changed_slices": imported.changed_slices})  # fmt: skip
