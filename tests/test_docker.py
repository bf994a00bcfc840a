"""docker/: the compose file hangs together (every service restarts and is health-checked, every value it
needs is in the env template, dependencies wait for health, the image targets exist), and the settings
it gives the app pass `manage.py check --deploy`. (`docker compose config` needs the compose plugin,
which this test machine does not have: these checks stand in for it.)"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import yaml

from .test_production import manage

DOCKER = Path(__file__).resolve().parents[1] / "docker"
COMPOSE = yaml.safe_load((DOCKER / "compose.yaml").read_text())
DOCKERFILE = (DOCKER / "Dockerfile").read_text()
ENV_TEMPLATE = dict(
    line.split("=", 1)
    for line in (DOCKER / "env.example").read_text().splitlines()
    if line and not line.startswith("#")
)
ONE_SHOT = {"minio-bucket"}


def dockerfile_stages() -> dict[str, str]:
    """Each `FROM ... AS name` stage's text."""
    parts = re.split(r"^FROM \S+ AS (\S+)\s*$", DOCKERFILE, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_every_long_running_service_restarts_and_is_health_checked():
    stages = dockerfile_stages()
    for name, service in COMPOSE["services"].items():
        if name in ONE_SHOT:
            continue
        assert service.get("restart") == "unless-stopped", name
        target = service.get("build", {}).get("target")
        assert "healthcheck" in service or (target and "HEALTHCHECK" in stages[target]), f"{name} has no health check"


def test_dependencies_wait_for_health_of_services_that_have_it():
    stages = dockerfile_stages()
    for name, service in COMPOSE["services"].items():
        for needed, how in (service.get("depends_on") or {}).items():
            assert needed in COMPOSE["services"], f"{name} depends on unknown {needed}"
            if how["condition"] == "service_healthy":
                other = COMPOSE["services"][needed]
                target = other.get("build", {}).get("target")
                assert "healthcheck" in other or (target and "HEALTHCHECK" in stages[target]), (name, needed)


def test_image_targets_and_volumes_exist():
    stages = dockerfile_stages()
    assert {"viewer", "base", "web", "cpu-worker", "gpu-worker"} <= set(stages)
    assert "npm run build" in stages["viewer"] and "--from=viewer" in stages["base"]  # the web image has the viewer
    assert "--queues" in stages["gpu-worker"] or '-Q", "gpu"' in stages["gpu-worker"]
    for name, service in COMPOSE["services"].items():
        if "build" in service:
            assert service["build"]["target"] in stages, name
        for volume in service.get("volumes", []):
            assert volume.split(":")[0] in COMPOSE["volumes"], (name, volume)
    assert "--appendonly" in COMPOSE["services"]["redis"]["command"]  # queued jobs survive a broker restart


def test_every_value_the_compose_file_requires_is_in_the_env_template():
    text = (DOCKER / "compose.yaml").read_text()
    required = set(re.findall(r"\$\{(\w+):\?", text))
    assert required and required <= set(ENV_TEMPLATE), required - set(ENV_TEMPLATE)


def test_the_app_settings_of_the_compose_file_pass_check_deploy(tmp_path):
    values = {name: value or secrets.token_urlsafe(50) for name, value in ENV_TEMPLATE.items()}

    def resolved(value: str) -> str:
        return re.sub(r"\$\{(\w+)(?::[?-]([^}]*))?\}", lambda m: values.get(m.group(1)) or m.group(2) or "", value)

    environment = {name: resolved(str(value)) for name, value in COMPOSE["x-app"]["environment"].items()}
    environment.pop("DATABASE_URL")  # the check needs no database server; a local file stands in
    environment.pop("S3_BUCKET")  # django-storages (the s3 extra) is not installed for the test suite
    checked = manage(["check", "--deploy", "--fail-level", "WARNING"], tmp_path, **environment)
    assert checked.returncode == 0, checked.stdout + checked.stderr
