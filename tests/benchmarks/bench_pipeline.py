"""The real RICORD series from upload to involvement, each stage beside the kernels it cannot go below.

    python tests/benchmarks/bench_pipeline.py [--methods lung3d mader2d] [--rounds N]

Two processes on a scratch SQLite database and media folder stand for the deployment's roles: this
one is the GPU-queue worker (TensorFlow loaded, the U-Net model loaded before the clock starts, as a
worker does at start); a second one, started without TensorFlow, is the web process that imports and
the CPU-queue worker that runs the lung masks job. For each lung method, each round:

1. import (second process), which queues the lung masks job;
2. the lung masks job (second process) and the inference job (this process) side by side, as the two
   workers run them: the inference job runs its forward passes first and then takes the masks (waiting
   for the lung masks job to store them if it has not yet);
3. the involvement is there when the inference job ends: the total is the wall time from the upload to
   then. The lung masks job stores the masks first and their QC figures after, at the lowest CPU
   priority; its end is printed beside. Queueing between the roles is not included.

Right after, in this process, the kernels alone on the same data:
- decode floor: pydicom's bare read + decode of the files (`dcmread(path).pixel_array`);
- lung method: `inference.lungs.lung_labels` on the series' HU volume;
- U-Net forward passes: the worker's inferer on the series' prepared model input, in its batches.
The figure to watch is total / sum of kernels (target <= 1.25).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO_ROOT = Path(__file__).resolve().parents[2]
RICORD = Path(os.environ.get("ILD_SHARED_DATA", REPO_ROOT.parent / "shared" / "data")) / "ricord-1a-chest-series"
TARGET_RATIO = 1.25


def cpu_description() -> str:
    """The CPU model and the vector extensions that decide kernel speed, as the runtime's choice sees them."""
    from inference import runtime

    cpu = runtime.cpu_features()
    return f"{cpu['model']}, {cpu['cores']} usable cores, flags: {' '.join(cpu['flags']) or 'none'}"


def cpu_role(requests, replies, scratch: str) -> None:
    """The second process: web (import) and CPU-queue worker (lung masks job), no TensorFlow."""
    os.environ.update(ILD_VAR_DIR=scratch, DJANGO_SETTINGS_MODULE="ildplatform.settings")
    os.environ.pop("DATABASE_URL", None)
    sys.path.insert(0, str(REPO_ROOT))
    import django

    django.setup()
    from django.conf import settings

    from ildplatform import jobs, services
    from ildplatform.dicom_import import read_sources
    from ildplatform.models import Job, Series

    replies.put("ready")
    for command, argument in iter(requests.get, None):
        if command == "reset":
            Series.objects.all().delete()
            replies.put("reset")
        elif command == "import":
            settings.LUNG_METHOD = argument
            sources, _ = read_sources([RICORD], services.archive_limits())
            replies.put(services.series_import(sources=sources).series[0].series_id)
        elif command == "lung masks":
            jobs.job_run(job_id=Job.objects.get(series_id=argument, kind="lung_masks").pk)
            replies.put((Job.objects.get(series_id=argument, kind="lung_masks").state, time.time()))


def run_pipeline(method: str, requests, replies) -> tuple[dict[str, float], int]:
    """One upload of the series through import, then the lung masks and inference jobs side by side:
    seconds per stage (each from the upload), and the series id."""
    from django.conf import settings

    from ildplatform import jobs
    from ildplatform.models import Job, Series
    from inference import services as inference_services

    settings.LUNG_METHOD = method
    requests.put(("reset", None))
    assert replies.get() == "reset"
    stages = {}
    started, started_wall = time.perf_counter(), time.time()  # the second process reports wall clock
    requests.put(("import", method))
    series_id = replies.get()
    stages["import"] = time.perf_counter() - started

    requests.put(("lung masks", series_id))  # the CPU worker takes the job the import queued
    job = inference_services.inference_schedule(series=Series.objects.get(pk=series_id), task="merged")
    jobs.job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.state == Job.State.DONE, job.error
    stages["inference job ends"] = time.perf_counter() - started
    state, ended = replies.get()
    assert state == Job.State.DONE, state
    stages["lung masks job ends"] = ended - started_wall  # its QC figures last, after the masks
    stages["total"] = stages["inference job ends"]  # the involvement is stored last
    return stages, series_id


def run_kernels(series_id: int, method: str, inferer) -> dict[str, float]:
    """The same data through the bare kernels: seconds each."""
    import numpy as np
    import pydicom

    from ildplatform.models import Series
    from ildplatform.selectors import series_hu_volume
    from inference import lungs, preprocessing

    kernels = {}
    started = time.perf_counter()
    for path in sorted(RICORD.glob("*.dcm")):
        _ = pydicom.dcmread(path).pixel_array
    kernels["decode floor"] = time.perf_counter() - started

    series = Series.objects.get(pk=series_id)
    volume = np.asarray(series_hu_volume(series))
    spacing = (series.pixel_spacing_row, series.pixel_spacing_column)
    started = time.perf_counter()
    lungs.lung_labels(volume, spacing, series.slice_spacing, method)
    kernels["lung method"] = time.perf_counter() - started

    batch = preprocessing.preprocess(volume)
    started = time.perf_counter()
    inferer.softmax(batch)
    kernels["U-Net forward passes"] = time.perf_counter() - started
    return kernels


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=["lung3d", "mader2d"], choices=["lung3d", "mader2d"])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if not RICORD.is_dir():
        print(f"skipped: {RICORD} not found")
        return 0
    scratch = Path(tempfile.mkdtemp(prefix="ild-bench-"))
    os.environ.update(ILD_VAR_DIR=str(scratch), DJANGO_SETTINGS_MODULE="ildplatform.settings")
    os.environ.pop("DATABASE_URL", None)
    sys.path.insert(0, str(REPO_ROOT))
    import django

    django.setup()
    import keras
    from django.core.management import call_command

    from inference import runtime, unet
    from inference import services as inference_services
    from inference.models import Involvement

    call_command("migrate", verbosity=0)
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no TensorFlow, as a web process
    requests, replies = context.Queue(), context.Queue()
    # Not daemonic: a web process or worker may fork workers of its own (ildplatform.parallel), a daemon not.
    second = context.Process(target=cpu_role, args=(requests, replies, str(scratch)))
    second.start()
    assert replies.get(timeout=120) == "ready"
    keras.utils.set_random_seed(1)
    weights = scratch / "table2.weights.h5"
    unet.build_unet("table2").save_weights(weights)
    version = inference_services.model_register(weights=weights, task="merged", threshold=0.5)
    started = time.perf_counter()
    inferer = runtime.inferer(version)  # what a worker does at start
    print(cpu_description())
    print(f"worker start: model loaded in {time.perf_counter() - started:.1f} s (not counted below)")

    verdicts = []
    for method in args.methods:
        ratios = []
        print(f"\nlung method {method}, RICORD series ({len(list(RICORD.glob('*.dcm')))} files):")
        for round_index in range(args.rounds):
            stages, series_id = run_pipeline(method, requests, replies)
            kernels = run_kernels(series_id, method, inferer)
            kernel_sum = sum(kernels.values())
            ratios.append(stages["total"] / kernel_sum)
            row = Involvement.objects.get(series_id=series_id)
            print(f"  round {round_index + 1}:")
            for name, seconds in stages.items():
                print(f"    {name:<22} {seconds:6.2f} s")
            for name, seconds in kernels.items():
                print(f"    kernel {name:<15} {seconds:6.2f} s")
            print(
                f"    sum of kernels         {kernel_sum:6.2f} s   total / kernels {ratios[-1]:.2f}x   "
                f"(involvement {row.total_pct:.2f} %, lung {row.lung_volume_ml:.0f} mL)"
            )
        median = statistics.median(ratios)
        verdicts.append(median <= TARGET_RATIO)
        print(
            f"  {method}: median total / kernels {median:.2f}x "
            f"({'meets' if median <= TARGET_RATIO else 'ABOVE'} the {TARGET_RATIO}x target)"
        )
    requests.put(None)
    second.join(timeout=30)
    if second.is_alive():
        second.terminate()
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
