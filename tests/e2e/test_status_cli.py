"""``carve status`` on this repository: each step's state read from the real evidence."""

import json
import os
import subprocess
import sys

from tests.support.gateway_processes import echo_backend, gateway_process, write_routes
from tests.support.processes import ROOT

INVENTORY = "/api/v1/inventory"


def status(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "migration.cli", "status", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)


def steps_of(result: subprocess.CompletedProcess[str], module: str) -> dict[int, dict]:
    assert result.returncode == 0, result.stderr
    modules = {m["module"]: m for m in json.loads(result.stdout)["modules"]}
    return {s["step"]: s for s in modules[module]["steps"]}


def test_each_step_of_a_module_on_its_way_out(tmp_path, sqlite_url):
    routes = write_routes(tmp_path / "routes.json", [])
    with echo_backend("monolith") as monolith, echo_backend("inventory") as inventory, \
            gateway_process(routes, monolith, {"inventory": inventory}) as gw:
        moving = {**gw.cli_env(), "DATABASE_URL_INVENTORY": sqlite_url,
                  "CARVE_INVENTORY_BINDING": "remote"}
        before = steps_of(status(moving, "--json"), "inventory")
        gw.admin("PUT", "/_carve/routes", json={"prefix": INVENTORY, "mode": "canary",
                                                "service": "inventory", "percent": 25})
        canary = steps_of(status(moving, "--json"), "inventory")
        gw.admin("PUT", "/_carve/routes", json={"prefix": INVENTORY, "mode": "service"})
        promoted = steps_of(status(moving, "--json"), "inventory")
        users = steps_of(status(moving, "--json"), "users")
        text = status({**moving, "COLUMNS": "120"})
    assert [before[n]["state"] for n in range(1, 5)] == ["done", "done", "done", "not started"]
    assert "its own database: sqlite" in before[2]["evidence"]
    assert "binding remote" in before[3]["evidence"]
    assert "order.created" in before[4]["evidence"]  # still in-process in carve.toml
    assert (before[5]["state"], before[5]["evidence"]) == (
        "not started", f"no route: the monolith serves {INVENTORY}")
    assert canary[5]["evidence"] == "canary 25% → inventory"
    assert (canary[6]["state"], canary[6]["evidence"].split(" (")[0]) == (
        "started", "canary watched")
    assert promoted[5]["state"] == promoted[6]["state"] == "done"
    assert "after a canary under its SLO" in promoted[6]["evidence"]
    assert users[2]["state"] == "not started" and users[3]["state"] == "not started"
    assert "inventory: next, step 4 (events)" in text.stdout


def test_without_a_gateway_the_traffic_steps_are_unknown_and_say_why():
    env = {k: v for k, v in os.environ.items() if k != "CARVE_GATEWAY_URL"}
    steps = steps_of(status(env, "--json"), "orders")
    assert steps[5]["state"] == steps[6]["state"] == "unknown"
    assert "set CARVE_GATEWAY_URL" in steps[5]["evidence"]
    unreachable = steps_of(status(env, "--json", "--gateway", "http://127.0.0.1:9"), "orders")
    assert unreachable[5]["state"] == "unknown"
    assert "no gateway at http://127.0.0.1:9" in unreachable[5]["evidence"]
