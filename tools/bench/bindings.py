"""Benchmark: what the client binding and an extracted service cost, against their baselines.

1. Per-call latency of ``Inventory.check_availability`` through the local binding
   (a plain call into the module) and through the client binding (HTTP over loopback
   to the server binding), in the same process and database.
2. Requests per second of ``GET /api/v1/inventory/availability/{sku}`` served by the
   extracted inventory service and by the monolith, each in its own process with the
   same kind of database (SQLite), under the same load generator.

``client_overhead_p50_us`` (``_p99_us``) = client binding median (p99) latency minus the
local binding's, both measured in the same run: what going over HTTP adds to one call.
``ratio`` = client binding median latency / local binding median latency.
``service_vs_monolith_rps`` = extracted service requests/s / monolith requests/s.

    python tools/bench/bindings.py [--quick] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from contracts.inventory import Inventory, StockLevel  # noqa: E402
from migration.extraction.extract import extract  # noqa: E402
from migration.runtime.client import client  # noqa: E402
from migration.runtime.project import Project  # noqa: E402
from migration.runtime.serving import ServerThread, free_port  # noqa: E402
from migration.runtime.settings import Settings  # noqa: E402
from monolith.app import create_app  # noqa: E402

PATH = "/api/v1/inventory/availability/sku-1?quantity=1"


def per_call_microseconds(call: Callable[[], object], calls: int) -> list[float]:
    """Wall time of each of ``calls`` calls, after a warm-up."""
    for _ in range(min(50, calls)):
        call()
    timings = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        timings.append((time.perf_counter() - started) * 1e6)
    return timings


def binding_latencies(folder: Path, calls: int) -> dict[str, float]:
    """Median and p99 of the local and the client binding, same app, same database, same run."""
    settings = Settings.from_env(ROOT / "carve.toml",
                                 {"DATABASE_URL": f"sqlite:///{folder / 'bindings.db'}"})
    settings.project.upgrade()
    app = create_app(settings)
    local: Inventory = app.state.system.services["inventory"]
    local.set_stock("sku-1", StockLevel(quantity=100))
    with ServerThread(app) as server:
        remote = client(Inventory, server.url)
        # One after the other, not interleaved: a local call made right after a client
        # call would share the CPU with the server thread still finishing its answer.
        local_t = per_call_microseconds(lambda: local.check_availability("sku-1", 1), calls)
        remote_t = per_call_microseconds(lambda: remote.check_availability("sku-1", 1), calls)
        remote.close()
    return {
        "local_median_us": statistics.median(local_t),
        "local_p99_us": statistics.quantiles(local_t, n=100)[98],
        "client_median_us": statistics.median(remote_t),
        "client_p99_us": statistics.quantiles(remote_t, n=100)[98],
    }


@contextmanager
def carve_server(args: list[str], env: dict[str, str], port: int) -> Iterator[str]:
    """``carve ARGS`` in a subprocess until it answers /readyz; stopped afterwards."""
    process = subprocess.Popen([sys.executable, "-m", "migration.cli", *args],
                               cwd=ROOT, env={**os.environ, **env},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"carve {' '.join(args)} did not start")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def requests_per_second(url: str, seconds: float, workers: int = 4) -> float:
    """Answered requests per second from ``workers`` keep-alive clients for ``seconds``."""
    counts, stop = [0] * workers, time.monotonic() + seconds

    def hammer(slot: int) -> None:
        with httpx.Client(base_url=url) as http:
            while time.monotonic() < stop:
                if http.get(PATH).status_code == 200:
                    counts[slot] += 1

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / seconds


def service_throughput(folder: Path, seconds: float) -> dict[str, float]:
    """Requests/s of the same endpoint in the monolith and in the extracted service."""
    service_dir = extract(Project.load(ROOT / "carve.toml"), "inventory", folder).folder
    figures = {}
    runs = {
        "monolith_rps": ["run", "monolith"],
        "service_rps": ["run", "service", "inventory", "--path", str(service_dir)],
    }
    for key, args in runs.items():
        port = free_port()
        env = {"DATABASE_URL": f"sqlite:///{folder / (key + '.db')}"}
        with carve_server([*args, "--port", str(port)], env, port) as url:
            httpx.put(f"{url}/api/v1/inventory/stock/sku-1", json={"quantity": 100})
            requests_per_second(url, min(1.0, seconds / 4))  # warm-up
            figures[key] = requests_per_second(url, seconds)
    return figures


def main() -> None:
    """Run both measurements and print them for people (rich) or machines (--json)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls; under a minute")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    options = parser.parse_args()
    calls, seconds = (500, 4.0) if options.quick else (3000, 15.0)
    with tempfile.TemporaryDirectory() as tmp:
        figures = {**binding_latencies(Path(tmp), calls),
                   **service_throughput(Path(tmp), seconds)}
    figures["client_overhead_p50_us"] = figures["client_median_us"] - figures["local_median_us"]
    figures["client_overhead_p99_us"] = figures["client_p99_us"] - figures["local_p99_us"]
    figures["ratio"] = figures["client_median_us"] / figures["local_median_us"]
    figures["service_vs_monolith_rps"] = figures["service_rps"] / figures["monolith_rps"]
    figures.update(calls=calls, seconds=seconds)
    if options.json:
        print(json.dumps({k: round(v, 2) if isinstance(v, float) else v
                          for k, v in figures.items()}))
        return
    render(figures)


def render(f: dict[str, float]) -> None:
    """The figures as two tables: per-call latency, then requests/s."""
    calls = Table("check_availability per call (µs)", "client binding", "local binding",
                  "client overhead", "ratio", title="bindings benchmark: latency")
    calls.add_row("median (p50)", f"{f['client_median_us']:.0f}", f"{f['local_median_us']:.0f}",
                  f"{f['client_overhead_p50_us']:.0f}", f"{f['ratio']:.1f}x")
    calls.add_row("p99", f"{f['client_p99_us']:.0f}", f"{f['local_p99_us']:.0f}",
                  f"{f['client_overhead_p99_us']:.0f}",
                  f"{f['client_p99_us'] / f['local_p99_us']:.1f}x")
    served = Table("GET availability", "extracted service", "monolith", "ratio",
                   title="bindings benchmark: throughput")
    served.add_row("requests/s", f"{f['service_rps']:.0f}", f"{f['monolith_rps']:.0f}",
                   f"{f['service_vs_monolith_rps']:.2f}x")
    Console().print(calls)
    Console().print(served)


if __name__ == "__main__":
    main()
