"""Stored disagreement maps said 3 wherever both readers marked a pixel, agreeing or not. They are
recomputed from the readers' saved masks with the values told apart: 3 both but different patterns,
4 both reticulation, 5 both GGO (1 and 2, one reader only, are unchanged)."""

import io

import numpy as np
from django.db import migrations
from PIL import Image


def _decoded(png: bytes | None, shape: tuple[int, int]) -> np.ndarray:
    if png is None:
        return np.zeros(shape, np.uint8)
    return np.asarray(Image.open(io.BytesIO(bytes(png))), dtype=np.uint8)


def _encoded(labels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(labels.astype(np.uint8), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def _map(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    # Frozen here as of this migration (the app's `agreement.disagreement_map` may change later).
    result = np.zeros(first.shape, np.uint8)
    result[(first > 0) & (second == 0)] = 1
    result[(second > 0) & (first == 0)] = 2
    result[(first > 0) & (second > 0) & (first != second)] = 3
    result[(first == 1) & (second == 1)] = 4
    result[(first == 2) & (second == 2)] = 5
    return result


def recompute(apps, schema_editor):
    SliceAgreement = apps.get_model("annotations", "SliceAgreement")
    MaskVersion = apps.get_model("annotations", "MaskVersion")
    for row in SliceAgreement.objects.select_related("review__series", "slice").iterator():
        shape = (row.review.series.rows, row.review.series.columns)
        labels = []
        for role in ("reader_1", "reader_2"):
            latest = (
                MaskVersion.objects.filter(reading__review=row.review, reading__role=role, slice=row.slice)
                .order_by("-version")
                .values_list("labels_png", flat=True)
                .first()
            )
            labels.append(_decoded(latest, shape))
        row.disagreement_png = _encoded(_map(*labels))
        row.save(update_fields=["disagreement_png"])


class Migration(migrations.Migration):
    dependencies = [("annotations", "0002_slice_agreement_ranked_by_selector")]

    operations = [migrations.RunPython(recompute, migrations.RunPython.noop)]
