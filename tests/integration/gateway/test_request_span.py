"""A traced gateway: a server span per request, in the client's trace, parent of the upstream's."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from migration.gateway.bootstrap import build_gateway
from migration.gateway.gateway_settings import GatewaySettings
from migration.gateway.routes import RouteTable
from tests.fakes import MemoryToggleStore

pytestmark = pytest.mark.anyio
CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"


async def test_a_request_is_a_span_of_the_client_s_trace_and_the_upstream_s_parent(
    spans: InMemorySpanExporter,
) -> None:
    seen: list[bytes] = []

    async def monolith(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        seen.extend(line.split(b": ", 1)[1] for line in head.split(b"\r\n")
                    if line.lower().startswith(b"traceparent: "))
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(monolith, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    gw = build_gateway(GatewaySettings(monolith_url=f"http://127.0.0.1:{port}", traced=True),
                       MemoryToggleStore(RouteTable()))
    assert gw.direct is None  # every request on the path that has a span
    await gw.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gw),
                                     base_url="http://gateway") as client:
            answer = await client.get("/api/v1/users/u1", headers={
                "traceparent": f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"})
    finally:
        await gw.stop()
        server.close()

    assert answer.status_code == 200
    [span] = [s for s in spans.get_finished_spans() if s.kind is SpanKind.SERVER]
    context = span.get_span_context()
    assert format(context.trace_id, "032x") == CLIENT_TRACE
    assert span.parent is not None and format(span.parent.span_id, "016x") == CLIENT_SPAN
    assert span.attributes["carve.upstream"] == "monolith"
    assert span.attributes["http.response.status_code"] == 200
    assert seen == [f"00-{CLIENT_TRACE}-{context.span_id:016x}-01".encode()]
