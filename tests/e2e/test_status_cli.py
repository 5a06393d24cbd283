"""``carve status`` on this repository: each step's state read from the real evidence."""

import json
import os
import subprocess
import sys

import httpx

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
        own_database = {**gw.cli_env(), "DATABASE_URL_INVENTORY": sqlite_url}
        moving = {**gw.cli_env(), "CARVE_INVENTORY_BINDING": "remote"}
        local = steps_of(status(own_database, "--json"), "inventory")
        before = steps_of(status(moving, "--json"), "inventory")
        gw.admin("PUT", "/_carve/routes", json={"prefix": INVENTORY, "mode": "canary",
                                                "service": "inventory", "percent": 100})
        canary = steps_of(status(moving, "--json"), "inventory")
        for n in range(25):  # the window the SLO needs before a promotion counts
            httpx.get(f"{gw.url}{INVENTORY}/sku-{n}", headers={"x-user-id": f"u{n}"})
        gw.admin("PUT", "/_carve/routes", json={"prefix": INVENTORY, "mode": "service"})
        promoted = steps_of(status(moving, "--json"), "inventory")
        users = steps_of(status(moving, "--json"), "users")
        text = status({**moving, "COLUMNS": "120"})
        audit = subprocess.run([sys.executable, "-m", "migration.cli", "route", "audit"],
                               cwd=ROOT, env={**moving, "COLUMNS": "160"}, capture_output=True,
                               text=True, timeout=60)
    assert "its own database: sqlite" in local[2]["evidence"]
    assert "order.created goes through the queue (step 4)" in local[3]["evidence"]
    assert [before[n]["state"] for n in range(1, 5)] == ["done", "done", "done", "not started"]
    assert "bound remote" in before[2]["evidence"]
    assert "binding remote" in before[3]["evidence"]
    assert "order.created" in before[4]["evidence"]  # still in-process in carve.toml
    assert (before[5]["state"], before[5]["evidence"]) == (
        "not started", f"no route: the monolith serves {INVENTORY}")
    assert canary[5]["evidence"] == "canary 100% → inventory"
    assert canary[6]["state"] == "started"
    assert promoted[5]["state"] == promoted[6]["state"] == "done"
    assert "from a canary of 100% within its SLO: 25 requests, 0.0% errors" in \
        promoted[6]["evidence"]
    assert users[2]["state"] == "not started" and users[3]["state"] == "not started"
    assert "inventory: next, step 4 (events)" in text.stdout
    assert "canary window: 25 req, 0.0% errors" in audit.stdout  # the promotion's evidence


def test_a_codebase_without_module_specs_stands_at_step_one():
    steps = steps_of(status(dict(os.environ), "--json", "--config",
                            "tests/fixtures/coupled/carve.toml"), "billing")
    assert steps[1]["state"] in ("done", "started")
    assert steps[2]["state"] == "unknown" and "no ModuleSpec" in steps[2]["evidence"]


def test_without_a_gateway_the_traffic_steps_are_unknown_and_say_why():
    env = {k: v for k, v in os.environ.items() if k != "CARVE_GATEWAY_URL"}
    steps = steps_of(status(env, "--json"), "orders")
    assert steps[5]["state"] == steps[6]["state"] == "unknown"
    assert "set CARVE_GATEWAY_URL" in steps[5]["evidence"]
    unreachable = steps_of(status(env, "--json", "--gateway", "http://127.0.0.1:9"), "orders")
    assert unreachable[5]["state"] == "unknown"
    assert "no gateway at http://127.0.0.1:9" in unreachable[5]["evidence"]
