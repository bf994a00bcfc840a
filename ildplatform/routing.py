"""URL routes declared beside their API views, so each app's urls.py is one line."""

from __future__ import annotations

from django.urls import URLPattern, path


class ApiRoutes:
    """`@routes.route("series/<int:series_id>/", name="series-detail")` on an APIView class."""

    def __init__(self) -> None:
        self.urlpatterns: list[URLPattern] = []

    def route(self, pattern: str, *, name: str):
        def register(view_class):
            self.urlpatterns.append(path(pattern, view_class.as_view(), name=name))
            return view_class

        return register
