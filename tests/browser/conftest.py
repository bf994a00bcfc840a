"""Browser tests: Debian's Chromium driven by Playwright against pytest-django's live server.

The live server serves the viewer bundle through the staticfiles finders (frontend/static/viewer/),
so the bundle must be built; it is built here once when missing and npm is on PATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import date
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = Path(os.environ.get("ILD_CHROMIUM", "/usr/bin/chromium"))
REPO = Path(__file__).resolve().parents[2]
VIEWER = REPO / "frontend" / "viewer"
MANIFEST = REPO / "frontend" / "static" / "viewer" / "manifest.json"
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # WebGL through SwiftShader: Cornerstone's CPU fallback cannot show everything.
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
]
VIEWPORT = {"width": 1366, "height": 768}

# Playwright's sync API runs an event loop in this thread; the ORM calls in the tests are still
# plain synchronous calls, so Django's async guard would refuse them wrongly.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def viewer_bundle() -> Path:
    if not MANIFEST.exists():
        if shutil.which("npm") is None:
            pytest.skip(
                "the viewer bundle is not built and npm is not on PATH (npm ci && npm run build in frontend/viewer)"
            )
        subprocess.run(["npm", "ci"], cwd=VIEWER, check=True)
        subprocess.run(["npm", "run", "build"], cwd=VIEWER, check=True)
    return MANIFEST


@pytest.fixture(scope="session")
def browser(viewer_bundle):
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium not found at {CHROMIUM} (install Debian's chromium, or set ILD_CHROMIUM)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e .[test])")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def open_session(browser, live_server):
    """open_session(username, password) -> a logged-in page of a fresh browser context."""
    contexts = []

    def open_as(username: str, password: str):
        context = browser.new_context(viewport=VIEWPORT)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.on("console", lambda message: message.type == "error" and print(f"[{username} console] {message.text}"))
        page.on("pageerror", lambda error: print(f"[{username} page error] {error}"))
        page.goto(f"{live_server.url}/login/")
        page.get_by_label("User name").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{live_server.url}/")
        return page

    yield open_as
    for context in contexts:
        context.close()


def import_phantom_patient(folder: Path, *, visits: int, slices: int, seed: int = 11):
    """One phantom patient with `visits` visits; returns [(series, truth_labels, truth_lung), ...] by date."""
    from ildplatform import services
    from ildplatform.demo import phantoms
    from ildplatform.dicom_import import read_sources
    from ildplatform.models import Series, Visit

    manifest = phantoms.write_phantom_set(folder, 1, visits, seed, slices)
    patient = manifest["patients"][0]
    imported = []
    for index, visit in enumerate(patient["visits"]):
        sources, _ = read_sources([folder / visit["folder"]], services.archive_limits())
        report = services.series_import(
            sources=sources, patient_pseudonym=patient["pseudonym"], visit_date=date.fromisoformat(visit["date"])
        )
        Visit.objects.filter(pk=report.series[0].visit_id).update(
            fvc_pct_pred=90.0 - 4 * index, dlco_pct_pred=80.0 - 6 * index
        )
        truth = np.load(folder / visit["truth"])
        imported.append((Series.objects.get(pk=report.series[0].series_id), truth["labels"], truth["lung"]))
    return imported


def assigned_reading(folder: Path, *, slices: int, password: str):
    """Reader 1's reading of a phantom series of `slices` slices, assigned to r1 and r2 (readers) and adj
    (adjudicator) by boss (admin), all with `password`."""
    from annotations import services as review_services
    from ildplatform import services
    from tests.review_fixtures import wait_for_series_jobs

    roles = {"boss": "admin", "r1": "reader", "r2": "reader", "adj": "adjudicator"}
    users = {name: services.user_create(username=name, role=role, password=password) for name, role in roles.items()}
    [(series, _, _)] = import_phantom_patient(folder, visits=1, slices=slices)
    wait_for_series_jobs(series)
    review = review_services.review_assign(series=series, reader_1=users["r1"], reader_2=users["r2"],
                                           adjudicator=users["adj"], by=users["boss"])  # fmt: skip
    return review.readings.get(role="reader_1")


@pytest.fixture(autouse=True)
def worker(live_services):
    """A real Redis and Celery worker behind the live server, as in production."""
    live_services.start_worker()
    return live_services
