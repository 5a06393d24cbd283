"""After `carve events swap order.created --to queue`, orders travel through Redis exactly once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import redis

from migration.runtime.project import Project
from tests.support.events import carve_background, effects, queue_env, write_plan
from tests.support.processes import ROOT, free_port, wait_until_serving
from tests.support.services import REDIS_URL
from tests.support.waiting import wait_for


def _carve(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run([sys.executable, "-m", "migration.cli", *args], cwd=ROOT,
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=60)


def test_an_order_placed_after_the_swap_is_notified_and_reserved_exactly_once(
    tmp_path: Path, postgres_url: str, redis_prefix: tuple[redis.Redis, str]
) -> None:
    _, namespace = redis_prefix
    plan = write_plan(tmp_path, postgres_url)
    env = queue_env(plan, postgres_url, REDIS_URL, namespace)
    Project.load(plan, env).upgrade()

    swapped = _carve(["events", "swap", "order.created", "--to", "queue"], env)
    assert swapped.returncode == 0, swapped.stderr
    assert 'transport = "queue"   # swapped by the test' in plan.read_text()

    port = free_port()
    with (
        carve_background(["run", "monolith", "--port", str(port)], env,
                         tmp_path / "monolith.log") as monolith,
        carve_background(["run", "relay"], env, tmp_path / "relay.log"),
        carve_background(["run", "worker"], env, tmp_path / "worker.log"),
    ):
        base = f"http://127.0.0.1:{port}"
        assert monolith.process is not None
        wait_until_serving(f"{base}/healthz", monolith.process)
        user = httpx.post(f"{base}/api/v1/users",
                          json={"email": "ada@example.com", "name": "Ada"}).json()
        httpx.put(f"{base}/api/v1/inventory/stock/sku-1", json={"quantity": 5})
        order = httpx.post(f"{base}/api/v1/orders",
                           json={"user_id": user["id"], "items": [{"sku": "sku-1",
                                                                   "quantity": 2}]})
        assert order.status_code == 201

        delivered = wait_for(lambda: _both_applied(postgres_url), timeout=30)
        assert delivered, effects(postgres_url)
        notes = httpx.get(f"{base}/api/v1/notifications", params={"user_id": user["id"]}).json()
        stock = httpx.get(f"{base}/api/v1/inventory/stock/sku-1").json()

    assert [n["reference"] for n in notes] == [order.json()["id"]]
    assert stock["reserved"] == 2
    counts = effects(postgres_url)
    assert counts["notifications"] == counts["reservations"] == 1
    assert counts["pending"] == 0


def _both_applied(url: str) -> bool:
    counts = effects(url)
    return counts["notifications"] >= 1 and counts["reservations"] >= 1
