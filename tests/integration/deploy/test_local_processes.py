"""What ``carve up`` starts for a plan: the processes, their order, ports and wiring."""

from __future__ import annotations

from pathlib import Path

import pytest

from migration.deploy.local import local_processes
from tests.support.deploy_plans import migrated_plan


def test_a_migrated_plan_starts_every_process_wired_to_the_others(tmp_path: Path) -> None:
    processes = {p.name: p for p in local_processes(migrated_plan(tmp_path), 8100)}
    assert {"monolith", "inventory-service", "inventory-worker", "relay", "worker",
            "gateway"} <= set(processes)
    monolith, service = processes["monolith"], processes["inventory-service"]
    assert monolith.url == "http://127.0.0.1:8100" and monolith.ready_path == "/readyz"
    assert service.url == "http://127.0.0.1:8101"
    assert monolith.env["CARVE_INVENTORY_URL"] == service.url
    assert service.env["DATABASE_URL_INVENTORY"] == (
        f"sqlite:///{tmp_path / 'inventory-service.db'}")  # no database in the plan: its own
    gateway = processes["gateway"]
    assert "inventory=http://127.0.0.1:8101" in gateway.args
    assert gateway.args[gateway.args.index("--routes") + 1] == str(tmp_path / "routes.json")
    # Servers first; the rest once they are ready; the gateway last.
    assert {p.stage for p in (monolith, service)} == {0}
    assert {processes[n].stage for n in ("inventory-worker", "relay", "worker")} == {1}
    assert gateway.stage == 2
    assert all(p.env["CARVE_CONFIG"] == str(tmp_path / "carve.toml")
               for p in processes.values())


def test_a_service_keeps_the_port_of_its_url_in_the_plan(tmp_path: Path) -> None:
    migrated_plan(tmp_path)
    toml = (tmp_path / "carve.toml").read_text().replace(
        'binding = "remote"\n', 'binding = "remote"\nurl = "http://127.0.0.1:9555"\n', 1)
    (tmp_path / "carve.toml").write_text(toml)
    from migration.deploy.exports import load_plan
    from tests.support.processes import ROOT

    plan = load_plan(tmp_path / "carve.toml", ROOT / "extracted")
    processes = {p.name: p for p in local_processes(plan, 8100)}
    assert processes["inventory-service"].url == "http://127.0.0.1:9555"


def test_the_plans_gateway_engine_is_what_every_runner_starts(tmp_path: Path) -> None:
    from migration.deploy.containers import components
    from migration.deploy.exports import load_plan
    from tests.support.processes import ROOT

    migrated_plan(tmp_path)

    def commands(plan_text: str) -> list[tuple[str, ...]]:
        (tmp_path / "carve.toml").write_text(plan_text)
        plan = load_plan(tmp_path / "carve.toml", ROOT / "extracted")
        return [next(p.args for p in local_processes(plan, 8100) if p.kind == "gateway"),
                next(c.command for c in components(plan) if c.kind == "gateway")]

    toml = (tmp_path / "carve.toml").read_text()
    assert all("--engine" not in command for command in commands(toml))  # carve's own
    on_nginx = toml.replace('routes = "routes.json"\n', 'routes = "routes.json"\n'
                            'engine = "nginx"\n', 1)
    for command in commands(on_nginx):
        assert command[command.index("--engine") + 1] == "nginx", command


def test_an_unknown_gateway_engine_is_refused_with_its_key(tmp_path: Path) -> None:
    from migration.runtime.config import load_config
    from migration.runtime.errors import ConfigError

    (tmp_path / "carve.toml").write_text('[gateway]\nengine = "envoy"\n')
    with pytest.raises(ConfigError, match="gateway.engine"):
        load_config(tmp_path / "carve.toml")


def test_a_gateway_engine_without_routes_is_refused(tmp_path: Path) -> None:
    from migration.runtime.config import load_config
    from migration.runtime.errors import ConfigError

    # Without routes there is no gateway: an engine for it would silently do nothing.
    for gateway in ('[gateway]\nengine = "nginx"\n', '[gateway]\nroutes = ""\nengine = "nginx"\n'):
        (tmp_path / "carve.toml").write_text(gateway)
        with pytest.raises(ConfigError, match='key .gateway.: .*engine = "nginx" needs routes'):
            load_config(tmp_path / "carve.toml")
