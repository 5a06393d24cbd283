"""Step 2 over HTTP: a running monolith follows ``carve db cutover`` without a restart."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.datasplit import Split, split_databases, stock_rows
from tests.support.processes import ROOT, carve_process, free_port

MAX_FREEZE_MS = 2000


class Client(threading.Thread):
    """A client writing stock levels at a steady rate, timing each acknowledged write."""

    def __init__(self, base: str) -> None:
        super().__init__(daemon=True)
        self.base = base
        self.latencies: list[float] = []
        self.statuses: list[int] = []
        self.levels: dict[str, int] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.base, timeout=10) as http:
            n = 0
            while not self.stop.is_set():
                n += 1
                sku = f"HTTP-{n % 10}"
                started = time.monotonic()
                while True:  # a 503 names when to come back: a client honours it
                    answer = http.put(f"/api/v1/inventory/stock/{sku}", json={"quantity": n})
                    self.statuses.append(answer.status_code)
                    if answer.status_code != 503:
                        break
                    assert answer.headers["Retry-After"] == "1"
                    time.sleep(0.05)
                self.latencies.append((time.monotonic() - started) * 1000)
                if answer.status_code == 200:
                    self.levels[sku] = n
                time.sleep(0.005)


@pytest.fixture
def split(tmp_path: Path) -> Iterator[Split]:
    with split_databases(tmp_path) as databases:
        yield databases


def carve(plan: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "migration.cli", *args, "--config", str(plan)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ))


def test_the_monolith_serves_the_module_from_its_new_database_after_cutover(split: Split) -> None:
    stock_rows(split, 20_000)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with carve_process(["run", "monolith", "--port", str(port)],
                       env={"CARVE_CONFIG": str(split.plan)}, ready_url=f"{base}/readyz"):
        client = Client(base)
        client.start()
        assert carve(split.plan, "db", "split", "inventory", "--to", split.target).returncode == 0
        time.sleep(0.5)
        moved = carve(split.plan, "db", "cutover", "inventory",
                      "--max-freeze-ms", str(MAX_FREEZE_MS))
        assert moved.returncode == 0, moved.stderr
        time.sleep(0.5)
        client.stop.set()
        client.join(timeout=15)

        split.execute(split.target, "UPDATE inventory_stock SET on_hand = 4242 "
                                    "WHERE sku = 'SKU-1'")
        seen = httpx.get(f"{base}/api/v1/inventory/stock/SKU-1").json()
        assert seen["on_hand"] == 4242  # read from the new database, no restart

    assert set(client.statuses) <= {200, 503} and client.levels
    assert max(client.latencies) < MAX_FREEZE_MS  # the freeze a client sees is bounded
    for sku, level in client.levels.items():
        assert split.scalar(split.target,
                            f"SELECT on_hand FROM inventory_stock WHERE sku = '{sku}'") == level
