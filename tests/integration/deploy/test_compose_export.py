"""``carve export compose``: the committed docker-compose.yml is the committed plan's, and
every file it writes is valid Compose with start-up gated on health."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from migration.deploy.compose import compose
from migration.deploy.exports import compose_files, load_plan
from tests.support.deploy_plans import migrated_plan
from tests.support.processes import ROOT

# Draft 7, as the schema declares ($schema lacks the '#' jsonschema looks the draft up by).
COMPOSE_SPEC = jsonschema.Draft7Validator(
    json.loads((ROOT / "tests/schemas/compose-spec.json").read_text()))


def test_the_committed_compose_file_and_dashboards_are_the_committed_plans() -> None:
    files = compose_files(load_plan(ROOT / "carve.toml"), None)
    drifted = [str(p.relative_to(ROOT)) for p, text in files.items()
               if not p.is_file() or p.read_text() != text]
    assert drifted == [], "regenerate with: carve export compose"
    check = subprocess.run([sys.executable, "-m", "migration.cli", "export", "compose",
                            "--check"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.parametrize("plan_of", ["committed", "migrated"])
def test_the_compose_file_follows_the_compose_specification(plan_of: str, tmp_path: Path) -> None:
    plan = load_plan(ROOT / "carve.toml") if plan_of == "committed" else migrated_plan(tmp_path)
    text = next(iter(compose_files(plan, tmp_path / "docker-compose.yml").values()))
    COMPOSE_SPEC.validate(yaml.safe_load(text))


def test_the_specification_refuses_what_compose_would() -> None:
    wrong = {"services": {"a": {"image": "x", "depends_on": {"b": {"condition": "healthy"}}}}}
    with pytest.raises(jsonschema.ValidationError, match="healthy"):
        COMPOSE_SPEC.validate(wrong)


def test_a_migrated_plan_runs_every_process_gated_on_health(tmp_path: Path) -> None:
    services = compose(migrated_plan(tmp_path))["services"]
    assert {"postgres", "postgres-users", "postgres-inventory", "redis", "monolith",
            "inventory-service", "inventory-worker", "relay", "worker", "gateway",
            "prometheus", "grafana", "jaeger"} <= set(services)
    for name, service in services.items():
        for needed, condition in service.get("depends_on", {}).items():
            assert needed in services, f"{name} depends on a missing {needed}"
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in services[needed], f"{needed} has no health check"
    assert services["inventory-service"]["build"] == {"context": "extracted/inventory-service"}
    assert services["inventory-service"]["environment"]["DATABASE_URL"].endswith(
        "@postgres-inventory:5432/inventory")
    assert services["inventory-worker"]["depends_on"]["inventory-service"] == {
        "condition": "service_healthy"}
    monolith = services["monolith"]["environment"]
    assert monolith["CARVE_INVENTORY_URL"] == "http://inventory-service:8000"
    assert monolith["DATABASE_URL_USERS"].endswith("@postgres-users:5432/users")
    gateway = services["gateway"]["command"]
    assert "inventory=http://inventory-service:8000" in gateway
    assert gateway[gateway.index("--routes") + 1] == "/app/routes/routes.json"


def test_prometheus_scrapes_every_process(tmp_path: Path) -> None:
    document = compose(migrated_plan(tmp_path))
    scraped = yaml.safe_load(document["configs"]["prometheus"]["content"])
    targets = {job["job_name"]: (job["static_configs"][0]["targets"][0], job["metrics_path"])
               for job in scraped["scrape_configs"]}
    assert targets["monolith"] == ("monolith:8000", "/metrics")
    assert targets["inventory-service"] == ("inventory-service:8000", "/metrics")
    assert targets["gateway"] == ("gateway:8080", "/_carve/metrics")
    assert targets["relay"] == ("relay:9100", "/metrics")


def test_an_amqp_broker_in_the_plan_becomes_rabbitmq(tmp_path: Path) -> None:
    plan = migrated_plan(tmp_path)
    toml = tmp_path / "carve.toml"
    toml.write_text(toml.read_text() + '[broker]\nurl = "amqp://guest:guest@127.0.0.1:5672/"\n')
    document = compose(load_plan(toml, ROOT / "extracted"))
    COMPOSE_SPEC.validate(document)
    services = document["services"]
    assert services["inventory-worker"]["environment"]["CARVE_BROKER_URL"] == (
        "amqp://guest:guest@rabbitmq:5672/")
    assert services["worker"]["depends_on"]["rabbitmq"] == {"condition": "service_healthy"}
    assert "healthcheck" in services["rabbitmq"] and plan.broker_url.startswith("redis")
