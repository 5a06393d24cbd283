"""Serving the gateway: its own HTTP/1.1 server (httptools) on uvloop when installed."""

from __future__ import annotations

import asyncio
import logging

from migration.gateway.proxy import Gateway
from migration.gateway.serving import run
from migration.gateway.settings import GatewaySettings
from migration.gateway.store import open_store
from migration.runtime.errors import ConfigError


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


def serve(settings: GatewaySettings, host: str, port: int) -> None:
    """Run one gateway process until interrupted."""
    check_store(build_gateway(settings))
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s %(message)s")
    gateway = build_gateway(settings)
    run(gateway, host, port, direct=gateway.direct)
