"""URL routes declared beside their API views (so each app's urls.py is one line), and their OpenAPI names."""

from __future__ import annotations

from django.urls import URLPattern, path, register_converter
from drf_spectacular.openapi import AutoSchema


class NumberConverter:
    """`<int:...>` of the API: a whole number an id or index column can hold. A larger one names nothing,
    so it is answered like any unknown id (404), not passed to the database (which overflows: 500)."""

    regex = "[0-9]{1,10}"
    largest = 2**31 - 1  # PostgreSQL's integer, the smallest id and index column type here

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > self.largest:
            raise ValueError(f"{number} is larger than any id")
        return number

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(NumberConverter, "number")


class ApiRoutes:
    """`@routes.route("series/<int:series_id>/", name="series-detail")` on an APIView class (`int` is taken
    as `number`: bounded to what an id column holds)."""

    def __init__(self) -> None:
        self.urlpatterns: list[URLPattern] = []

    def route(self, pattern: str, *, name: str):
        pattern = pattern.replace("<int:", "<number:")

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
