"""The finalised consensus as a training source for the U-Net (registered from AppConfig.ready).

Each finalised review gives its series: the patient's pseudonym (folds group by it), the HU volume, the
consensus label maps and the series' stored lung masks, the same region inference masks its inputs
with. Series whose lung masks are not (all) stored yet are left out, and say so in the log.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from ildplatform.selectors import series_hu_volume
from inference.services import series_lung_volume
from inference.training_data import SourceSeries

from .models import Review
from .selectors import consensus_labels_volume

logger = logging.getLogger(__name__)


def consensus_source() -> Iterator[SourceSeries]:
    reviews = Review.objects.filter(finalized_at__isnull=False).select_related("series__visit__patient")
    for review in reviews.order_by("series_id"):
        series = review.series
        lung = series_lung_volume(series)
        if lung is None:
            logger.warning("consensus of series %s left out of training: its lung masks are not stored", series.pk)
            continue
        hu = series_hu_volume(series)
        yield series.visit.patient.pseudonym, f"series-{series.pk}", hu, consensus_labels_volume(review), lung
