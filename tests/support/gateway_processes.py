"""Gateway end-to-end set-ups: echo upstreams and gateway processes on free ports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.processes import ROOT, carve_process, free_port, wait_until_serving

ADMIN_TOKEN = "e2e-admin-token"


@contextmanager
def echo_backend(name: str, status: int = 200) -> Iterator[str]:
    """An echo upstream (tests/support/echo_backend.py) named ``name``; yields its URL."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "tests.support.echo_backend:app",
               "--port", str(port), "--log-level", "warning"]
    env = {**os.environ, "BACKEND_NAME": name, "BACKEND_STATUS": str(status)}
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/ready", process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@dataclass
class RunningGateway:
    """A gateway process and how to reach it."""

    url: str
    process: subprocess.Popen[bytes]
    routes: str

    def admin(self, method: str, path: str, **kwargs) -> httpx.Response:
        """Call the admin API with the right token."""
        headers = {"authorization": f"Bearer {ADMIN_TOKEN}"}
        return httpx.request(method, self.url + path, headers=headers, timeout=10, **kwargs)

    def cli_env(self) -> dict[str, str]:
        """The environment ``carve route …`` needs to reach this gateway."""
        return {**os.environ, "CARVE_GATEWAY_URL": self.url, "CARVE_ADMIN_TOKEN": ADMIN_TOKEN}


@contextmanager
def gateway_process(routes: str | Path, monolith: str, services: dict[str, str],
                    extra: list[str] | None = None, token: str = ADMIN_TOKEN
                    ) -> Iterator[RunningGateway]:
    """``carve run gateway`` on a free port until the block ends."""
    port = free_port()
    args = ["run", "gateway", "--port", str(port), "--monolith", monolith,
            "--routes", str(routes), *(extra or [])]
    for name, url in services.items():
        args += ["--service", f"{name}={url}"]
    url = f"http://127.0.0.1:{port}"
    with carve_process(args, env={"CARVE_ADMIN_TOKEN": token},
                       ready_url=f"{url}/_carve/healthz") as process:
        yield RunningGateway(url, process, str(routes))


def write_routes(path: Path, routes: list[dict]) -> Path:
    """A route file for the file store."""
    path.write_text(json.dumps({"routes": routes}))
    return path
