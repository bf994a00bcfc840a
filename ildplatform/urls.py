from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from . import apis

api_v1 = [
    path("auth/token/", apis.TokenApi.as_view(), name="api-token"),
    *apis.routes.urlpatterns,
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]

# The apps above the core are named, not imported: the core depends on nothing above it.
urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/v1/", include("inference.urls")),
    path("api/v1/", include("annotations.urls")),
    path("", include("frontend.urls")),
]
