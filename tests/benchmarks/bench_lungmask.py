"""Lung masking speed: scikit-image reference vs production, on the RICORD series, in one run.

    python tests/benchmarks/bench_lungmask.py [SERIES_FOLDER]

Both versions run on every slice, interleaved slice by slice so that both see the same machine load;
prints ms per slice for each, the speed-up and whether every mask is identical. Exits 1 if any mask
differs, 0 otherwise (also when the data is absent: the benchmark is then skipped with a message).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from inference.lungmask import lung_mask, lung_mask_reference, morphology_radii_px  # noqa: E402

SHARED_DATA = Path(os.environ.get("ILD_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
DEFAULT_SERIES = SHARED_DATA / "ricord-1a-chest-series"


def load_series(folder: Path) -> tuple[np.ndarray, tuple[float, float]]:
    """HU volume (z, y, x) in z order and the in-plane pixel spacing of a one-series DICOM folder."""
    import pydicom

    datasets = [pydicom.dcmread(path) for path in sorted(folder.glob("*.dcm"))]
    datasets.sort(key=lambda ds: float(ds.ImagePositionPatient[2]))
    volume = np.stack([ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept) for ds in datasets]).astype(
        np.int16
    )
    spacing = tuple(float(v) for v in datasets[0].PixelSpacing)
    return volume, (spacing[0], spacing[1])


def main(argv: list[str]) -> int:
    folder = Path(argv[1]) if len(argv) > 1 else DEFAULT_SERIES
    if not folder.is_dir() or not any(folder.glob("*.dcm")):
        print(f"SKIPPED: no DICOM series at {folder}")
        print("(CI has it at ../shared/data; set ILD_SHARED_DATA or pass the series folder)")
        return 0
    volume, spacing = load_series(folder)
    print(f"{folder.name}: {volume.shape[0]} slices of {volume.shape[1]}x{volume.shape[2]}, pixel spacing {spacing} mm")
    print(f"radii (erosion, closing): {morphology_radii_px(spacing)} px")

    reference_s = production_s = 0.0
    differing = []
    for index, slice_hu in enumerate(volume):
        start = time.perf_counter()
        expected = lung_mask_reference(slice_hu, spacing)
        middle = time.perf_counter()
        actual = lung_mask(slice_hu, spacing)
        end = time.perf_counter()
        reference_s += middle - start
        production_s += end - middle
        if not np.array_equal(expected, actual):
            differing.append(index)

    n_slices = volume.shape[0]
    print(f"reference : {1000 * reference_s / n_slices:7.2f} ms/slice")
    print(f"production: {1000 * production_s / n_slices:7.2f} ms/slice")
    print(f"speed-up  : {reference_s / production_s:7.2f}x")
    if differing:
        print(f"IDENTICAL : no, {len(differing)} of {n_slices} slices differ (first: {differing[:10]})")
        return 1
    print(f"IDENTICAL : yes, all {n_slices} masks")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
