"""Serving the gateway: uvicorn, with uvloop and httptools when they are installed."""

from __future__ import annotations

import asyncio
import importlib.util
import logging

import uvicorn

from migration.gateway.proxy import Gateway
from migration.gateway.settings import GatewaySettings
from migration.gateway.store import open_store
from migration.runtime.errors import ConfigError


def fastest_loop() -> str:
    """uvloop when installed: its transports do roughly half the work of asyncio's."""
    return "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"


def fastest_http() -> str | type:
    """httptools (with one write per answer) when installed, else h11's pure-Python parser."""
    if importlib.util.find_spec("httptools") is None:
        return "h11"
    from migration.gateway.serving import CoalescingHttpToolsProtocol

    return CoalescingHttpToolsProtocol


def build_gateway(settings: GatewaySettings) -> Gateway:
    """The gateway for these settings (its store is opened, not yet read)."""
    return Gateway(settings, open_store(settings.routes))


def check_store(gateway: Gateway) -> None:
    """Fail before serving when the route store cannot be read (one clear line)."""

    async def probe() -> None:
        try:
            await gateway.store.load()
        except ConfigError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure to read is the user's to fix
            raise ConfigError(f"route store {gateway.store.description}: {exc}") from exc
        finally:
            await gateway.store.close()

    asyncio.run(probe())


def serve(settings: GatewaySettings, host: str, port: int, access_log: bool = False) -> None:
    """Run one gateway process until interrupted."""
    check_store(build_gateway(settings))
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s %(message)s")
    uvicorn.run(build_gateway(settings), host=host, port=port, loop=fastest_loop(),
                http=fastest_http(), lifespan="on", log_level="info", access_log=access_log,
                timeout_graceful_shutdown=10, server_header=False, date_header=False,
                # The gateway sets X-Forwarded-For itself from the peer: no proxy-headers
                # middleware rewriting the client in front of the data plane.
                proxy_headers=False)
