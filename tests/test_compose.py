"""docker-compose.yml: the services a cluster needs, safe defaults, one image, shared folders.

No Docker engine runs here, so the file is checked as data, and by ``docker-compose config`` where
a docker-compose client is installed (Debian's package ``docker-compose``)."""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def test_services_share_one_image_and_the_same_folders() -> None:
    assert set(SERVICES) == {"scheduler", "cpu-worker", "gpu-worker", "client"}
    assert {s["image"] for s in SERVICES.values()} == {"geoseg:0.1.0"}
    for service in SERVICES.values():
        targets = {v.removesuffix(":ro").rsplit(":", 1)[1] for v in service["volumes"]}
        assert {"/workflows", "/samples", "/out", "/data"} <= targets
    assert (ROOT / "Dockerfile").exists()


def test_ports_bind_to_localhost_by_default() -> None:
    ports = SERVICES["scheduler"]["ports"]
    assert ports == ["${GEOSEG_BIND:-127.0.0.1}:8786:8786", "${GEOSEG_BIND:-127.0.0.1}:8787:8787"]
    assert all("ports" not in s for name, s in SERVICES.items() if name != "scheduler")


def test_gpu_worker_reserves_a_gpu_and_advertises_the_resource() -> None:
    gpu = SERVICES["gpu-worker"]
    [device] = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    assert gpu["command"][-2:] == ["--resources", "GPU=1"]
    assert "--resources" not in SERVICES["cpu-worker"]["command"]
    assert "tcp://scheduler:8786" in SERVICES["cpu-worker"]["command"]


def test_client_runs_a_mounted_workflow_on_the_scheduler() -> None:
    command = " ".join(SERVICES["client"]["command"])
    assert "geoseg run /workflows/" in command and "--scheduler tcp://scheduler:8786" in command
    assert (ROOT / "workflows" / "samples.yaml").exists()


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose not installed")
def test_docker_compose_accepts_the_file() -> None:
    subprocess.run(
        ["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
