"""The axial viewer loads its slices through the platform's DICOMweb (WADO-RS frames, metadata from the
series' metadata resource), in the platform's z order, and shows the stored HU. Expected values come from
the stored DICOM files read with pydicom, never from the viewer."""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import pydicom
import pytest

from ildplatform.models import Slice

from . import test_reader_workspace as workspace
from .helpers import AXIAL, go_to_slice, open_reading, probe_at, probe_pixels, stored_hu

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]

reading = workspace.reading  # reader 1's reading of a 4-slice phantom series
PASSWORD = workspace.PASSWORD


def stored_slices(series) -> list[pydicom.Dataset]:
    """The series' stored files in the platform's z order, read from storage (not through any API)."""
    datasets = []
    for found in Slice.objects.filter(series=series).order_by("z_index"):
        with found.dicom_file.open("rb") as handle:
            datasets.append(pydicom.dcmread(handle))
    return datasets


def test_slices_come_as_wado_rs_frames_of_each_instance_and_never_as_slice_files(reading, open_session, live_server):
    page = open_session("r1", PASSWORD)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(urlsplit(request.url).path))
    open_reading(page, live_server, reading)
    page.wait_for_selector("[data-testid=viewport][data-prefetched='1']")
    series = reading.review.series
    base = f"/dicomweb/studies/{series.study_uid}/series/{series.series_uid}"
    sops = Slice.objects.filter(series=series).order_by("z_index").values_list("sop_uid", flat=True)
    frames = sorted(path for path in requested if "/frames/" in path)
    # Every slice once (the first one's early load and the prefetch share Cornerstone's cache).
    assert frames == sorted(f"{base}/instances/{sop}/frames/1" for sop in sops)
    assert requested.count(f"{base}/metadata") == 1
    assert not [path for path in requested if re.search(r"/slices/\d+/dicom$", path)]


def test_probe_and_position_are_those_of_the_stored_slice_z_whatever_order_the_metadata_lists(
    reading, open_session, live_server
):
    page = open_session("r1", PASSWORD)
    series = reading.review.series

    def reversed_metadata(route):
        # The same datasets, last slice first: the viewer must pair them with slices by SOP Instance UID.
        response = route.fetch()
        route.fulfill(response=response, body=json.dumps(list(reversed(response.json()))))

    page.route(f"**/dicomweb/studies/{series.study_uid}/series/{series.series_uid}/metadata", reversed_metadata)
    open_reading(page, live_server, reading)
    stored = stored_slices(series)
    z = 1
    go_to_slice(page, z)
    hu = stored_hu(stored[z])
    others = [stored_hu(dataset) for other, dataset in enumerate(stored) if other != z]
    for column, row in probe_pixels(hu, others):
        assert probe_at(page, column, row) == f"({column}, {row}) {round(float(hu[row, column]))} HU"
    # The position on the info line is slice z's, from its own instance's metadata.
    info = page.locator(AXIAL).locator(".viewport-info").inner_text()
    match = re.search(r"z ([−-]?\d+(?:\.\d+)?) mm", info)
    assert match, info
    assert float(match.group(1).replace("−", "-")) == pytest.approx(float(stored[z].ImagePositionPatient[2]), abs=0.006)
