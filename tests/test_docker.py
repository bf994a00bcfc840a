"""docker/: the compose file hangs together (every service restarts and is health-checked, every value it
needs is in the env template, dependencies wait for health, the image targets exist), and the settings
it gives the app pass `manage.py check --deploy`, and Compose itself (`docker compose config`, or
Debian's `docker-compose`, which validates without a Docker daemon) accepts the file with the template
filled in and refuses it while a secret is missing."""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest
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


def compose_command() -> list[str]:
    """Compose v2 (the docker plugin) or v1 (Debian's docker-compose); both validate without a daemon."""
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    pytest.skip("neither `docker compose` nor `docker-compose` is installed (apt install docker-compose)")


def compose_config(env_file: Path) -> subprocess.CompletedProcess:
    command = [*compose_command(), "--file", str(DOCKER / "compose.yaml"), "--env-file", str(env_file), "config"]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_compose_validates_the_file_with_the_env_template_filled_in(tmp_path):
    env_file = tmp_path / "filled.env"
    filled = {name: value or secrets.token_urlsafe(20) for name, value in ENV_TEMPLATE.items()}
    env_file.write_text("".join(f"{name}={value}\n" for name, value in filled.items()))
    validated = compose_config(env_file)
    assert validated.returncode == 0, validated.stderr
    resolved = yaml.safe_load(validated.stdout)
    assert set(resolved["services"]) == set(COMPOSE["services"])
    gpu = resolved["services"]["gpu-worker"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert "gpu" in gpu["capabilities"] and gpu["count"] == 1  # one GPU per worker


def test_compose_refuses_to_start_while_a_secret_is_missing(tmp_path):
    env_file = tmp_path / "unfilled.env"
    env_file.write_text((DOCKER / "env.example").read_text())
    refused = compose_config(env_file)
    assert refused.returncode != 0
    assert "SECRET_KEY" in refused.stderr or "POSTGRES_PASSWORD" in refused.stderr, refused.stderr
