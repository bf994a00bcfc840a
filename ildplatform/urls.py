from csp.decorators import csp_exempt
from django.contrib import admin
from django.http import JsonResponse
from django.urls import include, path
from django.views.defaults import page_not_found
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from . import apis

api_v1 = [
    path("auth/token/", apis.TokenApi.as_view(), name="api-token"),
    *apis.routes.urlpatterns,
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI comes from a CDN with an inline start script: outside the pages' Content-Security-Policy.
    path("docs/", csp_exempt()(SpectacularSwaggerView.as_view(url_name="schema")), name="api-docs"),
]

# The apps above the core are named, not imported: the core depends on nothing above it.
urlpatterns = [
    path("healthz", apis.HealthApi.as_view(), name="healthz"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/v1/", include("inference.urls")),
    path("api/v1/", include("annotations.urls")),
    path("api/v1/", include("interop.urls")),
    path("dicomweb/", include("interop.dicomweb_urls")),
    path("", include("frontend.urls")),
]


def not_found(request, exception):
    """No route: the API and DICOMweb answer JSON, naming the path; pages keep Django's page."""
    if request.path.startswith(("/api/", "/dicomweb/")):
        return JsonResponse({"detail": f"nothing at {request.path}"}, status=404)
    return page_not_found(request, exception)


handler404 = not_found
