"""A real Prometheus scrapes a running gateway, monolith and relay: the metric names the
dashboards use are the ones the processes export, and every dashboard query is valid.

Needs the Debian package ``prometheus`` (tools/ci/services.sh installs it when missing).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import yaml

from migration.deploy.dashboards import events_dashboard, gateway_dashboard, http_dashboard
from tests.support.events import carve_background, wait_for
from tests.support.gateway_processes import ADMIN_TOKEN, gateway_process, write_routes
from tests.support.processes import carve_process, free_port, wait_until_serving


@contextmanager
def prometheus(folder: Path, jobs: dict[str, tuple[str, str]]) -> Iterator[str]:
    """Prometheus scraping ``jobs`` (name → (host:port, path)) every half second."""
    binary = shutil.which("prometheus") or "/usr/bin/prometheus"
    assert Path(binary).exists(), "prometheus is required: apt-get install prometheus"
    scrape = []
    for name, (target, path) in jobs.items():
        job = {"job_name": name, "metrics_path": path, "scrape_interval": "500ms",
               "static_configs": [{"targets": [target]}]}
        if name == "gateway":
            job["authorization"] = {"type": "Bearer", "credentials": ADMIN_TOKEN}
        scrape.append(job)
    config = folder / "prometheus.yml"
    config.write_text(yaml.safe_dump({"global": {"scrape_interval": "500ms"},
                                      "scrape_configs": scrape}))
    port = free_port()
    process = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={folder / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(f"{url}/-/ready", process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def query(prometheus_url: str, expr: str) -> dict:
    answer = httpx.get(f"{prometheus_url}/api/v1/query", params={"query": expr}, timeout=10)
    return answer.json()


def test_prometheus_scrapes_the_gateway_the_monolith_and_the_relay(
    tmp_path: Path, postgres_url: str
) -> None:
    plan = tmp_path / "carve.toml"
    plan.write_text('[events."order.created"]\ntransport = "queue"\n')
    env = {"CARVE_CONFIG": str(plan), "DATABASE_URL": postgres_url}
    port, relay_metrics = free_port(), free_port()
    monolith = f"http://127.0.0.1:{port}"
    routes = write_routes(tmp_path / "routes.json", [])
    with (
        carve_process(["run", "monolith", "--port", str(port)], env=env,
                      ready_url=f"{monolith}/readyz"),
        carve_background(["run", "relay", "--metrics-port", str(relay_metrics)],
                         {**env, "CARVE_BROKER_NAMESPACE": f"prom-{port}"},
                         tmp_path / "relay.log"),
        gateway_process(routes, monolith, {}) as gateway,
    ):
        gateway_host = gateway.url.removeprefix("http://")
        jobs = {"monolith": (f"127.0.0.1:{port}", "/metrics"),
                "gateway": (gateway_host, "/_carve/metrics"),
                "relay": (f"127.0.0.1:{relay_metrics}", "/metrics")}
        with prometheus(tmp_path, jobs) as prom:
            for _ in range(3):
                assert httpx.get(f"{gateway.url}/api/v1/users/nobody").status_code == 404

            def scraped(expr: str) -> bool:
                return bool(query(prom, expr)["data"]["result"])

            assert wait_for(lambda: scraped(
                'carve_gateway_requests_total{upstream="monolith",status="404"}'), 30)
            assert wait_for(lambda: scraped(
                'carve_http_requests_total{service="monolith",status="404"}'), 30)
            assert wait_for(lambda: scraped('carve_outbox_backlog{module="orders"}'), 30)
            served = query(prom, 'sum(carve_http_requests_total{service="monolith",'
                                 'route="/api/v1/users/{user_id}"})')
            assert float(served["data"]["result"][0]["value"][1]) == 3
            _every_dashboard_query_is_valid(prom)


def _every_dashboard_query_is_valid(prom: str) -> None:
    boards = [gateway_dashboard(), events_dashboard(), http_dashboard("monolith")]
    for board in boards:
        for panel in board["panels"]:
            for target in panel["targets"]:
                answer = query(prom, target["expr"].replace("$__rate_interval", "1m"))
                assert answer["status"] == "success", (panel["title"], json.dumps(answer))
