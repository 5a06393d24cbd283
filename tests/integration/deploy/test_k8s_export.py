"""``carve export k8s``: manifests valid for Kubernetes, probes on /readyz and /healthz,
secrets kept out of ConfigMaps, and the gateway's HTTPRoute."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import yaml

from migration.deploy.kubernetes import manifest_files
from tests.support.deploy_plans import migrated_plan

K8S_VERSION = "1.30"


def documents(tmp_path: Path) -> dict[str, list[dict]]:
    files = manifest_files(migrated_plan(tmp_path), tmp_path / "k8s")
    return {path.name: [d for d in yaml.safe_load_all(text) if d]
            for path, text in files.items()}


def test_every_manifest_is_valid_for_kubernetes(tmp_path: Path) -> None:
    for name, docs in documents(tmp_path).items():
        if name == "httproute.yaml":
            continue  # a Gateway API resource: not in the core schemas
        for doc in docs:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_each_component_has_a_config_map_deployment_service_and_probes(
    tmp_path: Path
) -> None:
    found = documents(tmp_path)
    assert {"monolith.yaml", "inventory-service.yaml", "inventory-worker.yaml", "relay.yaml",
            "worker.yaml", "gateway.yaml", "httproute.yaml"} <= set(found)
    config, deployment, service = found["inventory-service.yaml"]
    assert [config["kind"], deployment["kind"], service["kind"]] == [
        "ConfigMap", "Deployment", "Service"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert "DATABASE_URL" not in config["data"]  # a secret: from carve-secrets
    assert {"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {
        "name": "carve-secrets", "key": "database-url-inventory"}}} in container["env"]
    assert config["data"]["CARVE_BROKER_URL"] == "redis://redis:6379/0"
    gateway = found["gateway.yaml"][1]["spec"]["template"]["spec"]["containers"][0]
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/_carve/healthz"
    route = found["httproute.yaml"][0]
    assert route["kind"] == "HTTPRoute"


def test_the_gateway_starts_with_the_plans_routes(tmp_path: Path) -> None:
    _config, deployment, _service, routes = documents(tmp_path)["gateway.yaml"]
    pod = deployment["spec"]["template"]["spec"]
    assert '"/api/v1/inventory"' in routes["data"]["routes.json"]
    assert pod["initContainers"][0]["command"] == [
        "cp", "/seed/routes.json", "/app/routes/routes.json"]
    command = pod["containers"][0]["command"]
    assert command[command.index("--routes") + 1] == "/app/routes/routes.json"
