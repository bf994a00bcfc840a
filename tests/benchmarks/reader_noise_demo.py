"""Reader noise on the demo phantoms: two simulated readers read every demo series through the platform
(review, masks saved, submitted, agreement and involvement computed as a worker would), then the
platform's MDC95, its 95 % CI and the inter-reader Bland-Altman are printed beside our own computation
from the stored involvement pairs (numpy, and the chi-square quantile from scipy.special's inverse
incomplete gamma function, not the scipy.stats call the platform uses).

Run: .venv/bin/python tests/benchmarks/reader_noise_demo.py [--patients 4] [--visits 3] [--slices 24]
(an embedded SQLite site in a temporary folder; no broker or worker needed)

Reader 1 marks the phantom's true labels. Reader 2 is a different reader: on each series, by a seeded
draw, their GGO is one pixel wider or narrower than the truth and their reticulation one pixel narrower
or unchanged, as readers differ at the edges of a pattern.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]


def reader_2_labels(truth: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    from scipy import ndimage

    from ildplatform.labels import GGO, RETICULATION

    grow_ggo, shrink_reticulation = rng.random() < 0.5, rng.random() < 0.5
    ggo, reticulation = truth == GGO, truth == RETICULATION
    ring = np.zeros((1, 3, 3), bool)
    ring[0] = ndimage.generate_binary_structure(2, 1)  # in-plane only: readers paint slice by slice
    ggo = ndimage.binary_dilation(ggo, ring) & ~reticulation if grow_ggo else ndimage.binary_erosion(ggo, ring)
    if shrink_reticulation:
        reticulation = ndimage.binary_erosion(reticulation, ring)
    labels = np.zeros_like(truth)
    labels[ggo] = GGO
    labels[reticulation] = RETICULATION
    return labels


def independent_figures(first: list[float], second: list[float]) -> dict[str, float]:
    from scipy.special import gammaincinv

    d = np.asarray(first) - np.asarray(second)
    n = d.size
    sd = math.sqrt(((d - d.mean()) ** 2).sum() / (n - 1))
    chi2 = {q: 2 * gammaincinv((n - 1) / 2, q) for q in (0.025, 0.975)}  # chi-square quantiles, n-1 df
    bias = float(d.mean())
    return {"n": n, "sd": sd, "sem": sd / math.sqrt(2), "mdc95": 1.96 * sd,
            "mdc95_ci_low": 1.96 * sd * math.sqrt((n - 1) / chi2[0.975]),
            "mdc95_ci_high": 1.96 * sd * math.sqrt((n - 1) / chi2[0.025]),
            "bias": bias, "limit_low": bias - 1.96 * sd, "limit_high": bias + 1.96 * sd}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=4)
    parser.add_argument("--visits", type=int, default=3)
    parser.add_argument("--slices", type=int, default=24)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="ild-reader-noise-"))
    os.environ.update(ILD_VAR_DIR=str(scratch), DJANGO_SETTINGS_MODULE="ildplatform.settings")
    os.environ.pop("DATABASE_URL", None)
    sys.path.insert(0, str(REPO_ROOT))
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.core.management import call_command

    from annotations import services as review_services
    from annotations.selectors import slices_needing_decision
    from ildplatform import jobs, labelmaps
    from ildplatform.demo import seeding
    from ildplatform.models import Job, Series
    from inference import selectors as inference_selectors
    from inference.models import Involvement
    from interop import tasks

    jobs._enqueue = lambda job, queue: None  # run below, in this process, as a worker would
    tasks.series_metadata_build.apply_async = lambda *a, **k: None
    call_command("migrate", verbosity=0)
    seeding.demo_users_create()
    manifest = seeding.demo_patients_seed(patients=args.patients, visits=args.visits, slices=args.slices)
    folder = seeding.demo_phantom_folder(patients=args.patients, visits=args.visits, slices=args.slices)
    users = {name: User.objects.get(username=name) for name in ("admin", "reader1", "reader2", "adjudicator")}
    rng = np.random.default_rng(2026)

    def run_jobs(series) -> None:
        while job := Job.objects.filter(series=series, state=Job.State.QUEUED).order_by("id").first():
            jobs.job_run(job_id=job.pk)  # a job may queue the next (agreement, then involvement)

    for patient in manifest["patients"]:
        for visit in patient["visits"]:
            series = Series.objects.get(visit__patient__pseudonym=patient["pseudonym"], visit__date=visit["date"])
            run_jobs(series)  # lung masks
            with np.load(folder / visit["truth"]) as truth_file:
                truth = truth_file["labels"]
            hu = np.load(series.volume_file if os.path.isabs(series.volume_file)
                         else Path(settings.MEDIA_ROOT) / series.volume_file, mmap_mode="r")  # fmt: skip
            with np.load(folder / visit["truth"]) as truth_file:
                lung = truth_file["lung"]
            if (hu[lung] < -500).mean() < (hu[lung[::-1]] < -500).mean():  # stored bottom-up: follow its z order
                truth = truth[::-1]
            review = review_services.review_assign(series=series, reader_1=users["reader1"], reader_2=users["reader2"],
                                                   adjudicator=users["adjudicator"], by=users["admin"])  # fmt: skip
            for role, labels in (("reader_1", truth), ("reader_2", reader_2_labels(truth, rng))):
                reading = review.readings.get(role=role)
                for z in np.flatnonzero(labels.reshape(labels.shape[0], -1).any(axis=1)):
                    review_services.mask_save(reading=reading, z_index=int(z), png=labelmaps.encode_png(labels[z]),
                                              if_match=0, user=reading.user)  # fmt: skip
                review_services.reading_submit(reading=reading, user=reading.user)
            run_jobs(series)  # agreement
            for z in slices_needing_decision(review):  # the adjudicator takes reader 1 (the truth) everywhere
                review_services.consensus_decide(review=review, z_index=z, decision="reader_1", png=None,
                                                 user=users["adjudicator"])  # fmt: skip
            review_services.consensus_finalize(review=review, user=users["adjudicator"])
            run_jobs(series)  # the readers' and the consensus' involvement

    settings.READER_NOISE_MIN_SERIES = 10
    noise = inference_selectors.reader_noise(user=users["admin"])["measures"]
    rows = {(row.series_id, row.source): row for row in Involvement.objects.filter(source__in=("reader_1", "reader_2"))}
    series_ids = sorted({series_id for series_id, _ in rows})
    print(
        f"demo phantoms: {args.patients} patients x {args.visits} visits, {args.slices} slices; "
        f"{len(series_ids)} series read by both simulated readers"
    )
    names = ("n", "sd", "sem", "mdc95", "mdc95_ci_low", "mdc95_ci_high", "bias", "limit_low", "limit_high")
    all_equal = True
    for measure, field in (("total", "total_pct"), ("reticulation", "reticulation_pct"), ("ggo", "ggo_pct")):
        first = [getattr(rows[(s, "reader_1")], field) for s in series_ids]
        second = [getattr(rows[(s, "reader_2")], field) for s in series_ids]
        ours = independent_figures(first, second)
        platform = noise[measure]
        equal = all(math.isclose(platform[name], ours[name], rel_tol=1e-9, abs_tol=1e-12) for name in names)
        all_equal &= equal
        print(f"{measure:>12}: " + "  ".join(f"{name} {platform[name]:.4g}" for name in names)
              + f"   independent: {'equal' if equal else 'DIFFERENT: ' + json.dumps(ours)}")  # fmt: skip
    print("platform figures equal the independent computation" if all_equal else "MISMATCH")
    return 0 if all_equal else 1


if __name__ == "__main__":
    sys.exit(main())
