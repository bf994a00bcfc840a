"""The models page, the jobs page's training job and the patient trend's model label, in the browser.

A cross-validated run of the merged task is registered through the registry services (real U-Net
weights; fold metrics and per-patient involvement chosen here, so that every figure on the page can be
recomputed with numpy in this file) beside an active baseline version. The admin reads the run's
metrics, its agreement with the consensus and its Bland-Altman plot (read back from the SVG's own axis
ticks), activates it with a reason (the API and the audit trail say so), and sees its line on a patient's
trend labelled as demo weights; a clinician sees the figures but no activation. A training run started
from the page's form shows its fold and epoch on the jobs page and is cancelled there.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

pytest.importorskip("keras")

from inference import services as inference_services  # noqa: E402
from inference import trainer, training, unet  # noqa: E402
from inference.models import ModelVersion  # noqa: E402
from tests.review_fixtures import wait_for_series_jobs  # noqa: E402

from .conftest import import_phantom_patient  # noqa: E402
from .helpers import api_get  # noqa: E402

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(600)]

PASSWORD = "pass-word-1"
SIGN = "model − consensus"
METRICS = ("dice", "jaccard", "f1", "recall")
# Per patient: (consensus pixels, model pixels) of a 200-pixel lung (two 10 x 10 slices, all lung).
LUNG_PIXELS = 200
TEST_SET = {"phantom-t1": (30, 36), "phantom-t2": (60, 55), "phantom-t3": (12, 19), "phantom-t4": (90, 97)}
VALIDATION_SET = {"phantom-v1": (20, 16), "phantom-v2": (44, 51), "phantom-v3": (70, 62), "phantom-v4": (8, 9),
                  "phantom-v5": (100, 92)}  # fmt: skip
FOLDS = [
    {"threshold": 0.38, "epochs_run": 31, "best_epoch": 11, "best_validation_loss": 0.3127,
     "validation_metrics": {"dice": 0.71234, "jaccard": 0.55312, "f1": 0.70441, "recall": 0.80127}},
    {"threshold": 0.46, "epochs_run": 27, "best_epoch": 7, "best_validation_loss": 0.2981,
     "validation_metrics": {"dice": 0.75871, "jaccard": 0.61118, "f1": 0.74903, "recall": 0.83356}},
]  # fmt: skip
TEST_METRICS = {"dice": 0.69102, "jaccard": 0.52788, "f1": 0.68315, "recall": 0.77461}


def agreement_arrays(patients: dict) -> tuple[np.ndarray, ...]:
    """(predictions, truths, lungs, patients) with each patient's consensus and model pixels as given."""
    predictions, truths, names = [], [], []
    for name, (reference, model) in patients.items():
        truths.append((np.arange(LUNG_PIXELS) < reference).reshape(2, 10, 10))
        predictions.append((np.arange(LUNG_PIXELS) < model).reshape(2, 10, 10))
        names += [name, name]
    truths, predictions = np.concatenate(truths), np.concatenate(predictions)
    return predictions, truths, np.ones_like(truths), np.array(names)


def expected_agreement(patients: dict) -> dict:
    """The figures the page must show, from numpy: differences model minus consensus, in % of lung."""
    reference = np.array([pixels for pixels, _ in patients.values()]) * 100 / LUNG_PIXELS
    model = np.array([pixels for _, pixels in patients.values()]) * 100 / LUNG_PIXELS
    difference = model - reference
    bias, sd = difference.mean(), difference.std(ddof=1)
    points = {name: ((m + r) / 2, m - r) for name, m, r in zip(patients, model, reference, strict=True)}
    return {"n": len(patients), "mae": np.abs(difference).mean(), "bias": bias, "sd": sd,
            "lower": bias - 1.96 * sd, "upper": bias + 1.96 * sd, "points": points}  # fmt: skip


def register_run(weights) -> ModelVersion:
    """The cross-validated run, registered by the registry service as an inactive demo version."""
    validation = list(VALIDATION_SET)
    split = training.PatientSplit(test=tuple(TEST_SET), folds=(tuple(validation[:3]), tuple(validation[3:])),
                                  all_patients=tuple(TEST_SET) + tuple(validation))  # fmt: skip
    folds = [
        {**fold, "fold": k, "dice_by_threshold": [], "training_patients": list(split.training(k)),
         "validation_patients": list(split.folds[k]), "training_slices": [], "validation_slices": [],
         "augmented_slices": []}
        for k, fold in enumerate(FOLDS)
    ]  # fmt: skip
    involvement = {
        "sign": training.INVOLVEMENT_SIGN,
        "test": training.patient_involvement_agreement(*agreement_arrays(TEST_SET)),
        "validation": training.patient_involvement_agreement(*agreement_arrays(VALIDATION_SET)),
    }
    run = trainer.CrossValidation(
        split=split, folds=folds, over_folds=training.over_folds([fold["validation_metrics"] for fold in folds]),
        chosen_fold=1, threshold=FOLDS[1]["threshold"], test_metrics=TEST_METRICS, weights=weights,
        involvement=involvement,
    )  # fmt: skip
    return inference_services.model_register_cross_validation(
        run=run, task="merged", settings=trainer.TrainingSettings(max_epochs=40, seed=7), duration_s=321.5,
        lung_method="lung3d", trained_by="training job 1", is_demo=True, extra={"trainable_parameters": 1234567},
    )  # fmt: skip


@pytest.fixture
def registry(tmp_path):
    """Admin and clinician; an active baseline merged version and the inactive demo run beside it."""
    from ildplatform import services

    users = {
        "boss": services.user_create(username="boss", role="admin", password=PASSWORD),
        "clin": services.user_create(username="clin", role="clinician", password=PASSWORD),
    }
    weights = tmp_path / "merged.weights.h5"
    unet.build_unet("table2").save_weights(str(weights))
    baseline = inference_services.model_register(weights=weights, task="merged", threshold=0.5, activate=False)
    inference_services.model_set_active(version=baseline, active=True, reason="first merged model", user=users["boss"])
    return users, baseline, register_run(weights)


def cells(row) -> dict:
    return {cell.get_attribute("data-metric"): cell.inner_text() for cell in row.locator("td").all()}


def number(text: str) -> float:
    return float(text.replace("−", "-").replace("+", "").replace("pp", "").strip())


def assert_metrics_table(section, version: ModelVersion) -> None:
    stored = version.metrics
    for fold in stored["folds"]:
        row = cells(section.locator(f"[data-testid=metrics] tr[data-row='fold-{fold['fold']}']"))
        assert row.pop("threshold") == f"{fold['threshold']:.2f}"
        assert row.pop("epochs_run") == str(fold["epochs_run"]) and row.pop("best_epoch") == str(fold["best_epoch"])
        assert row == {key: f"{fold['validation_metrics'][key]:.3f}" for key in METRICS}, fold["fold"]
    # The spread is the fold-wise SD (n - 1) of the fold figures, as stored.
    for key in METRICS:
        values = np.array([fold["validation_metrics"][key] for fold in FOLDS])
        assert stored["over_folds"][key]["mean"] == pytest.approx(values.mean())
        assert stored["over_folds"][key]["sd"] == pytest.approx(values.std(ddof=1))
    row = cells(section.locator("[data-testid=metrics] tr[data-row='over-folds']"))
    over = stored["over_folds"]
    spread = {key: f"{over[key]['mean']:.3f} ± {over[key]['sd']:.3f}" for key in METRICS}
    assert {key: row[key] for key in METRICS} == spread
    row = cells(section.locator("[data-testid=metrics] tr[data-row='test']"))
    assert row.pop("threshold") == f"{version.threshold:.2f}" == f"{FOLDS[1]['threshold']:.2f}"
    assert {key: row[key] for key in METRICS} == {key: f"{TEST_METRICS[key]:.3f}" for key in METRICS}


def svg_items(plot, testid: str, attributes: tuple[str, ...]) -> list[dict]:
    return plot.locator(f"[data-testid={testid}]").evaluate_all(
        "(nodes, names) => nodes.map(n => Object.fromEntries([['text', n.textContent],"
        " ...names.map(a => [a, n.getAttribute(a)])]))",
        list(attributes),
    )


def axis(ticks: list[dict], coordinate: str):
    """value -> page coordinate, from the axis's tick labels (what a reader of the plot goes by)."""
    values = np.array([number(tick["text"]) for tick in ticks])
    positions = np.array([float(tick[coordinate]) for tick in ticks])
    assert len(values) >= 3, ticks
    slope, offset = np.polyfit(values, positions, 1)
    assert np.abs(slope * values + offset - positions).max() < 0.01, "ticks evenly spaced"
    return slope, lambda value: slope * value + offset


def assert_bland_altman(section) -> None:
    plot = section.get_by_test_id("bland-altman")
    y_slope, y = axis(svg_items(plot, "ba-y-tick", ("y",)), "y")
    _, x = axis(svg_items(plot, "ba-x-tick", ("x",)), "x")
    assert y_slope < 0, "larger differences (model above consensus) are drawn higher"
    assert SIGN in plot.get_by_test_id("ba-y-axis").text_content()
    points = svg_items(plot, "ba-point", ("data-set", "data-patient", "cx", "cy"))
    lines = svg_items(plot, "ba-line", ("data-set", "data-kind", "y1", "y2"))
    labels = svg_items(plot, "ba-label", ("data-set", "data-kind"))
    for name, patients in (("test", TEST_SET), ("validation", VALIDATION_SET)):
        expected = expected_agreement(patients)
        mine = [point for point in points if point["data-set"] == name]
        assert sorted(point["data-patient"] for point in mine) == sorted(patients), "one point per patient"
        for point in mine:
            mean, difference = expected["points"][point["data-patient"]]
            assert float(point["cx"]) == pytest.approx(x(mean), abs=0.05), point
            assert float(point["cy"]) == pytest.approx(y(difference), abs=0.05), point
        for kind in ("bias", "lower", "upper"):
            (line,) = [line for line in lines if line["data-set"] == name and line["data-kind"] == kind]
            assert float(line["y1"]) == float(line["y2"]) == pytest.approx(y(expected[kind]), abs=0.05), line
            (label,) = [label for label in labels if label["data-set"] == name and label["data-kind"] == kind]
            assert number(label["text"].split()[-1]) == pytest.approx(expected[kind], abs=0.005), label
    assert len(points) == len(TEST_SET) + len(VALIDATION_SET)


def assert_agreement_table(section) -> None:
    for name, patients in (("test", TEST_SET), ("validation", VALIDATION_SET)):
        expected = expected_agreement(patients)
        row = section.locator(f"[data-testid=agreement] tr[data-set='{name}']")
        shown = {cell.get_attribute("data-figure"): cell.inner_text() for cell in row.locator("td").all()}
        assert int(shown.pop("n")) == expected["n"]
        for figure, text in shown.items():
            assert number(text) == pytest.approx(expected[figure], abs=0.005), (name, figure, text)
        assert ("+" in shown["bias"]) == (expected["bias"] > 0), shown["bias"]


def test_admin_reads_a_run_and_activates_it_with_a_reason(registry, open_session, live_server, artifacts, tmp_path):
    users, baseline, run = registry
    # Nothing on the page is taken on trust: the registry stored what numpy gives for these patients.
    for name, patients in (("test", TEST_SET), ("validation", VALIDATION_SET)):
        stored, expected = run.metrics["involvement"][name], expected_agreement(patients)
        assert stored["bias_pct"] == pytest.approx(expected["bias"])
        assert stored["mae_pct"] == pytest.approx(expected["mae"])
    admin = open_session("boss", PASSWORD)
    admin.goto(f"{live_server.url}/models/")
    admin.wait_for_selector("#app[data-ready='1']")
    section = admin.locator(f"[data-testid=model-version][data-version='{run.pk}']")
    assert section.get_attribute("data-active") == "0"
    assert f"Model {run.pk} · merged · demo weights" in section.locator("h2").inner_text()
    assert section.get_by_test_id("demo-label").inner_text().endswith(run.label) and run.label
    provenance = section.get_by_test_id("provenance")
    for field, value in (("threshold", "0.46"), ("seed", "7"), ("trainable-parameters", "1,234,567"),
                         ("lung-method", "lung3d"), ("code-version", run.training_run["code_version"][:12]),
                         ("trained-by", "training job 1"), ("training-time", "5 min")):  # fmt: skip
        assert provenance.locator(f"dd[data-field='{field}']").inner_text() == value, field
    assert_metrics_table(section, run)
    assert SIGN in section.get_by_test_id("sign").inner_text()
    assert_agreement_table(section)
    assert_bland_altman(section)
    section.get_by_test_id("bland-altman").screenshot(path=str(artifacts / "models-bland-altman.png"))
    admin.screenshot(path=str(artifacts / "models-page.png"), full_page=True)

    # -- activation asks why; without a reason nothing is sent
    section.get_by_test_id("activate").click()
    section.get_by_test_id("activation-submit").click()
    assert section.get_by_test_id("activation-reason").evaluate("input => !input.validity.valid")
    assert api_get(admin, f"models/{run.pk}/").json()["is_active"] is False
    reason = f"better test Dice than model {baseline.pk}"
    section.get_by_test_id("activation-reason").fill(reason)
    section.get_by_test_id("activation-submit").click()
    admin.wait_for_selector(f"[data-testid=model-version][data-version='{run.pk}'][data-active='1']")
    shown = api_get(admin, f"models/{run.pk}/").json()
    assert shown["is_active"] is True
    assert {key: shown["activations"][-1][key] for key in ("by", "active", "reason")} == {
        "by": "boss", "active": True, "reason": reason,
    }  # fmt: skip
    previous = api_get(admin, f"models/{baseline.pk}/").json()
    assert previous["is_active"] is False and previous["activations"][-1]["active"] is False
    history = admin.locator(f"[data-testid=model-version][data-version='{run.pk}'] [data-testid=activations] tbody tr")
    assert [cell.inner_text() for cell in history.last.locator("td").all()][1:] == ["boss", "activated", reason]
    assert admin.locator(f"[data-version='{baseline.pk}'] [data-testid=activations] tbody tr").count() == 2
    assert "activated" in admin.locator("#models-status").inner_text()

    # -- the run's line on a patient's trend says what it is
    (series, truth, _), *_ = import_phantom_patient(tmp_path / "phantoms", visits=1, slices=6)
    wait_for_series_jobs(series)
    assert inference_services.involvement_store(series=series, source=run.source, labels=truth) is not None
    admin.goto(f"{live_server.url}/patients/{series.visit.patient_id}/")
    admin.wait_for_selector("#app[data-ready='1']")
    assert admin.locator(f"[data-testid=chart-total_pct] polyline[data-source='{run.source}']").count() == 1
    assert f"Model {run.pk} · merged · demo weights" in admin.locator(".chart-legend").inner_text()

    # -- a clinician reads the same figures, and cannot switch a model or train one
    clinician = open_session("clin", PASSWORD)
    clinician.goto(f"{live_server.url}/models/")
    clinician.wait_for_selector("#app[data-ready='1']")
    assert_metrics_table(clinician.locator(f"[data-testid=model-version][data-version='{run.pk}']"), run)
    assert clinician.locator("[data-testid=model-version]").count() == 2
    for testid in ("activate", "deactivate", "activation-form", "training-form"):
        assert clinician.get_by_test_id(testid).count() == 0, testid


def test_training_started_on_the_models_page_is_followed_and_cancelled_on_the_jobs_page(
    make_user, open_session, live_server, artifacts
):
    make_user("admin", "boss", PASSWORD)
    admin = open_session("boss", PASSWORD)
    admin.goto(f"{live_server.url}/models/")
    admin.wait_for_selector("#app[data-ready='1']")
    form = admin.get_by_test_id("training-form")
    form.get_by_label("Task").select_option("merged")
    form.get_by_label("Training source").select_option("phantoms")
    form.get_by_label("Folds").fill("2")
    form.get_by_label("Epochs").fill("300")
    form.get_by_label("Seed").fill("3")
    form.get_by_test_id("training-submit").click()
    admin.get_by_test_id("training-job-link").click()
    admin.wait_for_url(f"{live_server.url}/jobs/")
    job_id = admin.wait_for_selector("#jobs li[data-state='running']", timeout=60_000).get_attribute("data-job")
    job = admin.locator(f"#jobs li[data-job='{job_id}']")
    detail = job.get_by_test_id("job-detail")
    detail.filter(has_text=re.compile(r"epoch \d+ of 300")).wait_for(timeout=240_000)
    shown = api_get(admin, f"jobs/{job_id}/").json()
    assert shown["kind"] == "training" and shown["detail"]["folds"] == 2 and shown["detail"]["epochs"] == 300
    progress = r"merged · fold [12] of 2 · epoch \d+ of 300 · loss \d\.\d{3} · val_loss \d\.\d{3}"
    assert re.search(progress, detail.inner_text()), detail.inner_text()
    admin.screenshot(path=str(artifacts / "jobs-training.png"))
    job.get_by_test_id("cancel-job").click()
    admin.get_by_test_id("confirm").click()
    item = admin.wait_for_selector(f"#jobs li[data-job='{job_id}'][data-state='cancelled']", timeout=240_000)
    assert item.query_selector("[data-testid=job-state]").inner_text() == "cancelled"
    assert item.query_selector("[data-testid=cancel-job]") is None
    shown = api_get(admin, f"jobs/{job_id}/").json()
    assert shown["state"] == "cancelled" and shown["cancel_requested"] is True
    assert ModelVersion.objects.count() == 0, "a cancelled run registers nothing"
