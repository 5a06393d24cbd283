"""``carve up`` runs a migrated layout: inventory remote, order.created on the queue.

One command starts the monolith, the inventory service, its worker, the monolith's
relay and worker; the README tour works over HTTP, a SIGKILLed worker is restarted
and its messages are still applied once, and SIGINT stops everything, workers first.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy import create_engine, text

from migration.runtime.modules import discover_modules
from tests.support.events import wait_for
from tests.support.processes import ROOT, free_port
from tests.support.services import REDIS_URL, fresh_postgres_database


class UpProcess:
    """``carve up --json`` in the background, its events collected as they come."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "migration.cli", "up", "--json", *args], cwd=ROOT, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.events: list[dict] = []
        self.raw: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.raw.append(line)
            if line.startswith("{"):
                self.events.append(json.loads(line))

    def of(self, kind: str, process: str | None = None) -> list[dict]:
        """The events of one kind (for one process)."""
        return [e for e in list(self.events) if e["event"] == kind
                and (process is None or e["process"] == process)]

    def ready(self, name: str) -> bool:
        """Whether ``name`` reported itself ready."""
        return any(e["health"] == "ready" for e in self.of("health", name))

    def output(self) -> str:
        return "".join(self.raw[-200:])


@pytest.fixture
def service_database() -> Iterator[str]:
    with fresh_postgres_database() as url:
        yield url


def write_plan(folder: Path, database: str, service_database: str, service_port: int,
               gateway_port: int) -> Path:
    """Inventory remote on its own database; every event the modules publish on the queue;
    a gateway sending inventory's route to the service."""
    events = sorted({event.type for spec in discover_modules("monolith.modules").values()
                     for event in spec.publishes})
    (folder / "routes.json").write_text(json.dumps({"routes": [
        {"prefix": "/api/v1/inventory", "mode": "service", "service": "inventory"}]}))
    plan = folder / "carve.toml"
    plan.write_text(
        f'[project]\nsource = "{ROOT.as_posix()}"\n\n[database]\nurl = "{database}"\n\n'
        f'[gateway]\nroutes = "routes.json"\nport = {gateway_port}\n\n'
        f'[modules.inventory]\nbinding = "remote"\nurl = "http://127.0.0.1:{service_port}"\n'
        f'database = "{service_database}"\n\n'
        + "".join(f'[events."{event}"]\ntransport = "queue"\n\n' for event in events),
        encoding="utf-8")
    return plan


def extract_inventory(out: Path) -> None:
    """The service as the module is now (the committed copy may lag behind it)."""
    subprocess.run([sys.executable, "-m", "migration.cli", "extract", "inventory", "--out",
                    str(out)], cwd=ROOT, check=True, capture_output=True, timeout=120)


def up_env(namespace: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DATABASE_URL", "CARVE_"))}  # the plan says it all
    return {**env, "CARVE_BROKER_URL": REDIS_URL, "CARVE_BROKER_NAMESPACE": namespace,
            "CARVE_BROKER_MIN_BACKOFF_MS": "50", "CARVE_BROKER_MAX_BACKOFF_MS": "500",
            "CARVE_BROKER_HEARTBEAT_MS": "2000", "CARVE_BROKER_MAINTENANCE": "200000"}


def test_carve_up_serves_the_tour_and_restarts_a_killed_worker(
    tmp_path: Path, postgres_url: str, service_database: str,
    redis_prefix: tuple[redis.Redis, str],
) -> None:
    port, service_port, gateway_port = free_port(), free_port(), free_port()
    plan = write_plan(tmp_path, postgres_url, service_database, service_port, gateway_port)
    front = f"http://127.0.0.1:{gateway_port}"  # the tour goes through the gateway
    extract_inventory(tmp_path / "extracted")
    publishes = "def relay(" in (tmp_path / "extracted/inventory-service/src/inventory_service"
                                 "/app.py").read_text()
    up = UpProcess(["--config", str(plan), "--port", str(port)], up_env(redis_prefix[1]))
    try:
        names = {"monolith", "inventory-service", "inventory-worker", "relay", "worker",
                 "gateway", *(["inventory-relay"] if publishes else [])}
        assert wait_for(lambda: {e["process"] for e in up.of("started")} == names
                        and all(up.ready(n) for n in ("monolith", "inventory-service",
                                                      "gateway")),
                        timeout=90), up.output()
        user, placed = _tour(front, up)

        worker_pid = up.of("started", "inventory-worker")[-1]["pid"]
        os.kill(worker_pid, signal.SIGKILL)
        more = [_order(front, user, 1) for _ in range(3)]
        assert [r.status_code for r in more] == [201, 201, 201]
        assert wait_for(lambda: len(up.of("started", "inventory-worker")) == 2, 30), up.output()
        assert up.of("exited", "inventory-worker")[0]["restarts"] == 1
        assert wait_for(lambda: _stock(front)["reserved"] == 5
                        and len(_notes(front, user)) == 4, timeout=60), up.output()
    finally:
        up.process.send_signal(signal.SIGINT)
        code = up.process.wait(timeout=60)
    assert code == 0, up.output()
    stopped = [e["process"] for e in up.of("stopped")]
    assert set(stopped) == names
    assert stopped.index("gateway") < stopped.index("inventory-worker") < stopped.index(
        "inventory-service")
    assert stopped.index("worker") < stopped.index("monolith")
    assert _counts(service_database) == {"reservations": 4, "applied": 4, "dead": 0}
    assert placed.status_code == 201


def _tour(monolith: str, up: UpProcess) -> tuple[str, httpx.Response]:
    """The README's tour: a user, stock, an order, its confirmation and reservation."""
    user = httpx.post(f"{monolith}/api/v1/users",
                      json={"email": "up@example.com", "name": "Up"}, timeout=15)
    assert user.status_code == 201, user.text
    stock = httpx.put(f"{monolith}/api/v1/inventory/stock/MUG", json={"quantity": 9}, timeout=15)
    assert stock.status_code == 200, stock.text
    assert stock.headers["x-carve-upstream"] == "inventory"  # the route sends it to the service
    availability = httpx.get(f"{monolith}/api/v1/inventory/availability/MUG",
                             params={"quantity": 2}, timeout=15).json()
    assert availability == {"sku": "MUG", "requested": 2, "available": 9, "in_stock": True}
    user_id = user.json()["id"]
    placed = _order(monolith, user_id, 2)
    assert placed.status_code == 201, placed.text
    assert wait_for(lambda: _stock(monolith)["reserved"] == 2
                    and len(_notes(monolith, user_id)) == 1, timeout=60), up.output()
    assert _order(monolith, user_id, 50).json()["code"] == "inventory.insufficient"
    return user_id, placed


def _order(monolith: str, user_id: str, quantity: int) -> httpx.Response:
    body = {"user_id": user_id, "items": [{"sku": "MUG", "quantity": quantity}]}
    return httpx.post(f"{monolith}/api/v1/orders", json=body, timeout=15)


def _stock(monolith: str) -> dict:
    return httpx.get(f"{monolith}/api/v1/inventory/stock/MUG", timeout=15).json()


def _notes(monolith: str, user_id: str) -> list:
    return httpx.get(f"{monolith}/api/v1/notifications", params={"user_id": user_id},
                     timeout=15).json()


def _counts(url: str) -> dict[str, int]:
    queries = {"reservations": "SELECT count(*) FROM inventory_reservations",
               "applied": "SELECT count(*) FROM inventory_inbox",
               "dead": "SELECT count(*) FROM inventory_dead_letters"}
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return {k: connection.execute(text(q)).scalar_one() for k, q in queries.items()}
    finally:
        engine.dispose()


def test_carve_up_runs_the_gateway_on_nginx_when_the_plan_says_so(tmp_path: Path) -> None:
    port, gateway_port = free_port(), free_port()
    (tmp_path / "routes.json").write_text(json.dumps({"routes": [
        {"prefix": "/api/v1/users", "mode": "monolith"}]}))
    plan = tmp_path / "carve.toml"
    plan.write_text(
        f'[project]\nsource = "{ROOT.as_posix()}"\n\n'
        f'[database]\nurl = "sqlite:///{(tmp_path / "carve.db").as_posix()}"\n\n'
        f'[gateway]\nroutes = "routes.json"\nport = {gateway_port}\nengine = "nginx"\n',
        encoding="utf-8")
    front = f"http://127.0.0.1:{gateway_port}"
    up = UpProcess(["--config", str(plan), "--port", str(port)],
                   {**up_env("unused"), "CARVE_ADMIN_TOKEN": "up-token"})
    try:
        assert wait_for(lambda: up.ready("gateway"), timeout=60), up.output()
        health = httpx.get(f"{front}/_carve/healthz", timeout=5).json()
        assert health["engine"]["name"] == "nginx", health
        user = httpx.post(f"{front}/api/v1/users",
                          json={"email": "engine@example.com", "name": "E"}, timeout=15)
        assert (user.status_code, user.headers["x-carve-upstream"]) == (201, "monolith")
        assert user.headers["server"] == "nginx"  # NGINX carried it
    finally:
        up.process.send_signal(signal.SIGINT)
        code = up.process.wait(timeout=60)
    assert code == 0, up.output()
    assert {e["process"] for e in up.of("stopped")} == {"monolith", "gateway"}


def test_carve_up_refuses_a_gateway_on_nginx_without_nginx(tmp_path: Path,
                                                           monkeypatch) -> None:
    from migration.deploy.up import plan_processes
    from migration.runtime.errors import ConfigError

    (tmp_path / "carve.toml").write_text(
        f'[project]\nsource = "{ROOT.as_posix()}"\n\n'
        '[gateway]\nroutes = "routes.json"\nengine = "nginx"\n', encoding="utf-8")
    monkeypatch.setenv("PATH", str(tmp_path))  # no nginx on it
    monkeypatch.setattr("migration.gateway.nginx_engine.USUAL_PLACES", ())
    with pytest.raises(ConfigError, match="--engine nginx: NGINX is not installed"):
        plan_processes(tmp_path / "carve.toml", free_port(), None)
