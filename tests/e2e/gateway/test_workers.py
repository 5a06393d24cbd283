"""``carve run gateway --workers N``: worker processes sharing one port (SO_REUSEPORT)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import pytest

from tests.support.gateway_processes import gateway_process, write_routes
from tests.support.processes import ROOT, free_port
from tests.support.waiting import wait_for


def _workers(supervisor: int) -> set[int]:
    """The supervisor's worker processes (its other child is multiprocessing's tracker)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == supervisor and b"spawn_main" in command:
            found.add(int(entry.name))
    return found


def _counts(gateway) -> tuple[int, dict[str, int]]:
    """Requests answered, over every worker, and by worker, from one scrape."""
    text = gateway.admin("GET", "/_carve/metrics").text
    total = sum(int(n) for n in re.findall(r'^carve_gateway_requests_total\{[^}]*\} (\d+)$',
                                           text, re.M))
    by_worker = {w: int(n) for w, n in re.findall(
        r'^carve_gateway_worker_requests\{worker="(\d+)"\} (\d+)$', text, re.M)}
    return total, by_worker


@pytest.fixture
def routes(tmp_path: Path) -> Path:
    return write_routes(tmp_path / "routes.json",
                        [{"prefix": "/api/v1/inventory", "mode": "service",
                          "service": "inventory"}])


def test_two_workers_share_the_port_and_one_scrape_counts_both(
        routes: Path, monolith_url: str, inventory_url: str) -> None:
    with gateway_process(routes, monolith_url, {"inventory": inventory_url},
                         ["--workers", "2"]) as gateway:
        assert wait_for(lambda: len(_workers(gateway.process.pid)) == 2, 20)
        # A new connection each time: the kernel spreads them over both workers.
        for n in range(60):
            path = "/api/v1/inventory/stock" if n % 2 else "/api/v1/users"
            answer = httpx.get(gateway.url + path, timeout=10)
            assert answer.status_code == 200
            expected = "inventory" if n % 2 else "monolith"
            assert answer.headers["x-carve-upstream"] == expected
        # Each worker publishes its counts once a second; any one scrape adds them up (the
        # other workers' as of their last second), so each scrape is judged on its own.
        scrapes: list[tuple[int, dict[str, int]]] = []

        def whole() -> bool:
            scrapes.append(_counts(gateway))
            total, by_worker = scrapes[-1]
            return total == 60 and sum(by_worker.values()) == 60

        assert wait_for(whole, 10), scrapes[-1]
        total, by_worker = scrapes[-1]
        assert set(by_worker) == {"0", "1"}
        assert all(n > 0 for n in by_worker.values()), by_worker


def test_a_killed_worker_is_started_again_and_a_stop_ends_them_all(
        routes: Path, monolith_url: str, inventory_url: str) -> None:
    with gateway_process(routes, monolith_url, {"inventory": inventory_url},
                         ["--workers", "2"]) as gateway:
        supervisor = gateway.process.pid
        assert wait_for(lambda: len(_workers(supervisor)) == 2, 20)
        first = _workers(supervisor)
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        assert wait_for(lambda: len(_workers(supervisor)) == 2
                        and victim not in _workers(supervisor), 20)
        assert wait_for(lambda: all(
            httpx.get(gateway.url + "/api/v1/inventory/x", timeout=5).status_code == 200
            for _ in range(20)), 20)
        workers = _workers(supervisor)
        gateway.process.send_signal(signal.SIGTERM)
        assert gateway.process.wait(timeout=30) == 0
        assert wait_for(lambda: not any(Path(f"/proc/{pid}").exists() for pid in workers), 10)


def test_workers_stop_when_their_supervisor_is_killed(
        routes: Path, monolith_url: str, inventory_url: str) -> None:
    with gateway_process(routes, monolith_url, {"inventory": inventory_url},
                         ["--workers", "2"]) as gateway:
        assert wait_for(lambda: len(_workers(gateway.process.pid)) == 2, 20)
        workers = _workers(gateway.process.pid)
        assert wait_for(lambda: _metrics_folder(workers) is not None, 10)
        folder = _metrics_folder(workers)
        gateway.process.kill()
        gateway.process.wait(timeout=10)
        # Orphaned, each notices within a second or two and stops: nothing keeps the port.
        assert wait_for(lambda: not any(Path(f"/proc/{pid}").exists()
                                        and "Z" not in _state(pid) for pid in workers), 15)
        assert not folder.exists()  # and the metrics folder the supervisor kept is gone


def _metrics_folder(workers: set[int]) -> Path | None:
    """The folder where these workers publish their counts (``worker-N-PID.json``)."""
    for path in Path(tempfile.gettempdir()).glob("carve-gateway-*/worker-*.json"):
        if int(path.stem.rsplit("-", 1)[1]) in workers:
            return path.parent
    return None


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


def test_routes_naming_a_service_without_url_stop_the_start_in_one_line(
        routes: Path, monolith_url: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "migration.cli", "run", "gateway", "--workers", "2", "--port",
         str(free_port()), "--monolith", monolith_url, "--routes", str(routes)],
        capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode != 0
    assert "'inventory', which has no URL here" in result.stderr
    assert "worker" not in result.stderr  # said once, before any worker started
