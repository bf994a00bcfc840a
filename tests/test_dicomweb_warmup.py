"""A series' WADO-RS metadata is built by a worker after its import (a real Celery worker on a real Redis),
so that the first viewer to open the series does not wait for every stored file to be read."""

from __future__ import annotations

import json
import time

import pydicom
from django.core.files.storage import default_storage

from ildplatform import services
from ildplatform.dicom_import import SourceFile
from ildplatform.models import Series

from .dicom_factory import ct_series, to_bytes


def test_the_metadata_is_waiting_when_the_first_viewer_asks(live_services):
    live_services.start_worker()
    sources = [SourceFile(f"s{i}.dcm", to_bytes(d)) for i, d in enumerate(ct_series(5, seed="warm"))]
    series = Series.objects.get(pk=services.series_import(sources=sources).series[0].series_id)
    name = f"dicomweb/metadata/{series.series_uid}.json"
    deadline = time.monotonic() + 60
    while not default_storage.exists(name) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert default_storage.exists(name), live_services.worker_logs()
    with default_storage.open(name) as handle:
        built = json.load(handle)
    slices = series.slices.order_by("z_index")
    stored = [pydicom.dcmread(found.dicom_file.path, stop_before_pixels=True) for found in slices]
    assert [instance["00080018"]["Value"][0] for instance in built] == [str(d.SOPInstanceUID) for d in stored]
    assert [instance["00200032"]["Value"] for instance in built] == [
        [float(v) for v in d.ImagePositionPatient] for d in stored
    ]
