"""The real RICORD series from import to lung masks and involvement, in seconds per stage.

    python tests/benchmarks/bench_pipeline.py

Runs the services the Celery tasks run (in this process, one after the other, on a scratch SQLite
database and media folder): import -> lung masks -> U-Net inference of a registered (untrained, seeded)
table2 model -> involvement. The worker's queueing time is not included. No Redis is needed: with no
broker listening the services log "could not queue job N" and leave the job queued, and this script
runs it.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
RICORD = Path(os.environ.get("ILD_SHARED_DATA", REPO_ROOT.parent / "shared" / "data")) / "ricord-1a-chest-series"


def main() -> int:
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

    from ildplatform import jobs, services
    from ildplatform.dicom_import import read_sources
    from ildplatform.models import Job
    from inference import services as inference_services
    from inference import unet
    from inference.models import Involvement

    call_command("migrate", verbosity=0)
    keras.utils.set_random_seed(1)
    weights = scratch / "table2.weights.h5"
    unet.build_unet("table2").save_weights(weights)
    inference_services.model_register(weights=weights, task="merged", threshold=0.5)

    stages = {}
    started = time.perf_counter()
    sources, _ = read_sources([RICORD], services.archive_limits())
    report = services.series_import(sources=sources)
    stages["import"] = time.perf_counter() - started
    series_id = report.series[0].series_id

    mark = time.perf_counter()
    jobs.job_run(job_id=Job.objects.get(series_id=series_id, kind="lung_masks").pk)
    stages["lung masks"] = time.perf_counter() - mark

    mark = time.perf_counter()
    from ildplatform.models import Series

    job = inference_services.inference_schedule(series=Series.objects.get(pk=series_id), task="merged")
    jobs.job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.state == Job.State.DONE, job.error
    stages["U-Net + involvement (CPU)"] = time.perf_counter() - mark
    total = time.perf_counter() - started

    row = Involvement.objects.get(series_id=series_id)
    print(f"RICORD pipeline, {report.series[0].slices} slices:")
    for name, seconds in stages.items():
        print(f"  {name:<28} {seconds:7.1f} s")
    print(
        f"  {'total':<28} {total:7.1f} s   "
        f"(lung volume {row.lung_volume_ml:.0f} mL, QC missed {row.qc_missed_fraction:.3f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
