"""50 writers save versions of one mask at once over real HTTP: each save is a new version or a 409."""

from __future__ import annotations

import threading

import numpy as np
import requests
from rest_framework.authtoken.models import Token

from annotations.models import MaskVersion
from ildplatform import labelmaps

from .review_fixtures import build_cast

WRITERS = 50
ATTEMPTS = 3


def test_fifty_concurrent_writers_never_lose_a_version(live_server, transactional_db):
    cast = build_cast("assigned", seed="concurrency")
    token = Token.objects.create(user=cast.r1.user).key
    url = f"{live_server.url}/api/v1/readings/{cast.r1.pk}/slices/0/mask"
    outcomes: list[tuple[int, int | None]] = []
    lock = threading.Lock()
    start = threading.Barrier(WRITERS)

    def writer(index: int) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Token {token}"
        labels = np.zeros((64, 64), dtype=np.uint8)
        labels[index % 64, :] = 1 + index % 2  # every writer paints its own row
        body = labelmaps.encode_png(labels)
        start.wait()
        for _ in range(ATTEMPTS):
            current = session.get(url, timeout=60)
            response = session.put(
                url, data=body, timeout=60,
                headers={"Content-Type": "image/png", "If-Match": current.headers["ETag"]},
            )  # fmt: skip
            version = response.json().get("version") if response.status_code == 200 else None
            with lock:
                outcomes.append((response.status_code, version))

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    statuses = [status for status, _ in outcomes]
    assert len(outcomes) == WRITERS * ATTEMPTS
    assert set(statuses) <= {200, 409}, sorted(set(statuses))
    saved = sorted(version for status, version in outcomes if status == 200)
    stored = list(
        MaskVersion.objects.filter(reading=cast.r1, slice__z_index=0)
        .order_by("version")
        .values_list("version", flat=True)
    )
    print(f"\n{WRITERS} writers x {ATTEMPTS}: {len(saved)} saved (200), {statuses.count(409)} refused (409)")
    assert len(saved) >= 1
    assert stored == saved == list(range(1, len(saved) + 1)), "every 200 is one stored version, none lost"
