"""DICOM SEG from and to label volumes, with highdicom. No Django here.

A label volume is uint8 (z, rows, columns) in the series' z order; each label value is one segment,
identified on the wire by its coded property type (so a SEG from another tool, numbered its own way,
maps by meaning, not by number).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import highdicom as hd
import numpy as np
import pydicom
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code
from pydicom.uid import generate_uid

SEG_SOP_CLASS_UID = "1.2.840.10008.5.1.4.1.1.66.4"


@dataclass(frozen=True)
class SegmentKind:
    label: int  # the value in the platform's label maps
    name: str
    category: Code
    property_type: Code


MORPHOLOGICALLY_ABNORMAL = Code("49755003", "SCT", "Morphologically Abnormal Structure")
ANATOMICAL_STRUCTURE = codes.SCT.AnatomicalStructure
PATTERN_SEGMENTS = (
    SegmentKind(1, "Reticulation", MORPHOLOGICALLY_ABNORMAL, codes.DCM.ReticularPattern),
    SegmentKind(2, "Ground-glass opacity", MORPHOLOGICALLY_ABNORMAL, codes.DCM.GroundGlassOpacity),
)
LUNG_SEGMENTS = (
    SegmentKind(1, "Right lung", ANATOMICAL_STRUCTURE, Code("3341006", "SCT", "Right lung")),
    SegmentKind(2, "Left lung", ANATOMICAL_STRUCTURE, Code("44029006", "SCT", "Left lung")),
)


@dataclass(frozen=True)
class Algorithm:
    """Who made the labels: None for a person (MANUAL), else the program (AUTOMATIC)."""

    name: str
    version: str
    family: Code = codes.cid7162.ArtificialIntelligence


@dataclass(frozen=True)
class SegIdentity:
    series_uid: str
    sop_uid: str
    series_number: int
    series_description: str
    manufacturer: str = "ildplatform"
    model_name: str = "ildplatform"
    software_version: str = "0.1.0"


class SegError(ValueError):
    """A SEG that does not fit the series or the platform's segments; the message says why."""


def segmentation(
    source_headers: Sequence[pydicom.Dataset],
    labels: np.ndarray,
    kinds: Sequence[SegmentKind],
    identity: SegIdentity,
    algorithm: Algorithm | None,
) -> hd.seg.Segmentation:
    """One BINARY SEG with a segment per kind, referencing the source slices (z order, headers only)."""
    if labels.shape[0] != len(source_headers):
        raise SegError(f"{labels.shape[0]} label slices for {len(source_headers)} source slices")
    manual, automatic = hd.seg.SegmentAlgorithmTypeValues.MANUAL, hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC
    identification = (
        None
        if algorithm is None
        else hd.AlgorithmIdentificationSequence(name=algorithm.name, version=algorithm.version, family=algorithm.family)
    )
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=number,
            segment_label=kind.name,
            segmented_property_category=kind.category,
            segmented_property_type=kind.property_type,
            algorithm_type=manual if algorithm is None else automatic,
            algorithm_identification=identification,
        )
        for number, kind in enumerate(kinds, start=1)
    ]
    # Segment n holds label kinds[n-1].label: a label map renumbered to segment numbers.
    segment_of_label = np.zeros(256, dtype=np.uint8)
    for number, kind in enumerate(kinds, start=1):
        segment_of_label[kind.label] = number
    sources = [_completed_source(header, str(header.get("SeriesInstanceUID", ""))) for header in source_headers]
    try:
        return _segmentation(sources, segment_of_label[labels], descriptions, identity)
    except ValueError as error:  # highdicom's word on a source it cannot reference
        raise SegError(f"a SEG cannot be made of this series: {error}") from None


def _segmentation(sources, pixel_array, descriptions, identity: SegIdentity) -> hd.seg.Segmentation:
    return hd.seg.Segmentation(
        source_images=sources,
        pixel_array=pixel_array,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=identity.series_uid,
        series_number=identity.series_number,
        sop_instance_uid=identity.sop_uid,
        instance_number=1,
        manufacturer=identity.manufacturer,
        manufacturer_model_name=identity.model_name,
        software_versions=identity.software_version,
        device_serial_number="1",
        series_description=identity.series_description[:64],
        omit_empty_frames=True,
    )


# Patient and study attributes a SEG copies from its source (type 2: present, possibly empty); a stored
# slice without them (a de-identified or synthetic one) gets them empty on the copy the SEG is made from.
TYPE_2_SOURCE_ATTRIBUTES = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime", "StudyID",
    "AccessionNumber", "ReferringPhysicianName",
)  # fmt: skip


def _completed_source(header: pydicom.Dataset, series_uid: str) -> pydicom.Dataset:
    """The header with what a SEG needs of it: empty type 2 attributes, and a Frame of Reference UID where
    the file has none (CT requires one, but files without it exist): derived from the series UID, so every
    slice, and every SEG of the series, names the same one."""
    missing = [keyword for keyword in TYPE_2_SOURCE_ATTRIBUTES if keyword not in header]
    if not missing and "FrameOfReferenceUID" in header:
        return header
    completed = copy.copy(header)
    for keyword in missing:
        setattr(completed, keyword, "")
    if "FrameOfReferenceUID" not in completed:
        completed.FrameOfReferenceUID = generate_uid(entropy_srcs=[series_uid, "frame of reference"])
    return completed


@dataclass(frozen=True)
class ReadSeg:
    """What a stored SEG says: its source slices, who made it and its labels in the platform's values."""

    referenced_series_uid: str
    labels: np.ndarray  # uint8 (z, rows, columns) in the order of the source UIDs asked for
    algorithm: Algorithm | None  # None: MANUAL


def read_segmentation(
    dataset: pydicom.Dataset, source_sop_uids: Sequence[str], shape: tuple[int, int], kinds: Sequence[SegmentKind]
) -> ReadSeg:
    """The labels of a SEG over the given source slices (z order), segments matched to kinds by property type."""
    if str(dataset.get("SOPClassUID", "")) != SEG_SOP_CLASS_UID:
        raise SegError("not a DICOM Segmentation (SOP Class UID 1.2.840.10008.5.1.4.1.1.66.4)")
    try:
        seg = hd.seg.Segmentation.from_dataset(dataset, copy=False)
    except Exception as error:  # highdicom raises several kinds on a malformed SEG
        raise SegError(f"not a valid SEG ({type(error).__name__}: {str(error)[:200]})") from None
    if (int(seg.Rows), int(seg.Columns)) != tuple(shape):
        raise SegError(f"the SEG is {seg.Columns}x{seg.Rows} pixels, the series {shape[1]}x{shape[0]}")
    referenced = [uid for _, _, uid in seg.get_source_image_uids()]
    series_uids = {series_uid for _, series_uid, _ in seg.get_source_image_uids()}
    unknown = set(referenced) - set(source_sop_uids)
    if unknown:
        raise SegError(f"the SEG references {len(unknown)} instance(s) that are not slices of the series, "
                       f"e.g. {sorted(unknown)[0]}")  # fmt: skip
    label_of_segment = {}
    algorithms = set()
    for number in seg.segment_numbers:
        description = seg.get_segment_description(number)
        matching = [k for k in kinds if _same_code(description.segmented_property_type, k.property_type)]
        if not matching:
            meaning = description.segmented_property_type.meaning
            raise SegError(f"segment {number} ({meaning!r}) is none of: {', '.join(k.name for k in kinds)}")
        label_of_segment[number] = matching[0].label
        algorithms.add(_algorithm_of(description))
    if len(algorithms) != 1:
        raise SegError("the segments disagree on who made them (MANUAL and AUTOMATIC, or two algorithms)")
    labels = np.zeros((len(source_sop_uids), *shape), dtype=np.uint8)
    if referenced:
        wanted = [uid for uid in source_sop_uids if uid in set(referenced)]
        try:
            pixels = seg.get_pixels_by_source_instance(
                source_sop_instance_uids=wanted, segment_numbers=list(label_of_segment), combine_segments=False,
                ignore_spatial_locations=True,
            )  # fmt: skip
        except Exception as error:
            raise SegError(f"the SEG's frames cannot be read ({type(error).__name__}: {str(error)[:200]})") from None
        position = {uid: z for z, uid in enumerate(source_sop_uids)}
        for row, uid in enumerate(wanted):
            for channel, number in enumerate(label_of_segment):
                marked = pixels[row, :, :, channel] > 0
                if np.any(marked & (labels[position[uid]] > 0)):
                    raise SegError(f"segments overlap on the slice of instance {uid}: a pixel has one label")
                labels[position[uid]][marked] = label_of_segment[number]
    return ReadSeg(next(iter(series_uids)) if len(series_uids) == 1 else "", labels, algorithms.pop())


def _same_code(a, b: Code) -> bool:
    return str(a.value) == b.value and str(a.scheme_designator) == b.scheme_designator


def _algorithm_of(description) -> Algorithm | None:
    if description.algorithm_type == hd.seg.SegmentAlgorithmTypeValues.MANUAL:
        return None
    identification = description.algorithm_identification
    if identification is None:  # a tool that names itself only in SegmentAlgorithmName
        return Algorithm(str(getattr(description, "SegmentAlgorithmName", "")), "")
    item = identification[0]
    return Algorithm(str(item.AlgorithmName), str(item.AlgorithmVersion))
