"""A whole review over the API on a phantom series, with a real Redis and a real Celery worker."""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy import ndimage as ndi

from annotations.models import AuditEvent, ConsensusMask
from ildplatform import labelmaps, services
from ildplatform.models import Job
from inference.models import LungMask
from inference.services import series_lung_volume

from .review_fixtures import client_of
from .test_inference_pipeline import import_phantom


def wait_for_jobs(series, kind: str, timeout_s: float = 180) -> Job:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        jobs = list(Job.objects.filter(series=series, kind=kind))
        if jobs and all(job.state in (Job.State.DONE, Job.State.FAILED) for job in jobs):
            assert all(job.state == Job.State.DONE for job in jobs), [job.error for job in jobs]
            return jobs[-1]
        time.sleep(0.2)
    raise AssertionError(f"{kind} jobs of series {series.pk} did not finish in {timeout_s} s")


def perturbed(truth: np.ndarray, how: str) -> np.ndarray:
    """Two readers' versions of the truth: one draws tighter, one wider and calls some GGO reticulation."""
    labels = np.zeros_like(truth)
    for value in (1, 2):
        region = truth == value
        region = ndi.binary_erosion(region) if how == "tight" else ndi.binary_dilation(region, iterations=2)
        labels[region & (labels == 0)] = value
    if how == "wide":
        labels[(labels == 2) & (np.arange(labels.shape[1])[None, :] % 7 == 0)] = 1
    return labels


def dice_np(a: np.ndarray, b: np.ndarray) -> float:
    return 1.0 if not a.any() and not b.any() else 2 * np.logical_and(a, b).sum() / (a.sum() + b.sum())


@pytest.mark.timeout(600)
def test_two_readers_adjudicator_and_clinician_through_the_api(live_services, tmp_path):
    live_services.start_worker()
    series, visit = import_phantom(tmp_path / "ph", seed=9, slices=12)
    truth = np.load(tmp_path / "ph" / visit["truth"])["labels"]
    users = {
        role: services.user_create(username=name, role=role_group, password="pass-word-1")
        for role, name, role_group in (
            ("admin", "boss", "admin"), ("reader_1", "ann", "reader"), ("reader_2", "ben", "reader"),
            ("adjudicator", "cid", "adjudicator"), ("clinician", "dora", "clinician"),
        )
    }  # fmt: skip
    assigned = client_of(users["admin"]).post(
        f"/api/v1/series/{series.pk}/readings/",
        {"reader_1": "ann", "reader_2": "ben", "adjudicator": "cid"}, format="json",
    )  # fmt: skip
    assert assigned.status_code == 201, assigned.content

    drawn = {"reader_1": perturbed(truth, "tight"), "reader_2": perturbed(truth, "wide")}
    for role, labels in drawn.items():
        client = client_of(users[role])
        (reading,) = [r for r in client.get("/api/v1/readings/?mine=1").json() if r["series_id"] == series.pk]
        for z in range(series.slice_count):
            if not labels[z].any():
                continue
            url = f"/api/v1/readings/{reading['id']}/slices/{z}/mask"
            etag = client.get(url)["ETag"]
            saved = client.put(url, labelmaps.encode_png(labels[z]), content_type="image/png", HTTP_IF_MATCH=etag)
            assert saved.status_code == 200, saved.content
        assert client.post(f"/api/v1/readings/{reading['id']}/submit/").status_code == 200

    wait_for_jobs(series, "agreement")
    adjudicator = client_of(users["adjudicator"])
    agreement = adjudicator.get(f"/api/v1/series/{series.pk}/agreement/").json()
    first, second = drawn["reader_1"], drawn["reader_2"]
    for name, a, b in (("reticulation", first == 1, second == 1), ("ggo", first == 2, second == 2),
                       ("combined", first > 0, second > 0)):  # fmt: skip
        assert agreement["series"][f"dice_{name}"] == pytest.approx(dice_np(a, b), abs=1e-9), name
        union_ab = np.logical_or(a, b).sum()
        jaccard = 1.0 if union_ab == 0 else np.logical_and(a, b).sum() / union_ab
        assert agreement["series"][f"jaccard_{name}"] == pytest.approx(jaccard, abs=1e-9), name
    # Kappa inside the lung region, by hand: lung3d's stored masks as they are (they hold the dense lung).
    assert set(LungMask.objects.filter(slice__series=series).values_list("method", flat=True)) == {"lung3d"}
    region = series_lung_volume(series)
    a, b = first[region].astype(int), second[region].astype(int)
    confusion = np.zeros((3, 3))
    np.add.at(confusion, (a, b), 1)
    observed = np.trace(confusion) / confusion.sum()
    expected = (confusion.sum(0) * confusion.sum(1)).sum() / confusion.sum() ** 2
    assert agreement["series"]["kappa_lung"] == pytest.approx((observed - expected) / (1 - expected), abs=1e-9)
    ranked = [s["differing_pixels"] for s in agreement["slices_by_disagreement"]]
    assert ranked == sorted(ranked, reverse=True)
    worst = agreement["slices_by_disagreement"][0]
    assert worst["differing_pixels"] == int((first[worst["z_index"]] != second[worst["z_index"]]).sum())
    # The disagreement map tells every case apart, recomputed here from the two readers' labels.
    for z in range(series.slice_count):
        a, b = first[z], second[z]
        expected = np.select(
            [(a == 1) & (b == 1), (a == 2) & (b == 2), (a > 0) & (b > 0), a > 0, b > 0], [4, 5, 3, 1, 2], default=0
        )
        shown = adjudicator.get(f"/api/v1/series/{series.pk}/slices/{z}/disagreement")
        np.testing.assert_array_equal(labelmaps.decode_png(shown.content), expected, err_msg=f"slice {z}")

    undecided = adjudicator.get(f"/api/v1/series/{series.pk}/consensus/").json()["undecided_slices"]
    assert undecided
    refused = adjudicator.post(f"/api/v1/series/{series.pk}/consensus/finalize/")
    assert refused.status_code == 409 and refused.json()["undecided_slices"] == undecided
    for z in undecided:
        decision = adjudicator.post(f"/api/v1/series/{series.pk}/consensus/slices/{z}/", {"decision": "union"},
                                    format="json")  # fmt: skip
        assert decision.status_code == 200, decision.content
    finalised = adjudicator.post(f"/api/v1/series/{series.pk}/consensus/finalize/")
    assert finalised.status_code == 200, finalised.content
    wait_for_jobs(series, "involvement")

    union = np.where(first > 0, first, second)
    for mask in ConsensusMask.objects.filter(review__series=series).select_related("slice"):
        z = mask.slice.z_index
        assert np.array_equal(labelmaps.decode_png(bytes(mask.labels_png)), union[z])

    trend = client_of(users["clinician"]).get(f"/api/v1/patients/{series.visit.patient_id}/involvement/").json()
    sources = {row["source"]: row for row in trend}
    assert {"reader_1", "reader_2", "consensus"} <= set(sources)
    assert sources["reader_1"]["total_pct"] < sources["consensus"]["total_pct"]
    assert sources["reader_2"]["total_pct"] <= sources["consensus"]["total_pct"] + 1e-9

    actions = set(AuditEvent.objects.filter(series=series).values_list("action", flat=True))
    assert {"assign", "mask_save", "submit", "decide", "finalize"} <= actions
