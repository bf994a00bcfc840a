"""Load benchmark: 50 readers scrolling and autosaving plus 5 clinicians opening trends, on loopback,
against gunicorn (the embedded web server's settings) + PostgreSQL + Redis, driven by locust.

Run: .venv/bin/python tests/benchmarks/load_readers.py [--seconds 60] [--readers 50] [--web-workers 2]
     (needs PostgreSQL: DATABASE_URL naming a role that may create databases, default
     postgres://ild:ild@127.0.0.1:5432/ild; a database ild_load is made afresh)
Prints per request kind: requests, failures, p50/p95/p99 in ms (locust's figures), against the targets
autosave PUT p99 <= 100 ms and image GET p99 <= 50 ms. Locust runs on the same cores as the server.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
TARGETS_MS = {"autosave PUT": 100, "image GET": 50}


def fresh_database(admin_url: str, name: str) -> str:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def seed(scratch: Path, readers: int) -> dict:
    """Phantom series (512x512, 24 slices), two readers each, 5 clinicians; their API tokens."""
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from annotations import services as review_services
    from ildplatform import services
    from ildplatform.demo.dicom_files import write_phantom_set
    from ildplatform.dicom_import import read_sources
    from ildplatform.models import Series

    call_command("migrate", verbosity=0)
    series_count = -(-readers // 2)
    manifest = write_phantom_set(scratch / "phantoms", series_count, 1, 31, 24)
    boss = services.user_create(username="boss", role="admin", password="load-test-admin-1")
    adjudicator = services.user_create(username="adj", role="adjudicator", password="load-test-adj-1")
    cast = {"readers": [], "clinicians": [], "patients": []}
    for number, patient in enumerate(manifest["patients"]):
        visit = patient["visits"][0]
        sources, _ = read_sources([scratch / "phantoms" / visit["folder"]], services.archive_limits())
        report = services.series_import(sources=sources, patient_pseudonym=patient["pseudonym"],
                                        visit_date=date.fromisoformat(visit["date"]))  # fmt: skip
        series = Series.objects.get(pk=report.series[0].series_id)
        cast["patients"].append(series.visit.patient_id)
        pair = [services.user_create(username=f"reader{2 * number + k:02d}", role="reader", password=None)
                for k in (1, 2)]  # fmt: skip
        review = review_services.review_assign(series=series, reader_1=pair[0], reader_2=pair[1],
                                               adjudicator=adjudicator, by=boss)  # fmt: skip
        for user, role in zip(pair, ("reader_1", "reader_2"), strict=True):
            cast["readers"].append({
                "token": Token.objects.create(user=user).key, "reading": review.readings.get(role=role).pk,
                "series": series.pk, "slices": series.slice_count, "rows": series.rows, "columns": series.columns,
            })  # fmt: skip
    cast["readers"] = cast["readers"][:readers]
    for number in range(5):
        user = services.user_create(username=f"clinician{number}", role="clinician", password=None)
        cast["clinicians"].append({"token": Token.objects.create(user=user).key})
    return cast


def warm_up(base: str, cast: dict) -> None:
    """A few requests of each kind first, so that every gunicorn worker has loaded the app (its first
    request imports the views) before anything is timed."""
    import requests

    reader, clinician = cast["readers"][0], cast["clinicians"][0]
    for _ in range(8):
        requests.get(f"{base}/api/v1/series/{reader['series']}/slices/0/dicom", timeout=120,
                     headers={"Authorization": f"Token {reader['token']}"})  # fmt: skip
        requests.get(f"{base}/api/v1/patients/{cast['patients'][0]}/involvement/", timeout=120,
                     headers={"Authorization": f"Token {clinician['token']}"})  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--readers", type=int, default=50)
    parser.add_argument("--web-workers", type=int, default=2)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="ild-load-"))
    admin_url = os.environ.get("DATABASE_URL", "postgres://ild:ild@127.0.0.1:5432/ild")
    database_url = fresh_database(admin_url, "ild_load")
    sys.path.insert(0, str(REPO_ROOT))
    from ildplatform import embedded

    redis_port, web_port = embedded.free_port(), embedded.free_port()
    redis = embedded.start_redis(redis_port, scratch / "redis")
    env = os.environ | {
        "DATABASE_URL": database_url, "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0", "ILD_VAR_DIR": str(scratch),
        "MEDIA_ROOT": str(scratch / "media"), "DJANGO_SETTINGS_MODULE": "ildplatform.settings", "LOG_LEVEL": "WARNING",
    }  # fmt: skip
    os.environ.update(env)
    import django

    django.setup()
    web = None
    try:
        cast = seed(scratch, args.readers)
        (scratch / "cast.json").write_text(json.dumps(cast))
        web = embedded.start_web(env, "127.0.0.1", web_port, workers=args.web_workers, access_log=False)
        warm_up(f"http://127.0.0.1:{web_port}", cast)
        cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        flags = [f for f in ("avx512f", "avx2") if f" {f} " in cpu]
        print(
            f"{len(cast['readers'])} readers + {len(cast['clinicians'])} clinicians for {args.seconds} s; gunicorn "
            f"{args.web_workers} workers x 4 threads, PostgreSQL, Redis; {os.cpu_count()} cores ({', '.join(flags)})"
        )
        subprocess.run(
            [sys.executable, "-m", "locust", "-f", str(Path(__file__).with_name("locust_readers.py")), "--headless",
             "-u", str(len(cast["readers"]) + len(cast["clinicians"])), "-r", "20", "-t", f"{args.seconds}s",
             "--host", f"http://127.0.0.1:{web_port}", "--csv", str(scratch / "load"), "--only-summary",
             "--loglevel", "WARNING"],
            env=env | {"LOAD_CAST_FILE": str(scratch / "cast.json")}, check=False, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        with open(scratch / "load_stats.csv") as handle:
            for row in csv.DictReader(handle):
                name = row["Name"]
                target = TARGETS_MS.get(name)
                verdict = (
                    ""
                    if target is None
                    else f"  target p99 <= {target} ms: {'met' if float(row['99%']) <= target else 'NOT met'}"
                )
                print(f"{name:18s} {int(row['Request Count']):6d} requests ({float(row['Requests/s']):5.1f}/s), "
                      f"{int(row['Failure Count']):4d} failed  p50 {row['50%']:>5s}  p95 {row['95%']:>5s}  "
                      f"p99 {row['99%']:>5s} ms{verdict}")  # fmt: skip
    finally:
        embedded.stop([p for p in (web, redis) if p is not None])
    return 0


if __name__ == "__main__":
    sys.exit(main())
