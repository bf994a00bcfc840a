"""Lung masks on the real RICORD series: volume and QC are reported, dense pathology is not lost."""

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage.morphology import convex_hull_image

from ildplatform import jobs, services
from ildplatform.dicom_import import read_sources
from ildplatform.models import Job, Series
from ildplatform.selectors import series_hu_volume
from inference import selectors
from inference import services as inference_services
from inference.lungmask import dense_pathology_candidates


def enclosed_by_lung(lung: np.ndarray) -> np.ndarray:
    """Inside the convex outline of the left or the right half of the lung mask."""
    enclosed = np.zeros_like(lung)
    middle = lung.shape[1] // 2
    for half in (np.s_[:, :middle], np.s_[:, middle:]):
        if lung[half].sum() > 500:
            enclosed[half] = convex_hull_image(lung[half])
    return enclosed


@pytest.mark.django_db
def test_ricord_reports_lung_volume_and_qc_and_keeps_the_dense_abnormality(shared_data, settings):
    settings.LUNG_METHOD = "mader2d"  # the paper's 2-D mask, which drops dense pathology
    sources, _ = read_sources([shared_data / "ricord-1a-chest-series"], services.archive_limits())
    report = services.series_import(sources=sources)
    series = Series.objects.get(pk=report.series[0].series_id)
    job = Job.objects.get(series=series, kind="lung_masks")
    jobs.job_run(job_id=job.pk)  # the worker's code, called in-process
    job.refresh_from_db()
    assert job.state == Job.State.DONE, job.error

    summary = selectors.series_lung_summary(series_id=series.pk)
    assert summary["complete"]
    assert 2500 < summary["lung_volume_ml"] < 9000
    assert 0.005 < summary["dense_missed_fraction"] < 0.5

    volume = series_hu_volume(series)
    lungs = inference_services.series_lung_volume(series)
    # The slice where the mask left out the most dense lung, found by the QC counts...
    z = series.slices.order_by("-lung_mask__dense_missed_pixels").first().z_index
    # ...and the lesion there by an independent definition of "enclosed by lung".
    dense = (volume[z] > -750) & (volume[z] < -100) & enclosed_by_lung(lungs[z]) & ~lungs[z]
    components, _ = ndi.label(ndi.binary_opening(dense, structure=np.ones((3, 3))))
    lesion = components == np.argmax(np.bincount(components.ravel())[1:]) + 1  # the largest dense blob
    assert lesion.sum() > 500, "the series' dense consolidation must be there for this test"
    assert not (lesion & lungs[z]).any(), "the raw mask drops it (the reason for the guard)"

    # A reader marks the lesion as GGO: involvement must count it, in numerator and denominator.
    labels = np.zeros(volume.shape, dtype=np.uint8)
    labels[z][lesion] = 2
    row = inference_services.involvement_store(series=series, source="reader_1", labels=labels)
    voxel_ml = series.pixel_spacing_row * series.pixel_spacing_column * series.slice_spacing / 1000
    assert row.ggo_ml >= 0.95 * lesion.sum() * voxel_ml  # all but specks cut off from the lung
    assert row.lung_volume_ml == pytest.approx(summary["lung_volume_ml"] + row.ggo_ml, rel=1e-6)
    assert row.qc_missed_fraction == pytest.approx(1.0)
    assert dense_pathology_candidates(volume[z], lungs[z])[lesion].mean() > 0.9
