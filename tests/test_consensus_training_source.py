"""The finalised consensus as a training source: what the annotations app hands the trainer."""

from __future__ import annotations

import numpy as np
import pytest

from annotations.models import ConsensusMask
from ildplatform import labelmaps
from ildplatform.selectors import series_hu_volume
from inference import preprocessing, training_data
from inference.models import LungMask

from .review_fixtures import SIZE, build_cast


def test_consensus_source_gives_each_finalised_series_with_its_lung_masks(db):
    cast = build_cast("finalised")
    source = training_data.training_source("consensus")
    assert "stored lung masks" in source.lung_method
    [(patient, reference, hu, labels, lung)] = list(source())
    assert patient == cast.series.visit.patient.pseudonym and reference == f"series-{cast.series.pk}"
    np.testing.assert_array_equal(hu, series_hu_volume(cast.series))
    expected = np.zeros((cast.series.slice_count, SIZE, SIZE), np.uint8)
    for mask in ConsensusMask.objects.filter(review=cast.review).select_related("slice"):
        expected[mask.slice.z_index] = labelmaps.decode_png(bytes(mask.labels_png))
    np.testing.assert_array_equal(labels, expected)
    assert labels.any(), "the finalised consensus has marks"
    stored = {m.slice.z_index: labelmaps.decode_png(bytes(m.mask_png)) > 0 for m in LungMask.objects.all()}
    np.testing.assert_array_equal(lung, np.stack([stored[z] for z in range(cast.series.slice_count)]))

    slices = training_data.training_slices(source(), "ggo")
    marked = [z for z in range(len(labels)) if labels[z].any()]
    assert slices.references == tuple(f"series-{cast.series.pk}/{z}" for z in marked)
    assert set(slices.patients) == {patient}
    np.testing.assert_array_equal(slices.images, preprocessing.preprocess(hu[marked], lung=lung[marked]))

    # A series whose lung masks are not stored is left out rather than trained unmasked.
    LungMask.objects.filter(slice__z_index=0).delete()
    with pytest.raises(ValueError, match="no slice with abnormality"):
        training_data.training_slices(source(), "ggo")
