"""URL routes declared beside their API views (so each app's urls.py is one line), and their OpenAPI names."""

from __future__ import annotations

from django.urls import URLPattern, path
from drf_spectacular.openapi import AutoSchema


class ApiRoutes:
    """`@routes.route("series/<int:series_id>/", name="series-detail")` on an APIView class."""

    def __init__(self) -> None:
        self.urlpatterns: list[URLPattern] = []

    def route(self, pattern: str, *, name: str):
        def register(view_class):
            self.urlpatterns.append(path(pattern, view_class.as_view(), name=name))
            return view_class

        return register


class ApiSchema(AutoSchema):
    """OpenAPI names for the nested `InputSerializer` / `OutputSerializer` of each view (the styleguide's
    pattern): prefixed with the view's name, so two views' serializers never share one component."""

    def get_serializer_name(self, serializer, direction: str) -> str:
        name = super().get_serializer_name(serializer, direction)
        if name in ("InputSerializer", "OutputSerializer"):
            return self.view.__class__.__name__.removesuffix("Api") + name
        return name
