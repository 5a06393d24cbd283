"""``carve export``: read the route table from its store and render it for one engine."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from migration.gateway.exports import ExportInput, Upstream, exporters
from migration.gateway.gateway_settings import MONOLITH
from migration.gateway.routes import RouteTable
from migration.gateway.store import REDIS_SCHEMES, read_once
from migration.runtime.errors import ConfigError


def load_table(routes: str) -> RouteTable:
    """The table stored at ``routes`` (file or Redis), read once.

    Only the gateway creates a route file: exporting from a missing one would silently
    render an empty table, so it is an error here.
    """
    if not routes.startswith(REDIS_SCHEMES) and not Path(routes).is_file():
        raise ConfigError(f"route file {routes} does not exist (the gateway creates it; "
                          "pass --routes FILE or redis://…)")
    return read_once(routes)


def export_configuration(target: str, routes: str, monolith: str,
                         services: Mapping[str, str], listen_port: int = 8080) -> str:
    """The configuration text for ``target`` (nginx, envoy, httproute)."""
    render = exporters().get(target)
    if render is None:
        raise ConfigError(f"unknown export target {target!r} (nginx, envoy, httproute)")
    upstreams = {name: Upstream.from_url(name, url)
                 for name, url in {MONOLITH: monolith, **services}.items()}
    return render(ExportInput(load_table(routes), upstreams, listen_port))
