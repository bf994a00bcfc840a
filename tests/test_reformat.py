"""Coronal and sagittal reformats: against the stored DICOM files, stacked here with pydicom and ordered by
ImagePositionPatient (head on top), and the API's refusals."""

import io

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from ildplatform.models import Series

from .dicom_factory import ct_slice, to_bytes

ROWS, COLUMNS, SLICES = 20, 17, 7  # all different, so a transposed or mis-ordered plane cannot pass


def upload_series(client, *, orientation: list[int]) -> Series:
    rng = np.random.default_rng(5)
    series_uid, study_uid = generate_uid(), generate_uid()
    files = []
    for i in range(SLICES):
        dataset = ct_slice(series_uid=series_uid, study_uid=study_uid, z=-3.0 * i, instance=i + 1, rows=ROWS,
                           columns=COLUMNS, hu=rng.integers(-1000, 400, size=(ROWS, COLUMNS)))  # fmt: skip
        dataset.ImageOrientationPatient = orientation
        upload = io.BytesIO(to_bytes(dataset))
        upload.name = f"slice{i}.dcm"
        files.append(upload)
    response = client.post("/api/v1/imports/", {"files": files[::-1]}, format="multipart")
    assert response.status_code == 201, response.content
    return Series.objects.get()


def head_first_volume(series: Series) -> np.ndarray:
    """The stored slices in HU, highest ImagePositionPatient z first."""
    datasets = [pydicom.dcmread(s.dicom_file.path) for s in series.slices.all()]
    datasets.sort(key=lambda d: -float(d.ImagePositionPatient[2]))
    return np.stack([d.pixel_array * float(d.RescaleSlope) + float(d.RescaleIntercept) for d in datasets])


def plane(client, series_id: int, name: str, index: int) -> np.ndarray:
    response = client.get(f"/api/v1/series/{series_id}/reformat/{name}/{index}")
    assert response.status_code == 200, response.content
    shape = int(response["X-Rows"]), int(response["X-Columns"])
    return np.frombuffer(response.content, dtype="<i2").reshape(shape)


@pytest.mark.parametrize("orientation", [[1, 0, 0, 0, 1, 0], [-1, 0, 0, 0, 1, 0]], ids=["head-normal", "feet-normal"])
def test_planes_equal_the_stored_slices_head_on_top(admin_client, orientation):
    series = upload_series(admin_client, orientation=orientation)
    expected = head_first_volume(series)
    for row in (0, 5, ROWS - 1):
        np.testing.assert_array_equal(plane(admin_client, series.pk, "coronal", row), expected[:, row, :])
    for column in (0, 3, COLUMNS - 1):
        np.testing.assert_array_equal(plane(admin_client, series.pk, "sagittal", column), expected[:, :, column])

    layout = admin_client.get(f"/api/v1/series/{series.pk}/reformat/").json()
    headers = [pydicom.dcmread(s.dicom_file.path) for s in series.slices.order_by("z_index")]
    heights = [float(h.ImagePositionPatient[2]) for h in headers]
    assert [heights[z] for z in layout["slice_order"]] == sorted(heights, reverse=True)
    highest = max(headers, key=lambda h: float(h.ImagePositionPatient[2]))
    assert layout["axial"]["top_position"] == [float(v) for v in highest.ImagePositionPatient]
    assert layout["axial"]["orientation"] == [float(v) for v in orientation]
    assert layout["planes"]["coronal"]["count"] == ROWS and layout["planes"]["coronal"]["width"] == COLUMNS
    assert layout["planes"]["sagittal"]["count"] == COLUMNS and layout["planes"]["sagittal"]["width"] == ROWS
    assert layout["row_spacing"] == pytest.approx(3.0)


@pytest.mark.parametrize(
    ("path", "named"),
    [("axial/0", "'axial'"), ("coronal/20", "20 coronal planes"), ("sagittal/17", "17 sagittal planes")],
)
def test_unknown_plane_or_index_is_a_json_404(admin_client, path, named):
    series = upload_series(admin_client, orientation=[1, 0, 0, 0, 1, 0])
    response = admin_client.get(f"/api/v1/series/{series.pk}/reformat/{path}")
    assert response.status_code == 404 and named in response.json()["detail"]


def test_unknown_series_is_a_json_404(admin_client, db):
    for path in ("reformat/", "reformat/coronal/0"):
        response = admin_client.get(f"/api/v1/series/999/{path}")
        assert response.status_code == 404 and "999" in response.json()["detail"]
