"""Synthetic phantom generator: determinism, anatomy, truth and the DICOM it writes (no database)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian
from scipy import ndimage

from ildplatform.demo import phantoms
from ildplatform.labels import GGO, RETICULATION

SEED = 11
SLICES = 6


@pytest.fixture(scope="module")
def visits() -> list[phantoms.PhantomSeries]:
    return phantoms.phantom_visits_series(SEED, 0, [0, 1, 2], n_slices=SLICES)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("phantoms") / "set"
    manifest = phantoms.write_phantom_set(out, patients=2, visits=2, seed=SEED, slices=5)
    return out, manifest


def eq1_by_definition(lung: np.ndarray, labels: np.ndarray, pixel_spacing: float, slice_spacing: float) -> dict:
    """Eq. 1 of the paper written out on its own: per-slice areas in mm2 (1 reticulation, 2 GGO, as
    the paper labels them), summed over slices; volumes are areas times the slice spacing."""
    pixel_mm2 = pixel_spacing * pixel_spacing
    lung_mm2 = ret_mm2 = ggo_mm2 = 0.0
    for lung_slice, label_slice in zip(lung, labels, strict=True):
        lung_mm2 += np.count_nonzero(lung_slice) * pixel_mm2
        ret_mm2 += np.count_nonzero((label_slice == 1) & lung_slice) * pixel_mm2
        ggo_mm2 += np.count_nonzero((label_slice == 2) & lung_slice) * pixel_mm2
    return {
        "reticulation_pct": 100 * ret_mm2 / lung_mm2,
        "ggo_pct": 100 * ggo_mm2 / lung_mm2,
        "total_pct": 100 * (ret_mm2 + ggo_mm2) / lung_mm2,
        "lung_volume_ml": lung_mm2 * slice_spacing / 1000,
        "reticulation_ml": ret_mm2 * slice_spacing / 1000,
        "ggo_ml": ggo_mm2 * slice_spacing / 1000,
        "abnormal_ml": (ret_mm2 + ggo_mm2) * slice_spacing / 1000,
    }


def _tree_hashes(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_same_seed_gives_identical_series_and_other_seed_differs():
    first = phantoms.phantom_series(3, 1, 1, n_slices=3)
    again = phantoms.phantom_series(3, 1, 1, n_slices=3)
    other = phantoms.phantom_series(4, 1, 1, n_slices=3)
    assert np.array_equal(first.hu, again.hu)
    assert np.array_equal(first.lung, again.lung)
    assert np.array_equal(first.labels, again.labels)
    assert not np.array_equal(first.hu, other.hu)


def test_visit_generated_alone_equals_same_visit_generated_with_others(visits):
    alone = phantoms.phantom_series(SEED, 0, 2, n_slices=SLICES)
    assert np.array_equal(alone.hu, visits[2].hu)
    assert np.array_equal(alone.labels, visits[2].labels)


def test_same_seed_writes_byte_identical_files(tmp_path):
    phantoms.write_phantom_set(tmp_path / "a", patients=1, visits=2, seed=7, slices=3)
    phantoms.write_phantom_set(tmp_path / "b", patients=1, visits=2, seed=7, slices=3)
    first, second = _tree_hashes(tmp_path / "a"), _tree_hashes(tmp_path / "b")
    assert len(first) == 1 + 2 * (3 + 1)  # manifest + per visit 3 slices and truth.npz
    assert first == second


def test_hu_volume_spans_air_to_bone_with_realistic_tissue(visits):
    series = visits[0]
    assert series.hu.dtype == np.int16
    assert series.hu.shape == (SLICES, 512, 512)
    assert series.hu.min() <= -1000
    assert series.hu.max() >= 1000
    assert abs(float(np.median(series.hu[:, :8, :])) + 1000) < 10  # air above the body
    healthy = series.lung & (series.labels == 0)
    assert -900 < float(np.median(series.hu[healthy])) < -800


def test_pathology_hu_is_ground_glass_and_reticular(visits):
    series = visits[2]
    ggo = series.hu[series.labels == GGO]
    reticulation = series.hu[series.labels == RETICULATION]
    assert ggo.size > 1000 and reticulation.size > 1000
    assert -720 < float(np.median(ggo)) < -300
    # Thin lines of -300..0 HU over a hazy background: the brightest tenth reaches line density.
    assert float(np.percentile(reticulation, 90)) > -450
    assert float(np.median(reticulation)) < -450


def test_labels_only_inside_lung_with_known_values(visits):
    for series in visits:
        assert series.labels.dtype == np.uint8
        assert set(np.unique(series.labels)) <= {0, 1, 2}
        assert not np.any(series.labels[~series.lung])


def test_each_slice_has_two_lungs_apart_from_border_and_each_other(visits):
    series = visits[0]
    for lung in series.lung:
        regions, count = ndimage.label(lung)
        assert count == 2
        assert not lung[:10].any() and not lung[-10:].any() and not lung[:, :10].any() and not lung[:, -10:].any()
        distance_to_first = ndimage.distance_transform_edt(regions != 1, sampling=series.pixel_spacing)
        assert distance_to_first[regions == 2].min() >= 15.0  # mediastinum in mm


def test_body_closes_around_the_lungs(visits):
    # Air connected to the image border must never reach the lungs, or border clearing removes them.
    for hu, lung in zip(visits[2].hu, visits[2].lung, strict=True):
        air, _ = ndimage.label(hu < -320)
        border_labels = np.unique(np.concatenate([air[0], air[-1], air[:, 0], air[:, -1]]))
        outside = np.isin(air, border_labels[border_labels > 0])
        assert not (outside & lung).any()


def test_lungs_are_smaller_at_apex_and_base():
    lung_area = phantoms.phantom_series(SEED, 0, 0, n_slices=9).lung.sum(axis=(1, 2))  # base first
    widest = int(np.argmax(lung_area))
    assert 0 < widest < 8
    assert lung_area[-1] < 0.7 * lung_area[widest]  # apex
    assert lung_area[0] < lung_area[widest]  # base, under the diaphragm domes


def test_pathology_is_posterior_and_basal(visits):
    series = visits[2]
    rows = np.arange(512)[None, :, None]
    abnormal, lung = series.labels > 0, series.lung
    assert (rows * abnormal).sum() / abnormal.sum() > (rows * lung).sum() / lung.sum()
    per_slice = abnormal.sum(axis=(1, 2))  # slice 0 is the base
    assert per_slice[: SLICES // 2].sum() > per_slice[SLICES // 2 :].sum()


def test_involvement_grows_and_earlier_pathology_stays(visits):
    totals = [
        phantoms.involvement_from_truth(s.lung, s.labels, s.pixel_spacing, s.slice_spacing).total_pct for s in visits
    ]
    assert totals[0] > 1.0
    assert totals[0] < totals[1] < totals[2]
    for earlier, later in zip(visits, visits[1:], strict=False):
        assert not np.any((earlier.labels > 0) & (later.labels == 0))


def test_involvement_from_truth_is_eq1_summed_over_slices():
    lung = np.zeros((2, 4, 4), dtype=bool)
    lung[0, :2] = True  # 8 lung pixels
    lung[1] = True  # 16 lung pixels
    labels = np.zeros((2, 4, 4), dtype=np.uint8)
    labels[0, 0, :2] = RETICULATION
    labels[1, 0, :] = GGO
    labels[1, 1, :2] = RETICULATION
    figures = phantoms.involvement_from_truth(lung, labels, pixel_spacing=0.5, slice_spacing=4.0)
    # Summed over slices (4 + 4 of 24), not the mean of the per-slice percentages (2/8 and 6/16).
    assert figures.reticulation_pct == pytest.approx(100 * 4 / 24)
    assert figures.ggo_pct == pytest.approx(100 * 4 / 24)
    assert figures.total_pct == pytest.approx(100 * 8 / 24)
    assert figures.lung_volume_ml == pytest.approx(24 * 0.5 * 0.5 * 4.0 / 1000)
    assert figures.reticulation_ml == pytest.approx(4 * 0.5 * 0.5 * 4.0 / 1000)
    assert figures.abnormal_ml == pytest.approx(8 * 0.5 * 0.5 * 4.0 / 1000)


def test_involvement_of_phantom_truth_equals_eq1_by_definition(visits):
    for series in visits:
        figures = phantoms.involvement_from_truth(
            series.lung, series.labels, series.pixel_spacing, series.slice_spacing
        )
        expected = eq1_by_definition(series.lung, series.labels, series.pixel_spacing, series.slice_spacing)
        assert expected["reticulation_pct"] > 0 and expected["ggo_pct"] > 0
        assert figures.as_dict() == pytest.approx(expected, rel=1e-12)


def test_manifest_involvement_matches_truth_arrays(written):
    out, manifest = written
    assert json.loads((out / phantoms.MANIFEST_NAME).read_text()) == manifest
    assert len(manifest["patients"]) == 2
    for patient in manifest["patients"]:
        assert {"pseudonym", "sex", "birth_year", "visits"} <= set(patient)
        for visit in patient["visits"]:
            with np.load(out / visit["folder"] / phantoms.TRUTH_NAME) as truth:
                lung, labels = truth["lung"], truth["labels"]
            assert lung.dtype == bool and labels.dtype == np.uint8
            assert lung.shape == labels.shape == (visit["slice_count"], 512, 512)
            figures = visit["involvement"]
            counts = (int(lung.sum()), int((labels == 1).sum()), int((labels == 2).sum()))
            assert (figures["lung_pixels"], figures["reticulation_pixels"], figures["ggo_pixels"]) == counts
            expected = eq1_by_definition(lung, labels, visit["pixel_spacing_mm"], visit["slice_spacing_mm"])
            for name, value in expected.items():
                assert figures[name] == pytest.approx(value, abs=1e-6), name  # rounded to 6 decimals


def test_dicom_read_back_matches_hu_after_sorting_by_position(written):
    out, manifest = written
    patient, visit = manifest["patients"][1], manifest["patients"][1]["visits"][1]
    files = sorted((out / visit["folder"]).glob("*.dcm"))
    datasets = [pydicom.dcmread(path) for path in files]
    # Names must not give the order away: the importer has to sort by geometry.
    assert [ds.InstanceNumber for ds in datasets] != sorted(ds.InstanceNumber for ds in datasets)
    datasets.sort(key=lambda ds: float(ds.ImagePositionPatient[2]))
    assert [ds.InstanceNumber for ds in datasets] == list(range(1, len(datasets) + 1))
    volume = np.stack([ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept) for ds in datasets])
    expected = phantoms.phantom_series(SEED, 1, 1, n_slices=5)
    assert np.array_equal(volume, expected.hu)
    assert float(datasets[0].PixelSpacing[0]) == visit["pixel_spacing_mm"] == expected.pixel_spacing
    z = [float(ds.ImagePositionPatient[2]) for ds in datasets]
    assert np.allclose(np.diff(z), visit["slice_spacing_mm"])
    assert patient["pseudonym"] not in {str(ds.PatientName) for ds in datasets}


def test_dicom_headers_are_ct_int16_with_phi_like_tags(written):
    out, manifest = written
    visit = manifest["patients"][0]["visits"][0]
    datasets = [pydicom.dcmread(path) for path in (out / visit["folder"]).glob("*.dcm")]
    ds = datasets[0]
    assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert ds.SOPClassUID == CTImageStorage
    assert (ds.Modality, ds.Manufacturer, ds.ConvolutionKernel) == ("CT", "ILD-PHANTOM", "STANDARD")
    assert (ds.Rows, ds.Columns, ds.BitsAllocated, ds.PixelRepresentation) == (512, 512, 16, 1)
    assert float(ds.RescaleSlope) == 1 and float(ds.RescaleIntercept) == phantoms.RESCALE_INTERCEPT
    assert [float(v) for v in ds.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
    assert float(ds.SliceThickness) == 5.0
    assert 0.66 <= float(ds.PixelSpacing[0]) <= 0.78
    assert str(ds.PatientName).startswith("PHANTOM^")
    assert ds.PatientID == f"PH{SEED}-001"
    for keyword in (
        "PatientBirthDate",
        "PatientSex",
        "InstitutionName",
        "ReferringPhysicianName",
        "AccessionNumber",
        "ImageComments",
    ):
        assert str(ds.get(keyword, "")).strip(), keyword
    assert {d.StudyInstanceUID for d in datasets} == {visit["study_instance_uid"]}
    assert {d.SeriesInstanceUID for d in datasets} == {visit["series_instance_uid"]}
    assert len({d.SOPInstanceUID for d in datasets}) == len(datasets)
    assert visit["study_instance_uid"] == phantoms.phantom_visit(SEED, 0, 0).study_instance_uid
    other_patient = phantoms.phantom_visit(SEED, 1, 0)
    assert other_patient.study_instance_uid != visit["study_instance_uid"]


def test_visits_are_6_to_14_months_apart():
    dates = [phantoms.phantom_visit(SEED, 2, v).date for v in range(5)]
    gaps = [(later - earlier).days for earlier, later in zip(dates, dates[1:], strict=False)]
    assert all(183 <= gap <= 426 for gap in gaps)
    assert dt.date(2016, 12, 31) < dates[0] < dt.date(2021, 1, 1)


def test_patients_differ_in_pixel_spacing_within_scanner_range():
    spacings = {phantoms.phantom_patient(SEED, p).pixel_spacing for p in range(8)}
    assert len(spacings) > 1
    assert all(0.66 <= spacing <= 0.78 for spacing in spacings)
    names = [phantoms.phantom_patient(SEED, p).patient_name for p in range(8)]
    assert len(set(names)) == len(names)


def test_write_refuses_a_non_empty_folder(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "stale.dcm").write_bytes(b"old")
    with pytest.raises(FileExistsError):
        phantoms.write_phantom_set(out, patients=1, visits=1, seed=0, slices=1)
    assert [path.name for path in out.iterdir()] == ["stale.dcm"]
