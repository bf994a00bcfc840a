"""The README's run command end to end: one process tree serves the API, the worker computes the
demo's lung masks, and a signal stops everything it started."""

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

from ildplatform import embedded


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.timeout(300)
def test_run_embedded_serves_demo_data_computes_lung_masks_and_stops_cleanly(tmp_path):
    web_port, redis_port = embedded.free_port(), embedded.free_port()
    env = os.environ | {
        "ILD_VAR_DIR": str(tmp_path),
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
    }
    env.pop("DATABASE_URL", None)  # the embedded default is SQLite
    log = open(tmp_path / "run.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [sys.executable, "manage.py", "run_embedded", "--port", str(web_port), "--demo-slices", "6"],
        cwd=embedded.REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{web_port}"
    try:
        embedded.wait_for_port(web_port, process, timeout_s=240)
        token = requests.post(
            f"{base}/api/v1/auth/token/", data={"username": "clinician", "password": "clinician-demo"}
        )
        headers = {"Authorization": f"Token {token.json()['token']}"}
        patients = requests.get(f"{base}/api/v1/patients/", headers=headers).json()
        assert len(patients) >= 3 and all(len(p["visits"]) >= 3 for p in patients)
        series_id = patients[0]["visits"][0]["series"][0]["id"]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            mask = requests.get(f"{base}/api/v1/series/{series_id}/slices/0/lung-mask", headers=headers)
            if mask.status_code == 200:
                break
            time.sleep(1)
        assert mask.status_code == 200 and mask.headers["Content-Type"] == "image/png"
        assert requests.get(f"{base}/api/v1/patients/").status_code in (401, 403)
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(60)
        log.close()
    assert code == 0, (tmp_path / "run.log").read_text()[-3000:]
    assert not listening(web_port) and not listening(redis_port)
