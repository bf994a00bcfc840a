from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.authtoken.views import obtain_auth_token

from . import apis

api_v1 = [
    path("auth/token/", obtain_auth_token, name="api-token"),
    path("imports/", apis.ImportApi.as_view(), name="import"),
    path("patients/", apis.PatientListApi.as_view(), name="patient-list"),
    path("patients/<int:patient_id>/", apis.PatientDetailApi.as_view(), name="patient-detail"),
    path("series/<int:series_id>/", apis.SeriesDetailApi.as_view(), name="series-detail"),
    path("series/<int:series_id>/slices/<int:z_index>/dicom", apis.SliceDicomApi.as_view(), name="slice-dicom"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/v1/", include("inference.urls")),
    path("api/v1/", include("annotations.urls")),
    path("", include("frontend.urls")),
]
