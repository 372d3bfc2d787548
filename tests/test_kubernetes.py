"""deploy/kubernetes/: the docker-compose cluster as Kubernetes manifests, checked without a cluster.

No Kubernetes API server runs here and ``kubectl --dry-run=client`` needs one (it asks the server
for its API groups and OpenAPI schema), so every manifest is validated against the offline
Kubernetes JSON schemas of ``kubernetes-validate`` (dev extra; strict: unknown fields fail). A
schema cannot know what geoseg needs, so the rest checks that: one shared claim at the paths of
docker-compose.yml in every pod that runs geoseg code (workers never share the client's disk),
workers and the client pointed at the scheduler's Service, the GPU worker's GPU and ``GPU``
resource, the compose image, and the settings embedded workers get."""

import posixpath
from pathlib import Path
from typing import Any

import pytest
import yaml

from geoseg.cluster.connect import WORKER_ENV

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy" / "kubernetes"
FILES = sorted(DEPLOY.rglob("*.yaml"))
DOCS = {path: [d for d in yaml.safe_load_all(path.read_text()) if d] for path in FILES}
ALL = [doc for docs in DOCS.values() for doc in docs]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
COMPOSE_WORKER = COMPOSE["services"]["cpu-worker"]  # all compose services share its settings
COMPOSE_IMAGE = COMPOSE_WORKER["image"]
# docker-compose.yml's mount targets, as each pod must see them: subPath of the shared claim.
COMPOSE_PATHS = {v.removesuffix(":ro").rsplit(":", 1)[1] for v in COMPOSE_WORKER["volumes"]}
SHARED_CLAIM = "geoseg-shared"
# Kubernetes releases to validate against (the oldest still commonly run, and the package's latest).
KUBERNETES_VERSIONS = ["1.30.0", "latest"]


def one(kind: str, name: str) -> dict[str, Any]:
    [doc] = [d for d in ALL if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = doc["spec"]["template"]["spec"]
    return spec


def container(doc: dict[str, Any]) -> dict[str, Any]:
    [only] = pod_spec(doc)["containers"]
    return only


def workloads() -> list[dict[str, Any]]:
    return [d for d in ALL if d["kind"] in ("Deployment", "Job")]


def shared_mounts(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{mountPath: mount}`` of the volumes backed by the shared claim, in ``doc``'s pod."""
    claimed = {
        v["name"]
        for v in pod_spec(doc).get("volumes", [])
        if v.get("persistentVolumeClaim", {}).get("claimName") == SHARED_CLAIM
    }
    mounts = container(doc).get("volumeMounts", [])
    return {m["mountPath"]: m for m in mounts if m["name"] in claimed}


def scheduler_address() -> str:
    service = one("Service", "geoseg-scheduler")
    [port] = [p["port"] for p in service["spec"]["ports"] if p["name"] == "comm"]
    return f"tcp://{service['metadata']['name']}:{port}"


def test_the_files_hold_the_cluster_and_a_client_job_apart() -> None:
    top = [d["kind"] for d in DOCS[DEPLOY / "geoseg.yaml"]]
    assert sorted(top) == sorted(
        ["ConfigMap", "PersistentVolumeClaim", "Deployment", "Service", "Deployment", "Deployment"]
    )
    # `kubectl apply -f deploy/kubernetes/` (not recursive) must not start a run.
    assert all(path.parent == DEPLOY / "jobs" for path in FILES if path.name != "geoseg.yaml")
    assert [d["kind"] for d in DOCS[DEPLOY / "jobs" / "run-samples.yaml"]] == ["Job"]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_passes_the_kubernetes_schemas(version: str) -> None:
    kv = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate not installed")
    version = kv.latest_version() if version == "latest" else version
    for path, docs in DOCS.items():
        for doc in docs:
            try:
                kv.validate(doc, version, strict=True)
            except kv.ValidationError as exc:
                pytest.fail(
                    f"{path.relative_to(ROOT)}: {doc['kind']}/{doc['metadata']['name']}: {exc}"
                )


def test_every_pod_mounts_the_shared_claim_at_the_compose_paths() -> None:
    claim = one("PersistentVolumeClaim", SHARED_CLAIM)
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]  # every pod, on any node, at once
    assert {"/workflows", "/samples", "/data", "/out"} <= COMPOSE_PATHS
    for doc in workloads():
        mounts = shared_mounts(doc)
        assert set(mounts) == COMPOSE_PATHS, doc["metadata"]["name"]
        assert {path: m.get("subPath") for path, m in mounts.items()} == {
            path: path.lstrip("/") for path in COMPOSE_PATHS
        }, doc["metadata"]["name"]
        # The preflight writes into the output folder from the client and from every worker.
        assert not mounts["/out"].get("readOnly", False), doc["metadata"]["name"]


def test_workers_and_the_client_use_the_scheduler_service() -> None:
    service = one("Service", "geoseg-scheduler")
    assert service["spec"]["type"] == "ClusterIP"  # a plain tcp:// scheduler stays inside
    scheduler = one("Deployment", "geoseg-scheduler")
    assert service["spec"]["selector"] == scheduler["spec"]["template"]["metadata"]["labels"]
    command = container(scheduler)["command"]
    assert command[:2] == ["dask", "scheduler"]
    ports = {p["name"]: p["containerPort"] for p in container(scheduler)["ports"]}
    assert str(ports["comm"]) == command[command.index("--port") + 1]
    assert {p["targetPort"] for p in service["spec"]["ports"]} == set(ports)

    address = scheduler_address()
    assert address == "tcp://geoseg-scheduler:8786"
    for name in ("geoseg-cpu-worker", "geoseg-gpu-worker"):
        assert container(one("Deployment", name))["command"][:3] == ["dask", "worker", address]
    job = container(one("Job", "geoseg-run-samples"))["command"]
    assert job[job.index("--scheduler") + 1] == address


def test_gpu_worker_requests_a_gpu_and_advertises_the_resource() -> None:
    gpu = container(one("Deployment", "geoseg-gpu-worker"))
    assert str(gpu["resources"]["limits"]["nvidia.com/gpu"]) == "1"
    assert gpu["command"][-2:] == ["--resources", "GPU=1"]
    assert gpu["command"][gpu["command"].index("--nthreads") + 1] == "1"
    cpu = container(one("Deployment", "geoseg-cpu-worker"))
    assert "--resources" not in cpu["command"]
    assert "nvidia.com/gpu" not in cpu["resources"].get("limits", {})


def test_cpu_worker_runs_a_thread_per_cpu_it_gets() -> None:
    worker = container(one("Deployment", "geoseg-cpu-worker"))
    threads = worker["command"][worker["command"].index("--nthreads") + 1]
    assert threads == str(worker["resources"]["requests"]["cpu"])
    assert threads == str(worker["resources"]["limits"]["cpu"])


def test_every_pod_runs_the_compose_image_with_the_worker_settings() -> None:
    for doc in workloads():
        assert container(doc)["image"] == COMPOSE_IMAGE, doc["metadata"]["name"]
        sources = [
            s["configMapRef"]["name"] for s in container(doc)["envFrom"] if "configMapRef" in s
        ]
        assert sources == ["geoseg-env"], doc["metadata"]["name"]
    env = one("ConfigMap", "geoseg-env")["data"]
    assert env["HF_HUB_OFFLINE"] == "1"
    for key in ("GDAL_DISABLE_READDIR_ON_OPEN", "GDAL_HTTP_MAX_RETRY", "GDAL_HTTP_RETRY_DELAY"):
        assert env[key] == WORKER_ENV[key], key  # what embedded workers get
    for key, value in COMPOSE_WORKER["environment"].items():
        assert env[key] == value, key


def test_client_job_runs_a_shipped_workflow_whose_paths_are_on_the_claim() -> None:
    job = one("Job", "geoseg-run-samples")
    client = container(job)
    command = client["command"]
    assert command[:2] == ["geoseg", "run"] and "--no-progress" in command
    workflow_path = command[2]
    assert posixpath.dirname(workflow_path) == "/workflows"
    workflow = yaml.safe_load((ROOT / "workflows" / posixpath.basename(workflow_path)).read_text())
    mounts = shared_mounts(job)

    def mounted_at(path: str) -> str:
        """The mount of the claim that ``path`` (relative to the workflow file) lands on."""
        absolute = posixpath.normpath(posixpath.join("/workflows", path))
        [mount] = [m for m in mounts if absolute == m or absolute.startswith(m + "/")]
        return mount

    for scene in workflow["scenes"]:
        mounted_at(scene)
    assert not mounts[mounted_at(workflow["outputs"]["dir"])].get("readOnly", False)
    # S3/HTTP credentials: from a Secret that may be absent; geoseg forwards them to the workers.
    assert {"secretRef": {"name": "geoseg-s3", "optional": True}} in client["envFrom"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_the_instructions_name_these_files_and_the_storage_rule() -> None:
    header = (DEPLOY / "geoseg.yaml").read_text().split("\napiVersion:")[0]
    assert "kubectl apply -f deploy/kubernetes/" in header
    for path in FILES:
        if path.parent == DEPLOY / "jobs":
            assert f"kubectl create -f {path.relative_to(ROOT)}" in header + path.read_text()
    assert "ReadWriteMany" in header and "storageClassName" in header and "same path" in header
