"""Strict request bodies: JSON no deeper than anything the API takes, and input fields that take the JSON
type they name (a reason is text, not 123; a switch is true or false, not "yes")."""

from __future__ import annotations

import io

from rest_framework import serializers
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_JSON_DEPTH = 32  # the deepest body the API takes is 3 levels; 32 leaves room and stops a RecursionError


def json_depth(text: str) -> int:
    """How deeply the arrays and objects of a JSON text nest (brackets inside strings do not count)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser, refusing a body nested deeper than MAX_JSON_DEPTH before decoding it."""

    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read()
        try:
            text = raw.decode((parser_context or {}).get("encoding") or "utf-8")
        except UnicodeDecodeError as error:
            raise ParseError(f"JSON body is not valid UTF-8 ({error})") from error
        if "\x00" in text or "\\u0000" in text:
            # No text field takes it, and PostgreSQL cannot store it (it would fail there, not here).
            raise ParseError("JSON body contains a NUL character (\\u0000), which no field takes")
        depth = json_depth(text)
        if depth > MAX_JSON_DEPTH:
            raise ParseError(f"JSON body nests {depth} levels deep, more than the {MAX_JSON_DEPTH} allowed")
        return super().parse(io.BytesIO(raw), media_type, parser_context)


class StrictCharField(serializers.CharField):
    """Text only: DRF's CharField also takes numbers and turns them into text."""

    default_error_messages = {"invalid": "Must be text (a JSON string)."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """true or false only: DRF's BooleanField also takes "yes", "1", 0 and the like."""

    default_error_messages = {"invalid": "Must be true or false (a JSON boolean)."}

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class StrictIntegerField(serializers.IntegerField):
    """A JSON number without a fraction: DRF's IntegerField also takes "5", 5.0 and true."""

    default_error_messages = {"invalid": "Must be a whole number (a JSON integer)."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictUUIDField(serializers.UUIDField):
    """A UUID as text only: DRF's UUIDField also takes a JSON number (as the UUID's 128-bit integer)."""

    default_error_messages = {"invalid": "Must be a UUID as text, such as 0b0e4d5c-9c1b-4f3e-8a57-2f0c3c1e9d21."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)
