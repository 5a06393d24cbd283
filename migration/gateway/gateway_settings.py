"""How one gateway process is set up: its upstreams, its route store, its limits."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from migration.gateway.upstream import GATEWAY_BREAKER, Timeouts
from migration.runtime.breaker import BreakerPolicy
from migration.runtime.errors import ConfigError

MONOLITH = "monolith"
GATEWAY = "gateway"  # X-Carve-Upstream of what the gateway answers itself


@dataclass(frozen=True)
class GatewaySettings:
    """Everything ``carve run gateway`` passes to the data plane."""

    monolith_url: str = "http://127.0.0.1:8000"
    services: Mapping[str, str] = field(default_factory=dict)
    routes: str = "routes.json"
    admin_token: str | None = None
    max_body_bytes: int = 256 * 1024 * 1024
    timeouts: Timeouts = field(default_factory=Timeouts)
    breaker: BreakerPolicy = GATEWAY_BREAKER
    slo_check_seconds: float = 1.0
    shadow_capture_bytes: int = 1024 * 1024
    shadow_concurrency: int = 64
    traced: bool = False  # a span per request (OpenTelemetry); set by configure_tracing
    # One of several worker processes on one port: the folder where the workers' metrics
    # meet, and this worker's number (see worker_metrics.py). None: a single process.
    workers_dir: str | None = None
    worker: int = 0
    engine: str = "carve"  # the data plane: carve's own, or "nginx" in front of it

    def upstreams(self) -> dict[str, str]:
        """Every upstream by name, the monolith included."""
        return {MONOLITH: self.monolith_url, **self.services}


_SERVICE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def parse_services(pairs: list[str]) -> dict[str, str]:
    """``NAME=URL`` pairs from the command line."""
    services: dict[str, str] = {}
    for pair in pairs:
        name, sep, url = pair.partition("=")
        if not sep or not name or not url:
            raise ConfigError(f"--service {pair!r}: expected NAME=URL")
        if name == MONOLITH:
            raise ConfigError("--service: 'monolith' is the monolith's name; use --monolith")
        if not _SERVICE_NAME.fullmatch(name):
            # It is sent in X-Carve-Upstream and written into the exported configurations.
            raise ConfigError(f"--service {pair!r}: a service name is letters, digits, "
                              "'.', '_' and '-', starting with a letter or digit")
        if name in services:
            raise ConfigError(f"--service {name!r} is given twice")
        services[name] = url
    return services


def admin_token_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    """``CARVE_ADMIN_TOKEN``, or None (the admin API is then off)."""
    token = (os.environ if environ is None else environ).get("CARVE_ADMIN_TOKEN", "")
    return token or None
