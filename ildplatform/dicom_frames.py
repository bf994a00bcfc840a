"""Where each frame's bytes lie in a stored DICOM file: found once when the file is written, so that a
frame can later be sent as stored with a seek and a read instead of parsing the file."""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import pydicom
from pydicom.encaps import parse_basic_offsets, parse_fragments

PIXEL_DATA = 0x7FE00010
EXTENDED_OFFSET_TABLE = 0x7FE00001
ITEM_HEADER_BYTES = 8  # (FFFE,E000) tag and a 4-byte length

ByteRange = tuple[int, int]  # (offset in the file, length)


@dataclass(frozen=True)
class PixelLayout:
    transfer_syntax_uid: str
    frame_ranges: list[list[ByteRange]] | None


def pixel_layout(data: bytes) -> PixelLayout:
    """A DICOM file's transfer syntax and its frames' byte ranges."""
    dataset = pydicom.dcmread(io.BytesIO(data))
    return PixelLayout(str(dataset.file_meta.TransferSyntaxUID), frame_byte_ranges(dataset))


def frame_byte_ranges(dataset: pydicom.Dataset) -> list[list[ByteRange]] | None:
    """Per frame, the byte ranges in the file `dataset` was read from whose concatenation is the frame as
    stored: one range for native pixel data, one per fragment for encapsulated. None where the file does
    not say (no pixel data, an extended offset table, fragments that cannot be assigned to frames without
    decoding)."""
    raw = dataset._dict.get(PIXEL_DATA)  # the element as read: its value's offset in the file, not decoded
    if not isinstance(raw, pydicom.dataelem.RawDataElement) or EXTENDED_OFFSET_TABLE in dataset:
        return None
    try:
        frame_count = int(dataset.get("NumberOfFrames") or 1)
    except (TypeError, ValueError):
        return None
    if frame_count < 1:
        return None
    if raw.length != 0xFFFFFFFF:
        frame_bytes, left_over = divmod(raw.length, frame_count)
        if left_over or not frame_bytes:
            return None
        return [[(raw.value_tell + index * frame_bytes, frame_bytes)] for index in range(frame_count)]
    return _encapsulated_ranges(raw.value, raw.value_tell, frame_count)


def _encapsulated_ranges(value: bytes, value_offset: int, frame_count: int) -> list[list[ByteRange]] | None:
    frame_starts = parse_basic_offsets(value)  # relative to the first fragment's item tag
    (table_length,) = struct.unpack_from("<I", value, 4)
    first_fragment = ITEM_HEADER_BYTES + table_length
    _, positions = parse_fragments(value[first_fragment:])
    fragments = []
    for position in positions:
        (length,) = struct.unpack_from("<I", value, first_fragment + position + 4)
        fragments.append((position, (value_offset + first_fragment + position + ITEM_HEADER_BYTES, length)))
    if not fragments:
        return None
    if frame_count == 1:
        return [[byte_range for _, byte_range in fragments]]
    if len(frame_starts) == frame_count:
        ends = [*frame_starts[1:], float("inf")]
        bounds = zip(frame_starts, ends, strict=True)
        return [[r for position, r in fragments if start <= position < end] for start, end in bounds]
    if len(fragments) == frame_count:
        return [[byte_range] for _, byte_range in fragments]
    return None


def read_frame(handle, ranges: list[ByteRange]) -> bytes:
    """One frame's bytes from an open file, by its ranges."""
    pieces = []
    for offset, length in ranges:
        handle.seek(offset)
        piece = handle.read(length)
        if len(piece) != length:
            raise OSError(f"the stored file ends before byte {offset + length}")
        pieces.append(piece)
    return b"".join(pieces)
