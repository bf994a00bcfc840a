"""Lung masking speed on the RICORD series, in one run: Mader's 2-D algorithm (scikit-image reference
against production) and the 3-D lung3d method beside it.

    python tests/benchmarks/bench_lungmask.py [SERIES_FOLDER] [--rounds N]

The two Mader versions run on every slice, interleaved slice by slice so that both see the same
machine load; prints ms per slice for each, the speed-up and whether every mask is identical. Then
lung3d and Mader's production version run on the whole series, alternating for N rounds (default 3):
seconds per series (median), their ratio (the target is lung3d <= 1.5x mader2d) and lung3d's ratio to
Mader's bare per-slice kernel; then each method's left and right volumes and QC figures (dense lung
enclosed by the lung but left out of it, non-lung air inside it). Exits 1 if any Mader mask differs,
0 otherwise (also when the data is absent: the benchmark is then skipped).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from inference import lungs  # noqa: E402
from inference.lungmask import (  # noqa: E402
    dense_lung_pixels,
    dense_pathology_candidates,
    lung_mask,
    lung_mask_reference,
    morphology_radii_px,
)

SHARED_DATA = Path(os.environ.get("ILD_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
DEFAULT_SERIES = SHARED_DATA / "ricord-1a-chest-series"


def load_series(folder: Path) -> tuple[np.ndarray, tuple[float, float], float]:
    """HU volume (z, y, x) in z order, the in-plane pixel spacing and the slice step of a DICOM folder."""
    import pydicom

    datasets = [pydicom.dcmread(path) for path in sorted(folder.glob("*.dcm"))]
    datasets.sort(key=lambda ds: float(ds.ImagePositionPatient[2]))
    volume = np.stack([ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept) for ds in datasets]).astype(
        np.int16
    )
    spacing = tuple(float(v) for v in datasets[0].PixelSpacing)
    step = float(np.median(np.diff([float(ds.ImagePositionPatient[2]) for ds in datasets])))
    return volume, (spacing[0], spacing[1]), step


def compare_methods(
    volume: np.ndarray, spacing: tuple[float, float], step: float, rounds: int, mader_kernel_s: float
) -> None:
    times: dict[str, list[float]] = {lungs.LUNG3D: [], lungs.MADER2D: []}
    labels_of: dict[str, np.ndarray] = {}
    for _ in range(rounds):
        for method in times:
            start = time.perf_counter()
            labels_of[method] = lungs.lung_labels(volume, spacing, step, method)
            times[method].append(time.perf_counter() - start)
    medians = {method: float(np.median(seconds)) for method, seconds in times.items()}
    print(f"lung3d    : {medians[lungs.LUNG3D]:7.2f} s/series (median of {rounds})")
    print(f"mader2d   : {medians[lungs.MADER2D]:7.2f} s/series (production lung_labels, median of {rounds})")
    print(f"ratio     : {medians[lungs.LUNG3D] / medians[lungs.MADER2D]:7.2f}x (target <= 1.5x)")
    print(f"ratio     : {medians[lungs.LUNG3D] / mader_kernel_s:7.2f}x to Mader's bare per-slice kernel above")
    voxel_ml = spacing[0] * spacing[1] * step / 1000
    for method, labels in labels_of.items():
        region = labels > 0
        right, left = ((labels == side).sum() * voxel_ml for side in (lungs.RIGHT_LUNG, lungs.LEFT_LUNG))
        inside = missed = 0
        for slice_hu, lung in zip(volume, region, strict=True):
            inside += dense_lung_pixels(slice_hu, lung)
            missed += int(dense_pathology_candidates(slice_hu, lung).sum())
        gas = int(lungs.gas_pockets(volume, region, spacing, step).sum())
        print(
            f"{method:8s}QC: right {right:.0f} mL, left {left:.0f} mL; dense lung left out {missed * voxel_ml:.1f} mL"
            f" ({100 * missed / max(inside + missed, 1):.2f} %); non-lung air {gas * voxel_ml:.1f} mL"
            f" ({100 * gas / max(int(region.sum()), 1):.2f} % of the lungs)"
        )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_SERIES)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args(argv[1:])
    folder, rounds = options.folder, options.rounds
    if not folder.is_dir() or not any(folder.glob("*.dcm")):
        print(f"SKIPPED: no DICOM series at {folder}")
        print("(CI has it at ../shared/data; set ILD_SHARED_DATA or pass the series folder)")
        return 0
    volume, spacing, step = load_series(folder)
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
        compare_methods(volume, spacing, step, rounds, production_s)
        return 1
    print(f"IDENTICAL : yes, all {n_slices} masks")
    compare_methods(volume, spacing, step, rounds, production_s)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
