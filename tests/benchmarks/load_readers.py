"""Load benchmark: 50 readers scrolling (each slice a WADO-RS frame, as the viewer loads it) and autosaving
plus 5 clinicians opening trends, on loopback,
against gunicorn (the embedded web server's settings) + PostgreSQL + Redis, driven by locust.

Run: .venv/bin/python tests/benchmarks/load_readers.py [--seconds 60] [--readers 50] [--web-workers 2]
     (needs PostgreSQL: DATABASE_URL naming a role that may create databases, default
     postgres://ild:ild@127.0.0.1:5432/ild; a database ild_load is made afresh)
Prints per request kind: requests, failures, p50/p95/p99 in ms (from every request's latency as locust
measured it), for the steady state (once all users have started: the targets autosave PUT p99 <= 100 ms
and image GET p99 <= 50 ms are judged on it) and for the whole run with its ramp-up. Locust runs on the
same cores as the server.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
TARGETS_MS = {"autosave PUT": 100, "image GET": 50}
FRAME_ACCEPT = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'  # as Cornerstone asks


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
        # What the viewer asks for each slice: its WADO-RS frame, in z order.
        base = f"/dicomweb/studies/{series.study_uid}/series/{series.series_uid}/instances"
        sop_uids = series.slices.order_by("z_index").values_list("sop_uid", flat=True)
        frames = [f"{base}/{sop}/frames/1" for sop in sop_uids]
        for user, role in zip(pair, ("reader_1", "reader_2"), strict=True):
            cast["readers"].append({
                "token": Token.objects.create(user=user).key, "reading": review.readings.get(role=role).pk,
                "series": series.pk, "slices": series.slice_count, "rows": series.rows, "columns": series.columns,
                "frames": frames,
            })  # fmt: skip
    cast["readers"] = cast["readers"][:readers]
    for number in range(5):
        user = services.user_create(username=f"clinician{number}", role="clinician", password=None)
        cast["clinicians"].append({"token": Token.objects.create(user=user).key})
    return cast


def warm_up(base: str, cast: dict, connections: int) -> None:
    """Requests of each kind from as many clients at once as the server has threads, a few rounds, so
    that every gunicorn thread has loaded the views and opened its database connection (as on a server
    that has been up a while) before anything is timed."""
    from concurrent.futures import ThreadPoolExecutor

    import requests

    reader, clinician = cast["readers"][0], cast["clinicians"][0]

    def a_few_requests(_) -> None:
        with requests.Session() as session:
            for _ in range(3):
                session.get(f"{base}{reader['frames'][0]}", timeout=120,
                            headers={"Authorization": f"Token {reader['token']}", "Accept": FRAME_ACCEPT})  # fmt: skip
                session.get(f"{base}/api/v1/patients/{cast['patients'][0]}/involvement/", timeout=120,
                            headers={"Authorization": f"Token {clinician['token']}"})  # fmt: skip

    with ThreadPoolExecutor(connections) as pool:
        list(pool.map(a_few_requests, range(connections * 2)))


def percentile(sorted_values: list[float], fraction: float) -> float:
    """The value below which `fraction` of the values lie (nearest rank)."""
    return sorted_values[min(len(sorted_values) - 1, max(0, math.ceil(fraction * len(sorted_values)) - 1))]


def report(request_log: Path) -> None:
    """Per request kind: count, failures and p50/p95/p99 for the steady state (from the moment the last
    user has started; the targets are judged on it) and, below, for the whole run with its ramp-up
    (users start at 20/s, each gunicorn thread opening its database connection on its first request)."""
    requests_seen, all_started = [], None
    for line in request_log.read_text().splitlines():
        at, latency, *rest = line.split(" ", 3)
        if latency == "all-started":
            all_started = float(at)
        else:
            requests_seen.append((float(at), float(latency), rest[0] == "1", rest[1]))
    first, last = min(r[0] for r in requests_seen), max(r[0] for r in requests_seen)
    phases = {"steady state": all_started, "whole run, ramp-up included": first}
    for phase, since in phases.items():
        print(f"{phase} ({last - since:.0f} s):")
        for name in sorted({r[3] for r in requests_seen}):
            chosen = [r for r in requests_seen if r[3] == name and r[0] >= since]
            latencies = sorted(r[1] for r in chosen)
            failed = sum(not r[2] for r in chosen)
            target = TARGETS_MS.get(name)
            p50, p95, p99 = (percentile(latencies, f) for f in (0.5, 0.95, 0.99))
            verdict = "" if target is None else f"  target p99 <= {target} ms: {'met' if p99 <= target else 'NOT met'}"
            print(f"  {name:18s} {len(chosen):6d} requests ({len(chosen) / (last - since):5.1f}/s), {failed:4d} "
                  f"failed  p50 {p50:5.1f}  p95 {p95:5.1f}  p99 {p99:6.1f} ms"
                  f"{verdict if phase == 'steady state' else ''}")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--readers", type=int, default=50)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--web-threads", type=int, default=4)
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
        web = embedded.start_web(env, "127.0.0.1", web_port, workers=args.web_workers,
                                threads=args.web_threads, access_log=False)  # fmt: skip
        warm_up(f"http://127.0.0.1:{web_port}", cast, args.web_workers * args.web_threads)
        cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        flags = [f for f in ("avx512f", "avx2") if f" {f} " in cpu]
        print(
            f"{len(cast['readers'])} readers + {len(cast['clinicians'])} clinicians for {args.seconds} s; gunicorn "
            f"{args.web_workers} workers x {args.web_threads} threads, PostgreSQL, Redis; "
            f"{os.cpu_count()} cores ({', '.join(flags)})"
        )
        subprocess.run(
            [sys.executable, "-m", "locust", "-f", str(Path(__file__).with_name("locust_readers.py")), "--headless",
             "-u", str(len(cast["readers"]) + len(cast["clinicians"])), "-r", "20", "-t", f"{args.seconds}s",
             "--host", f"http://127.0.0.1:{web_port}", "--only-summary", "--loglevel", "WARNING"],
            env=env | {"LOAD_CAST_FILE": str(scratch / "cast.json"), "LOAD_REQUEST_LOG": str(scratch / "requests.log")},
            check=False, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        report(scratch / "requests.log")
    finally:
        embedded.stop([p for p in (web, redis) if p is not None])
    return 0


if __name__ == "__main__":
    sys.exit(main())
