"""Hypothesis strategies that damage good inputs the way the wild does: DICOM files (bytes, header
elements, truncation), zip archives (their headers and member names), label-map PNGs (chunks, IHDR
fields, compressed data) and JSON bodies (types, nesting, numbers JSON has no word for)."""

from __future__ import annotations

import io
import json
import struct
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import pydicom
from hypothesis import strategies as st
from pydicom.dataelem import RawDataElement
from pydicom.tag import Tag

from .dicom_factory import zip_bytes

# Header elements the importer reads: the ones worth damaging one at a time.
READ_ELEMENTS = (
    "Rows", "Columns", "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation", "SamplesPerPixel",
    "PhotometricInterpretation", "PixelSpacing", "SliceThickness", "SpacingBetweenSlices", "ImagePositionPatient",
    "ImageOrientationPatient", "RescaleSlope", "RescaleIntercept", "NumberOfFrames", "Modality", "PatientID",
    "PatientName", "PatientBirthDate", "PatientSex", "StudyDate", "StudyInstanceUID", "SeriesInstanceUID",
    "SOPInstanceUID", "SOPClassUID", "InstanceNumber", "SeriesDescription", "ConvolutionKernel", "Manufacturer",
    "FrameOfReferenceUID", "SeriesNumber", "AccessionNumber", "WindowCenter", "WindowWidth",
)  # fmt: skip
VRS = ("DS", "IS", "US", "SS", "UL", "FD", "FL", "LO", "SH", "CS", "UI", "DA", "PN", "UN", "OB", "SQ", "AT", "XX")
NASTY_TEXT = (
    "NaN", "nan", "inf", "-inf", "Infinity", "1e308", "-1e308", "1e-320", "0", "-0", "-1", "1\\2\\3\\4\\5\\6\\7",
    "0\\0\\0\\0\\0\\0", "1\\0\\0\\0\\0\\0", "", " ", "\x00", "\x00" * 8, "1A", "0x10", "١٢", "1,5", "+-1", "  12  ",
    "\\", "\\\\\\", "99999999999999999999999", "20241340", "19000101", "ÿÿ", "a" * 300, "\u202e\u0000",
)  # fmt: skip


def _file_bytes(dataset) -> bytes | None:
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dataset.save_as(buffer, enforce_file_format=False)
    except Exception:  # pydicom refuses to write some damage; the byte-level mutations still cover it
        return None
    return buffer.getvalue()


@dataclass(frozen=True)
class Seed:
    name: str
    data: bytes


def dicom_seeds(factory_bytes: bytes, shared_data: Path | None) -> list[Seed]:
    """Good files to damage: a small synthetic slice, pydicom's CT_small, and (where the data are here) a
    real slice of each kind in ../shared/data (uncompressed, JPEG Lossless, JPEG 2000, minimal header)."""
    from pydicom.data import get_testdata_file

    seeds = [
        Seed("factory.dcm", factory_bytes),
        Seed("CT_small.dcm", Path(get_testdata_file("CT_small.dcm")).read_bytes()),
    ]
    if shared_data is not None and shared_data.is_dir():
        for folder, pattern in (("sbu-slices", "**/*.dcm"), ("ricord-1a-chest-series", "1-001.dcm"),
                                ("siemens-jp2k-empty-uids", "*"), ("lidc-slice", "0.dcm")):  # fmt: skip
            found = sorted(p for p in (shared_data / folder).glob(pattern) if p.is_file() and p.suffix != ".md")
            if found:
                seeds.append(Seed(f"{folder}-{found[0].name}", found[0].read_bytes()))
    return seeds


def _pixel_data_offset(data: bytes) -> int:
    at = data.find(b"\xe0\x7f\x10\x00")
    return at if at > 0 else len(data)


@st.composite
def damaged_bytes(draw, data: bytes, header_end: int | None = None) -> bytes:
    """Bytes overwritten, inserted, cut or repeated, mostly in the header (pixel damage is dull)."""
    header_end = max(1, header_end if header_end is not None else len(data))
    how = draw(st.sampled_from(("overwrite", "insert", "truncate", "repeat", "zero")))
    position = draw(st.integers(0, header_end - 1) | st.integers(0, len(data) - 1))
    if how == "truncate":
        return data[:position]
    if how == "insert":
        return data[:position] + draw(st.binary(min_size=1, max_size=64)) + data[position:]
    if how == "repeat":
        length = draw(st.integers(1, 512))
        return data[:position] + data[position : position + length] * draw(st.integers(2, 20)) + data[position:]
    span = draw(st.integers(1, 16))
    replacement = bytes(span) if how == "zero" else draw(st.binary(min_size=span, max_size=span))
    return data[:position] + replacement + data[position + span :]


@st.composite
def damaged_element(draw, seed: Seed) -> bytes:
    """One header element the importer reads given another VR and a value pydicom would never write."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = pydicom.dcmread(io.BytesIO(seed.data), force=True)
    keyword = draw(st.sampled_from(READ_ELEMENTS))
    tag = Tag(pydicom.datadict.tag_for_keyword(keyword))
    action = draw(st.sampled_from(("delete", "text", "binary", "text", "text")))
    if action == "delete":
        if tag in dataset:
            del dataset[tag]
    else:
        vr = draw(st.sampled_from((pydicom.datadict.dictionary_VR(tag),) * 4 + VRS))
        if action == "text":
            text = draw(st.sampled_from(NASTY_TEXT) | st.text(max_size=40))
            value = text.encode("utf-8", "surrogatepass")
        else:
            value = draw(st.binary(max_size=80))
        dataset[tag] = RawDataElement(tag, vr, len(value), value, 0, False, True)
    written = _file_bytes(dataset)
    return written if written is not None else seed.data


@st.composite
def damaged_dicom(draw, seeds: list[Seed]) -> tuple[str, bytes]:
    seed = draw(st.sampled_from(seeds))
    if draw(st.booleans()):
        return seed.name, draw(damaged_element(seed))
    return seed.name, draw(damaged_bytes(seed.data, _pixel_data_offset(seed.data)))


# ------------------------------------------------------------------------------------------- zips


MEMBER_NAMES = (
    "../../etc/passwd", "/abs/slice.dcm", "C:\\slice.dcm", "a/../../b.dcm", ".", "..", "dir/", "\x00.dcm",
    "é/ß.dcm", "a" * 300 + ".dcm", ".hidden.dcm", "nested.zip", "CON", "slice.dcm\\..\\..\\x",
)  # fmt: skip
# Fields of the local header (after PK\3\4) and central directory entry (after PK\1\2), by offset and width.
LOCAL_FIELDS = ((4, 2), (6, 2), (8, 2), (14, 4), (18, 4), (22, 4), (26, 2), (28, 2))
CENTRAL_FIELDS = ((6, 2), (8, 2), (10, 2), (16, 4), (20, 4), (24, 4), (28, 2), (30, 2), (32, 2), (38, 4), (42, 4))
EOCD_FIELDS = ((8, 2), (10, 2), (12, 4), (16, 4), (20, 2))


@st.composite
def damaged_zip(draw, members: dict[str, bytes]) -> bytes:
    """A good archive with a header field set to an odd number, a member renamed, or bytes damaged."""
    how = draw(st.sampled_from(("field", "field", "rename", "bytes", "nested")))
    if how == "rename":
        renamed = dict(members)
        old = draw(st.sampled_from(sorted(renamed)))
        renamed[draw(st.sampled_from(MEMBER_NAMES) | st.text(min_size=1, max_size=30))] = renamed.pop(old)
        try:
            return zip_bytes(renamed)
        except Exception:  # zipfile will not write some names (the header fields below reach those)
            return zip_bytes(members)
    if how == "nested":
        return zip_bytes({"inner.zip": zip_bytes(members), "readme.txt": b"x"})
    data = zip_bytes(members)
    if how == "bytes":
        return draw(damaged_bytes(data))
    signature, fields = draw(
        st.sampled_from(((b"PK\x03\x04", LOCAL_FIELDS), (b"PK\x01\x02", CENTRAL_FIELDS), (b"PK\x05\x06", EOCD_FIELDS)))
    )
    starts = [i for i in range(len(data)) if data.startswith(signature, i)]
    start = draw(st.sampled_from(starts))
    offset, width = draw(st.sampled_from(fields))
    limit = 256**width - 1
    value = draw(st.sampled_from((0, 1, 8, 99, 0x41, 0xFFFF, limit, limit - 1)) | st.integers(0, limit))
    value = min(value, limit)
    at = start + offset
    return data[:at] + value.to_bytes(width, "little") + data[at + width :]


# -------------------------------------------------------------------------------------------- PNGs


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    chunks, at = [], 8
    while at + 8 <= len(data):
        length = struct.unpack(">I", data[at : at + 4])[0]
        chunks.append((data[at + 4 : at + 8], data[at + 8 : at + 8 + length]))
        at += 12 + length
    return chunks


def png_from_chunks(chunks: list[tuple[bytes, bytes]]) -> bytes:
    out = bytearray(b"\x89PNG\r\n\x1a\n")
    for kind, body in chunks:
        out += struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return bytes(out)


@st.composite
def damaged_png(draw, good: bytes) -> bytes:
    """A good label map with an IHDR field changed, its pixels replaced, a chunk added or dropped (CRCs
    made right, so the damage reaches the decoder), or its bytes damaged (CRCs left wrong)."""
    how = draw(st.sampled_from(("ihdr", "ihdr", "idat", "chunk", "drop", "bytes")))
    if how == "bytes":
        return draw(damaged_bytes(good, 64))
    chunks = png_chunks(good)
    if how == "ihdr":
        width, height, depth, color, compression, filtering, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
        field = draw(st.sampled_from(("width", "height", "depth", "color", "compression", "filtering", "interlace")))
        value = draw(st.sampled_from((0, 1, 2, 3, 4, 6, 8, 16, 63, 65, 255)) | st.integers(0, 2**31 - 1))
        fields = dict(width=width, height=height, depth=depth, color=color, compression=compression,
                      filtering=filtering, interlace=interlace)  # fmt: skip
        fields[field] = value if field in ("width", "height") else value % 256
        chunks[0] = (b"IHDR", struct.pack(">IIBBBBB", *fields.values()))
    elif how == "idat":
        raw = draw(
            st.binary(max_size=5000)
            | st.builds(lambda n, b: bytes([b]) * n, st.integers(0, 20000), st.integers(0, 255))
        )
        body = zlib.compress(raw) if draw(st.booleans()) else raw
        chunks = [(kind, body if kind == b"IDAT" else chunk) for kind, chunk in chunks]
    elif how == "chunk":
        kind = draw(st.sampled_from((b"IDAT", b"IHDR", b"IEND", b"tEXt", b"zTXt", b"PLTE", b"tRNS", b"abcd")))
        chunks.insert(draw(st.integers(0, len(chunks))), (kind, draw(st.binary(max_size=200))))
    else:
        chunks.pop(draw(st.integers(0, len(chunks) - 1)))
    return png_from_chunks(chunks)


# -------------------------------------------------------------------------------------------- JSON

json_leaves = (
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30) | st.sampled_from(NASTY_TEXT)
)  # fmt: skip
json_values = st.recursive(
    json_leaves,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)


@st.composite
def hostile_body(draw, fields: tuple[str, ...]) -> tuple[bytes, str]:
    """(body, content type): an object of the endpoint's own fields with any JSON values, any JSON at
    all, JSON nested deep, numbers JSON has no word for, or bytes that are not JSON or not UTF-8."""
    how = draw(st.sampled_from(("fields", "fields", "fields", "any", "deep", "raw", "words")))
    if how == "fields":
        body = draw(
            st.dictionaries(st.sampled_from(fields) | st.text(max_size=8), json_values, max_size=len(fields) + 1)
        )
        text = json.dumps(body)  # Python writes NaN and Infinity, as some clients do
    elif how == "any":
        text = json.dumps(draw(json_values))
    elif how == "deep":
        depth = draw(st.integers(20, 3000))
        opener, closer = draw(st.sampled_from((("[", "]"), ('{"a":', "}"))))
        text = opener * depth + draw(st.sampled_from(("1", '"x"', "null", ""))) + closer * draw(st.integers(0, depth))
    elif how == "words":
        field = draw(st.sampled_from(fields))
        word = draw(st.sampled_from(("NaN", "Infinity", "-Infinity", "1e999999", "-0", "0x10", "True", "undefined")))
        text = f'{{"{field}": {word}}}'
    else:
        return draw(st.binary(max_size=200)), draw(st.sampled_from(("application/json", "text/plain")))
    others = ("application/json; charset=latin-1", "text/plain", "application/x-www-form-urlencoded",
              "multipart/form-data; boundary=x")  # fmt: skip
    content_type = draw(st.sampled_from(("application/json",) * 6 + others))
    return text.encode("utf-8", "surrogatepass"), content_type
