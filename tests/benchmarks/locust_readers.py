"""Locust users of the load benchmark (run by load_readers.py, which seeds the accounts): readers who
scroll through their series' slices and autosave their mask as they paint, and clinicians who open the
patient list and a patient's involvement trend. FastHttpUser (geventhttpclient): locust shares the
server's cores, and its lighter client leaves them more of the time."""

from __future__ import annotations

import gc
import io
import itertools
import json
import os
import random
import time

import numpy as np
from locust import FastHttpUser, between, events, task
from PIL import Image

CAST = json.loads(open(os.environ["LOAD_CAST_FILE"]).read())  # noqa: SIM115 - read once at start
READERS = itertools.cycle(CAST["readers"])
CLINICIANS = itertools.cycle(CAST["clinicians"])
FRAME_ACCEPT = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'  # as Cornerstone asks
# Every request's end time, latency and kind, and when the last user had started: load_readers.py
# computes the percentiles (exact, where locust rounds them) for the whole run and for its steady state.
REQUEST_LOG = open(os.environ["LOAD_REQUEST_LOG"], "w", buffering=1)  # noqa: SIM115 - open for the run


@events.request.add_listener
def log_request(request_type, name, response_time, exception=None, **_):
    REQUEST_LOG.write(f"{time.time():.4f} {response_time:.2f} {int(exception is None)} {name}\n")


@events.spawning_complete.add_listener
def log_all_started(user_count, **_):
    REQUEST_LOG.write(f"{time.time():.4f} all-started {user_count}\n")


def stroke_png(rows: int, columns: int, seed: int) -> bytes:
    """A label map with a few brush strokes of both patterns, as a reader's autosave sends it."""
    generator = np.random.default_rng(seed)
    labels = np.zeros((rows, columns), dtype=np.uint8)
    for _ in range(6):
        y, x = generator.integers(40, rows - 40), generator.integers(40, columns - 40)
        labels[y - 12 : y + 12, x - 30 : x + 30] = generator.integers(1, 3)
    buffer = io.BytesIO()
    Image.fromarray(labels).save(buffer, format="PNG")
    return buffer.getvalue()


class SignedIn(FastHttpUser):
    """A user on the next account of its kind (`accounts`), sending its API token with every request."""

    abstract = True
    accounts: itertools.cycle

    def on_start(self):
        self.me = next(self.accounts)
        self.auth = {"Authorization": f"Token {self.me['token']}"}


class Reader(SignedIn):
    accounts = READERS
    fixed_count = len(CAST["readers"])
    wait_time = between(0.2, 1.0)

    def on_start(self):
        super().on_start()
        self.z = random.randrange(self.me["slices"])
        self.versions: dict[int, int] = {}
        self.strokes = [stroke_png(self.me["rows"], self.me["columns"], seed) for seed in range(4)]

    @task(4)
    def scroll(self):
        self.z = (self.z + 1) % self.me["slices"]
        # The viewer's request for a slice: its WADO-RS frame as stored.
        self.client.get(self.me["frames"][self.z], name="image GET", headers=self.auth | {"Accept": FRAME_ACCEPT})

    @task(1)
    def autosave(self):
        version = self.versions.get(self.z, 0)
        with self.client.put(
            f"/api/v1/readings/{self.me['reading']}/slices/{self.z}/mask", data=random.choice(self.strokes),
            headers={**self.auth, "Content-Type": "image/png", "If-Match": f'"{version}"'}, name="autosave PUT",
            catch_response=True,
        ) as response:  # fmt: skip
            if response.status_code == 200:
                self.versions[self.z] = response.json()["version"]
            else:
                response.failure(f"{response.status_code}: {response.text[:200]}")


class Clinician(SignedIn):
    accounts = CLINICIANS
    fixed_count = len(CAST["clinicians"])
    wait_time = between(1.0, 3.0)

    @task
    def trend(self):
        self.client.get("/api/v1/patients/", name="patient list GET", headers=self.auth)
        patient = random.choice(CAST["patients"])
        self.client.get(f"/api/v1/patients/{patient}/involvement/", name="trend GET", headers=self.auth)


# The load generator's own full garbage collections would show as latency of whatever requests are in
# flight; keep its long-lived objects (gevent, locust, numpy) out of the collector's reach.
gc.freeze()
