"""The total timeout: a service that never answers is cut off, and a read is answered anyway."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from migration.gateway.bootstrap import build_gateway
from migration.gateway.gateway_settings import GatewaySettings
from migration.gateway.routes import Route, RouteMode, RouteTable
from migration.gateway.upstream import Timeouts
from tests.fakes import MemoryToggleStore

pytestmark = pytest.mark.anyio


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(65536)
    await asyncio.sleep(30)  # reads the request, never answers
    writer.close()


async def _answers_ok(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while await reader.readuntil(b"\r\n\r\n"):
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")


async def test_a_service_that_never_answers_times_out_and_a_read_falls_back():
    silent = await asyncio.start_server(_silent, "127.0.0.1", 0)
    monolith = await asyncio.start_server(_answers_ok, "127.0.0.1", 0)
    settings = GatewaySettings(
        monolith_url=f"http://127.0.0.1:{monolith.sockets[0].getsockname()[1]}",
        services={"inventory": f"http://127.0.0.1:{silent.sockets[0].getsockname()[1]}"},
        timeouts=Timeouts(connect=1.0, read=1.0, total=0.3))
    route = Route(prefix="/api", mode=RouteMode.SERVICE, service="inventory")
    gw = build_gateway(settings, MemoryToggleStore(RouteTable([route])))
    await gw.start()
    try:
        async with asyncio.timeout(10), httpx.AsyncClient(transport=httpx.ASGITransport(app=gw),
                                     base_url="http://gateway") as client:
            started = time.monotonic()
            read = await client.get("/api/stock")
            read_took = time.monotonic() - started
            started = time.monotonic()
            write = await client.post("/api/stock", json={"sku": "a"})
            write_took = time.monotonic() - started
    finally:
        await gw.stop()
        silent.close()
        monolith.close()

    assert read.status_code == 200 and read.text == "ok"
    assert read.headers["x-carve-upstream"] == "monolith"
    assert read.headers["x-carve-fallback"] == "gateway.upstream_timeout"
    assert write.status_code == 504
    assert write.json()["code"] == "gateway.upstream_timeout"
    # The deadline is checked ten times a second: 0.3 s, give or take the sweep.
    assert 0.25 < read_took < 1.0 and 0.25 < write_took < 1.0
