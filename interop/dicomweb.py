"""DICOMweb wire formats (PS3.18) as plain functions: Accept headers, multipart/related bodies, frames of a
stored instance and DICOM JSON. No Django here.

The multipart encoder is hand-written (a few lines): the part headers must be spelled `Content-Type:`
byte for byte (Cornerstone's loader matches it case-sensitively), which the standard library's email
generator does not promise. Parsing a STOW body uses the standard library's email parser.
"""

from __future__ import annotations

import email.parser
import email.policy
import secrets
from dataclasses import dataclass, field

import numpy as np
import pydicom
from pydicom.encaps import generate_frames
from pydicom.uid import ExplicitVRLittleEndian

DICOM_JSON = "application/dicom+json"
OCTET_STREAM = "application/octet-stream"
DICOM = "application/dicom"

# The media type of a frame in each transfer syntax (PS3.18 table 8.7.3-2); the rest: octet-stream.
FRAME_MEDIA_TYPES = {
    "1.2.840.10008.1.2.4.50": "image/jpeg",
    "1.2.840.10008.1.2.4.51": "image/jpeg",
    "1.2.840.10008.1.2.4.57": "image/jpeg",
    "1.2.840.10008.1.2.4.70": "image/jpeg",
    "1.2.840.10008.1.2.4.80": "image/jls",
    "1.2.840.10008.1.2.4.81": "image/jls",
    "1.2.840.10008.1.2.4.90": "image/jp2",
    "1.2.840.10008.1.2.4.91": "image/jp2",
    "1.2.840.10008.1.2.5": "image/dicom-rle",
}


class NotAcceptable(ValueError):
    """No representation the client accepts can be made; the message says what can."""


@dataclass(frozen=True)
class MediaRange:
    """One entry of an Accept header: `multipart/related; type="image/jpeg"; transfer-syntax=...`."""

    media_type: str
    parameters: dict[str, str] = field(default_factory=dict)

    @property
    def part_type(self) -> str:
        """The type of each part of a multipart answer ("*/*" when the client names none)."""
        if self.media_type == "multipart/related":
            return self.parameters.get("type", "*/*").lower()
        return self.media_type

    @property
    def transfer_syntax(self) -> str | None:
        return self.parameters.get("transfer-syntax")


def split_outside_quotes(text: str, separator: str) -> list[str]:
    pieces, current, quoted = [], [], False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == separator and not quoted:
            pieces.append("".join(current))
            current = []
        else:
            current.append(char)
    pieces.append("".join(current))
    return pieces


def parse_accept(header: str | None) -> list[MediaRange]:
    """The media ranges of an Accept header in the client's order (q-values are not weighed: DICOMweb
    clients list what they take, best first)."""
    ranges = []
    for entry in split_outside_quotes(header or "*/*", ","):
        pieces = [piece.strip() for piece in split_outside_quotes(entry, ";")]
        if not pieces[0]:
            continue
        parameters = {}
        for piece in pieces[1:]:
            name, _, value = piece.partition("=")
            parameters[name.strip().lower()] = value.strip().strip('"')
        ranges.append(MediaRange(pieces[0].lower(), parameters))
    return ranges or [MediaRange("*/*")]


def multipart_body(parts: list[tuple[str, bytes]], boundary: str | None = None) -> tuple[bytes, str]:
    """A multipart/related body of (content type, bytes) parts, and its boundary."""
    boundary = boundary or secrets.token_hex(16)
    chunks = []
    for content_type, data in parts:
        chunks += [f"--{boundary}\r\nContent-Type: {content_type}\r\n\r\n".encode(), data, b"\r\n"]
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), boundary


def multipart_content_type(part_type: str, boundary: str) -> str:
    return f'multipart/related; type="{part_type}"; boundary={boundary}'


@dataclass(frozen=True)
class BodyPart:
    content_type: str
    data: bytes


class MultipartError(ValueError):
    """A STOW body that is not multipart/related as declared; the message says why."""


def parse_multipart_related(body: bytes, content_type: str) -> list[BodyPart]:
    """The parts of a multipart/related body (STOW-RS)."""
    if not content_type.lower().startswith("multipart/related"):
        raise MultipartError(f"the body must be multipart/related, not {content_type.split(';')[0]!r}")
    if "boundary=" not in content_type.lower():
        raise MultipartError("the multipart/related Content-Type names no boundary")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise MultipartError("the body has no parts under the declared boundary")
    parts = []
    for part in message.iter_parts():
        data = part.get_payload(decode=True)
        if data is None:
            raise MultipartError("a part of the body could not be read")
        parts.append(BodyPart(part.get_content_type(), data))
    if not parts:
        raise MultipartError("the body has no parts under the declared boundary")
    return parts


# ---------------------------------------------------------------- frames


def stored_frames(dataset: pydicom.Dataset) -> list[bytes]:
    """Each frame of the instance's pixel data, as stored (encapsulated frames or native bytes)."""
    frame_count = int(dataset.get("NumberOfFrames") or 1)
    pixel_data = dataset.PixelData
    if dataset.file_meta.TransferSyntaxUID.is_encapsulated:
        return list(generate_frames(pixel_data, number_of_frames=frame_count))
    frame_bytes = len(pixel_data) // frame_count
    return [pixel_data[i * frame_bytes : (i + 1) * frame_bytes] for i in range(frame_count)]


def native_frames(dataset: pydicom.Dataset) -> list[bytes]:
    """Each frame decoded to Explicit VR Little Endian pixel bytes (the stored values, before rescale)."""
    if not dataset.file_meta.TransferSyntaxUID.is_encapsulated and dataset.file_meta.TransferSyntaxUID.is_little_endian:
        return stored_frames(dataset)
    pixels = dataset.pixel_array
    signed = int(dataset.get("PixelRepresentation", 0)) == 1
    dtype = np.dtype(f"<{'i' if signed else 'u'}{int(dataset.BitsAllocated) // 8}")
    pixels = pixels.astype(dtype, copy=False).reshape(int(dataset.get("NumberOfFrames") or 1), -1)
    return [frame.tobytes() for frame in pixels]


@dataclass(frozen=True)
class FrameChoice:
    """How frames go out: their transfer syntax and part media type, and whether they must be decoded
    (else they are the stored bytes)."""

    transfer_syntax: str
    media_type: str
    decoded: bool

    def part_content_type(self) -> str:
        return f"{self.media_type}; transfer-syntax={self.transfer_syntax}"


def frame_choice(stored: str, accept: list[MediaRange]) -> FrameChoice:
    """The first representation the client accepts (PS3.18 8.7.3.5) of frames stored in transfer syntax
    `stored`: that syntax where the client takes it (`transfer-syntax=*`, the syntax named, or a media
    type without one), else Explicit VR Little Endian (decoded, unless the stored bytes already are)."""
    stored_media = FRAME_MEDIA_TYPES.get(stored, OCTET_STREAM)
    as_stored = FrameChoice(stored, stored_media, decoded=False)
    syntax_uid = pydicom.uid.UID(stored)
    native = FrameChoice(ExplicitVRLittleEndian, OCTET_STREAM,
                         decoded=syntax_uid.is_encapsulated or not syntax_uid.is_little_endian)  # fmt: skip
    for wanted in accept:
        part_type, syntax = wanted.part_type, wanted.transfer_syntax
        if part_type in ("*/*", "*"):
            if syntax in (None, "*", stored):
                return as_stored
            if syntax == ExplicitVRLittleEndian:
                return native
        elif part_type == OCTET_STREAM:
            if syntax == "*" or (syntax == stored and stored_media == OCTET_STREAM):
                # The server's choice: the stored encoding, named on each part (what Cornerstone asks for).
                return FrameChoice(stored, OCTET_STREAM, decoded=False)
            if syntax in (None, ExplicitVRLittleEndian):
                return native
        elif part_type == stored_media and syntax in (None, "*", stored):
            return as_stored
    offered = [f'type="{stored_media}"; transfer-syntax={stored}',
               f'type="{OCTET_STREAM}"; transfer-syntax={ExplicitVRLittleEndian}']  # fmt: skip
    raise NotAcceptable(
        f"frames of this instance are available as multipart/related with {' or '.join(offered)} "
        f"(or transfer-syntax=*), not as {', '.join(render_media_range(r) for r in accept)}"
    )


@dataclass(frozen=True)
class Frames:
    """The frames of one instance as sent: bytes per frame, and how they are encoded."""

    frames: list[bytes]
    choice: FrameChoice


def frames_for(dataset: pydicom.Dataset, accept: list[MediaRange]) -> Frames:
    """The instance's frames as the client accepts them (see frame_choice)."""
    choice = frame_choice(str(dataset.file_meta.TransferSyntaxUID), accept)
    frames = native_frames(dataset) if choice.decoded else stored_frames(dataset)
    return Frames(frames, choice)


def render_media_range(media_range: MediaRange) -> str:
    return "; ".join([media_range.media_type, *(f"{k}={v}" for k, v in media_range.parameters.items())])


def accepts(accept: list[MediaRange], media_type: str, *, multipart: bool) -> bool:
    """Does the client take `media_type` (as the parts of a multipart answer, or as the body)?"""
    for wanted in accept:
        if multipart and wanted.media_type in ("multipart/related", "*/*", "multipart/*"):
            if wanted.part_type in ("*/*", media_type):
                return True
        elif not multipart and wanted.media_type in ("*/*", media_type, "application/*"):
            return True
    return False


# ---------------------------------------------------------------- DICOM JSON

BULK_DATA_THRESHOLD = 1024  # bytes: longer binary values are referenced by a BulkDataURI


def instance_json(dataset: pydicom.Dataset, instance_url: str) -> dict:
    """The instance's DICOM JSON (PS3.18 F.2) with binary values over the threshold, pixel data
    included, as BulkDataURIs under `instance_url`."""

    def bulk_data_uri(element: pydicom.DataElement) -> str:
        return f"{instance_url}/bulkdata/{element.tag:08x}"

    return dataset.to_json_dict(BULK_DATA_THRESHOLD, bulk_data_uri)


def tag_of(name: str) -> int:
    """An attribute named by keyword (`PatientID`) or tag (`00100020`), as PS3.18 allows in queries."""
    tag = pydicom.datadict.tag_for_keyword(name)
    if tag is not None:
        return tag
    if len(name) == 8:
        try:
            return int(name, 16)
        except ValueError:
            pass
    raise KeyError(name)


def tag_key(tag: int) -> str:
    return f"{tag:08X}"


def json_attribute(keyword: str, value) -> tuple[str, dict]:
    """One DICOM JSON attribute: {"0020000D": {"vr": "UI", "Value": [...]}} (no Value when empty)."""
    tag = pydicom.datadict.tag_for_keyword(keyword)
    vr = pydicom.datadict.dictionary_VR(tag)
    entry: dict = {"vr": vr}
    if value not in (None, "", []):
        values = value if isinstance(value, list) else [value]
        entry["Value"] = [{"Alphabetic": v} for v in values] if vr == "PN" else values
    return tag_key(tag), entry


def json_dataset(**attributes) -> dict:
    return dict(json_attribute(keyword, value) for keyword, value in attributes.items())
