"""Serving the gateway: its own HTTP/1.1 server (httptools) on uvloop when installed."""

from __future__ import annotations

import logging
from dataclasses import replace

from migration.gateway.bootstrap import build_gateway
from migration.gateway.gateway_settings import GatewaySettings
from migration.gateway.http_server import run
from migration.gateway.store import open_store, read_once


def serve(settings: GatewaySettings, host: str, port: int, *, reuse_port: bool = False,
          parent: int | None = None) -> None:
    """Run one gateway process until interrupted (or, as a worker, until ``parent`` is gone).

    The route store is read once first: one that cannot be read fails in one clear line
    before anything listens.
    """
    read_once(settings.routes)
    configure_logging()
    gateway = build_gateway(settings, open_store(settings.routes))
    run(gateway, host, port, direct=gateway.direct, reuse_port=reuse_port, parent=parent)


def serve_nginx(settings: GatewaySettings, host: str, port: int, *, workers: int,
                binary: str | None = None, folder: str | None = None) -> None:
    """Run the gateway with NGINX as its data plane (``nginx_engine.py``), until a signal."""
    from migration.gateway.nginx_engine import engine_upstreams, find_nginx, serve_with_nginx

    found = find_nginx(binary)
    settings = replace(settings, engine="nginx")
    read_once(settings.routes)
    upstreams = engine_upstreams(settings)  # one NGINX cannot address fails here, in one line
    configure_logging()
    gateway = build_gateway(settings, open_store(settings.routes))
    serve_with_nginx(gateway, settings, upstreams, host, port, workers, found, folder)


def configure_logging() -> None:
    """The gateway's log lines (its supervisor's and each worker's alike)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s %(message)s")
