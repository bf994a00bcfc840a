"""Running a model from the browser (issue 11): an adjudicator opens a series page, runs the active
model, follows its job, sees the predictions drawn as an overlay, and the patient page's trend gains the
model's line. A reader's blinded workspace never offers the action; a run without an active model says
why.

The model is trained by the backend's training job on the demo phantoms (2 folds, few epochs) and
activated through the API, as an admin does from the models page. The real worker runs training and
inference. What the pages show is held against the API: the stored prediction PNG, the involvement row.
Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import time

import keras
import numpy as np
import pytest

from annotations import services as review_services
from annotations.models import Reading
from ildplatform import labelmaps, services
from inference import services as inference_services
from inference import unet
from tests.review_fixtures import wait_for_series_jobs

from .conftest import import_phantom_patient
from .helpers import (
    AXIAL,
    api_get,
    api_post,
    bounding_box,
    go_to_slice,
    image_box,
    label_colour,
    on_screen,
    overlay_pixels,
    painted,
    wait_viewer,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(900)]

PASSWORD = "pass-word-1"
SLICES = 8
TRAINING = {"task": "merged", "source": "phantoms", "variant": "table2", "folds": 2, "epochs": 2, "seed": 3}
# Every status line and progress bar state the Run model panel goes through, recorded in the page.
RECORD_PANEL = """() => {
    const panel = document.querySelector('[data-testid=run-model-panel]');
    const progress = panel.querySelector('progress');
    window.runModelSeen = [];
    new MutationObserver(() => window.runModelSeen.push({
        state: panel.dataset.state, status: panel.querySelector('[role=status]').textContent,
        progressShown: !progress.hidden, progress: progress.value,
    })).observe(panel, { subtree: true, childList: true, characterData: true, attributes: true });
}"""


@pytest.fixture
def cast(tmp_path):
    """Admin, adjudicator and two readers; a phantom patient with two visits (lung masks computed), the
    second visit's series assigned for reading."""
    roles = {"boss": "admin", "adj": "adjudicator", "r1": "reader", "r2": "reader"}
    users = {name: services.user_create(username=name, role=role, password=PASSWORD) for name, role in roles.items()}
    visits = import_phantom_patient(tmp_path / "phantoms", visits=2, slices=SLICES)
    for series, _, _ in visits:
        wait_for_series_jobs(series)
    series = visits[1][0]
    review = review_services.review_assign(series=series, reader_1=users["r1"], reader_2=users["r2"],
                                           adjudicator=users["adj"], by=users["boss"])  # fmt: skip
    return users, series, review.readings.get(role="reader_1")


def wait_job(page, job_id: int, timeout_s: float = 600) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = api_get(page, f"jobs/{job_id}/").json()
        if job["state"] not in ("queued", "running"):
            assert job["state"] == "done", job
            return job
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} still running after {timeout_s} s")


def trained_active_model(admin) -> dict:
    """A merged model trained on the phantoms by the training job, activated with a reason."""
    job = api_post(admin, "models/training/", TRAINING).json()
    assert job["kind"] == "training"
    job = wait_job(admin, job["id"])
    version_id = job["detail"].get("model_version_id") or job["model_version_id"]
    version = api_post(admin, f"models/{version_id}/activation/", {"active": True, "reason": "browser test"}).json()
    assert version["is_active"] and version["task"] == "merged"
    return version


def prediction(page, series, version_id: int, z: int) -> np.ndarray:
    return labelmaps.decode_png(api_get(page, f"series/{series.pk}/slices/{z}/predictions/{version_id}").body())


def assert_drawn_as_stored(page, predicted: np.ndarray) -> None:
    """The overlay shows the stored prediction (a merged model's "abnormal" is label 1): in the same place
    and with the same area, at the scale the slice is drawn."""
    shown = painted(overlay_pixels(page), label_colour(page, "patterns", 1))
    assert shown.sum() > 0, "the model's overlay draws nothing"
    expected = on_screen(page, bounding_box(predicted == 1))
    assert np.allclose(bounding_box(shown), expected, atol=2.0), f"shown at {bounding_box(shown)}, stored at {expected}"
    _, _, scale = image_box(page)
    expected_area = (predicted == 1).sum() * scale**2
    assert abs(shown.sum() - expected_area) <= 0.1 * expected_area + 4 * scale, (int(shown.sum()), expected_area)


def test_adjudicator_runs_the_model_and_sees_its_overlay_and_trend(cast, open_session, live_server, artifacts):
    users, series, reading = cast
    admin = open_session("boss", PASSWORD)
    version = trained_active_model(admin)
    source = f"model:{version['id']}"

    # -- the reader's blinded workspace: no model, no action, not even a look at the series' models
    reader = open_session("r1", PASSWORD)
    asked = []
    reader.on("request", lambda request: "/models/" in request.url and asked.append(request.url))
    reader.goto(f"{live_server.url}/read/{reading.pk}/")
    wait_viewer(reader)
    assert reader.locator("#app").get_attribute("data-can-run-model") == "0"
    assert reader.get_by_test_id("run-model-panel").count() == 0
    assert reader.get_by_test_id("model-overlays").count() == 0
    assert asked == [], asked

    # -- the adjudicator opens the series page: the active model, its demo label, no overlay of it yet
    adjudicator = open_session("adj", PASSWORD)
    adjudicator.goto(f"{live_server.url}/series/{series.pk}/")
    wait_viewer(adjudicator)
    panel = adjudicator.get_by_test_id("run-model-panel")
    panel.wait_for()
    task = adjudicator.get_by_test_id("run-model-task")
    assert task.input_value() == "merged" and f"Model {version['id']}" in task.inner_text()
    # Trained on synthetic phantoms: demo weights, and the page says so beside the button.
    assert version["is_demo"] and version["label"], version
    assert version["label"] in panel.get_by_test_id("model-demo-label").inner_text()
    assert adjudicator.get_by_test_id(f"show-{source}").count() == 0

    # -- Run model: the job is followed with a progress bar and a status line until it is done
    adjudicator.evaluate(RECORD_PANEL)
    adjudicator.get_by_test_id("run-model").click()
    progress = adjudicator.get_by_test_id("run-model-progress")
    progress.wait_for(state="visible")
    assert adjudicator.get_by_test_id("run-model-status").inner_text(), "a status line while the job runs"
    adjudicator.screenshot(path=str(artifacts / "run-model-running.png"))
    adjudicator.wait_for_selector("[data-testid=run-model-panel][data-state='done']", timeout=300_000)
    seen = adjudicator.evaluate("window.runModelSeen")
    running = [entry for entry in seen if entry["state"] in ("queued", "running")]
    assert running and all(entry["progressShown"] for entry in running), seen
    assert any("queued" in entry["status"] or "running" in entry["status"] for entry in running), seen
    assert "finished" in adjudicator.get_by_test_id("run-model-status").inner_text()
    assert progress.evaluate("node => node.value") == 1.0
    job = api_get(adjudicator, f"jobs/{progress.get_attribute('data-job')}/").json()
    assert (job["kind"], job["state"], job["series_id"]) == ("inference", "done", series.pk), job

    # -- the model's overlay is added, switched on and drawn as the server stored it
    switch = adjudicator.get_by_test_id(f"show-{source}")
    assert switch.is_checked()
    title = adjudicator.locator(f"label[for='show-{source}']").inner_text()
    assert f"Model {version['id']} · merged · demo weights" in title, title
    predicted = {z: prediction(adjudicator, series, version["id"], z) for z in range(SLICES)}
    z = max(predicted, key=lambda index: int((predicted[index] > 0).sum()))
    go_to_slice(adjudicator, z, showing=source)
    if (predicted[z] > 0).any():
        assert_drawn_as_stored(adjudicator, predicted[z])
    else:  # the model found nothing anywhere: nothing is drawn
        assert not overlay_pixels(adjudicator)[..., 3].any()
    adjudicator.screenshot(path=str(artifacts / "run-model-overlay.png"))
    switch.uncheck()
    adjudicator.wait_for_selector(f"{AXIAL} canvas.overlay[data-z='{z}']:not([data-layers~='{source}'])")

    # -- the series page lists the model's predictions from the API, even on a fresh load
    listed = api_get(adjudicator, f"series/{series.pk}/models/").json()
    assert [p["model_version_id"] for p in listed["predictions"]] == [version["id"]], listed
    adjudicator.goto(f"{live_server.url}/series/{series.pk}/?overlay={source}")
    wait_viewer(adjudicator)
    adjudicator.wait_for_selector(f"{AXIAL} canvas.overlay[data-layers~='{source}']")

    # -- the patient page's trend shows the model's line
    adjudicator.goto(f"{live_server.url}/patients/{series.visit.patient_id}/")
    adjudicator.wait_for_selector("#app[data-ready='1']")
    rows = api_get(adjudicator, f"patients/{series.visit.patient_id}/involvement/").json()
    assert any(row["source"] == source and row["series_id"] == series.pk for row in rows), rows
    assert adjudicator.locator(f"svg polyline[data-source='{source}']").count() >= 1
    adjudicator.screenshot(path=str(artifacts / "run-model-trend.png"), full_page=True)

    # -- the adjudicator's workspace, once both readings are in: the model's predictions are a layer to switch on
    for role in ("reader_1", "reader_2"):
        submitted = Reading.objects.get(review__series=series, role=role)
        review_services.reading_submit(reading=submitted, user=submitted.user)
    wait_for_series_jobs(series)
    adjudicator.goto(f"{live_server.url}/adjudicate/{series.pk}/")
    wait_viewer(adjudicator)
    model_switch = adjudicator.get_by_test_id(f"show-{source}")
    assert not model_switch.is_checked()
    model_switch.check()
    adjudicator.wait_for_selector(f"{AXIAL} canvas.overlay[data-layers~='{source}']")
    assert adjudicator.get_by_test_id("run-model-panel").is_visible()

    # -- the model is deactivated while the page is open: the run is refused, and the page says why
    adjudicator.goto(f"{live_server.url}/series/{series.pk}/")
    wait_viewer(adjudicator)
    api_post(admin, f"models/{version['id']}/activation/", {"active": False, "reason": "browser test"})
    adjudicator.get_by_test_id("run-model").click()
    adjudicator.wait_for_selector("[data-testid=run-model-panel][data-state='failed']")
    assert "no active model for task merged" in adjudicator.get_by_test_id("run-model-error").inner_text()
    adjudicator.reload()
    wait_viewer(adjudicator)
    assert adjudicator.get_by_test_id("run-model-none").is_visible()
    assert adjudicator.get_by_test_id(f"show-{source}").count() == 1, "its predictions stay viewable"


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # inside Keras's save_weights
def test_admin_sees_what_ai_preannotation_does_on_the_worklist(cast, open_session, live_server, artifacts, tmp_path):
    users, series, reading = cast
    weights = tmp_path / "reticulation.weights.h5"
    keras.utils.set_random_seed(5)
    unet.build_unet("table2").save_weights(weights)
    model = inference_services.model_register(weights=weights, task="reticulation", threshold=0.5, user=users["boss"])
    admin = open_session("boss", PASSWORD)
    wait_job(admin, api_post(admin, f"series/{series.pk}/inference/", {"task": "reticulation"}).json()["id"])
    name = f"Model {model.pk} · reticulation"

    # -- off: the model that would seed the readers' empty slices, and its predictions here
    admin.goto(f"{live_server.url}/worklist/")
    row = admin.locator(f"#preannotation tr[data-series='{series.pk}']")
    row.wait_for()
    switch = row.get_by_test_id(f"preannotate-{series.pk}")
    assert not switch.is_checked() and row.get_attribute("data-on") == "0"
    seeds = row.get_by_test_id("preannotation-models")
    assert f"{name}: predictions on {SLICES} of {SLICES} slices" in seeds.inner_text()
    assert "Used once it is switched on" in seeds.inner_text()

    # -- the admin switches it on; a reader saves a slice that started from the model's prediction
    switch.check()
    admin.wait_for_selector(f"#preannotation tr[data-series='{series.pk}'][data-on='1']")
    assert "is on" in admin.locator("#preannotation-status").inner_text()
    assert api_get(admin, f"series/{series.pk}/review/").json()["ai_preannotation"] is True
    started = labelmaps.decode_png(api_get(admin, f"readings/{reading.pk}/slices/3/mask").body())
    review_services.mask_save(reading=Reading.objects.get(pk=reading.pk), z_index=3, if_match=0,
                              png=labelmaps.encode_png(started), user=users["r1"])  # fmt: skip

    # -- which model seeded which reading
    admin.reload()
    seeded = admin.locator(f"#preannotation tr[data-series='{series.pk}'] li[data-reading]")
    seeded.first.wait_for()
    shown = {seeded.nth(i).get_attribute("data-reading"): seeded.nth(i).inner_text() for i in range(seeded.count())}
    assert shown[str(reading.pk)] == f"reader 1 (r1): {name}", shown
    others = sorted(text for key, text in shown.items() if key != str(reading.pk))
    assert others == ["adjudicator (adj): none", "reader 2 (r2): none"], shown
    admin.locator("#preannotation").screenshot(path=str(artifacts / "worklist-preannotation.png"))
