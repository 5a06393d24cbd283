"""The floor of a Python proxy: the least a reverse proxy on uvloop and httptools can do.

No routing, headers added, timeouts, breaker, metrics, bodies or error handling: a GET's
request line and headers go to a kept-alive upstream connection, and the answer comes back
whole. It measures, in the same run as the gateway, what the event loop, the parser and the
four system calls of a proxied request cost on this machine, whatever the proxy does on top.
Benchmark use only (``tools/bench/gateway.py``):

    python tools/bench/floor_proxy.py PORT UPSTREAM_PORT
"""

from __future__ import annotations

import asyncio
import sys

import httptools
import uvloop


class Upstream(asyncio.Protocol):
    """One kept-alive upstream connection; hands each whole answer to ``client``."""

    def __init__(self, idle: list[Upstream]) -> None:
        self.idle = idle
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.client: Client | None = None
        self.head: list[bytes] = []
        self.body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # noqa: D102
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:  # noqa: D102
        self.parser.feed_data(data)

    def connection_lost(self, exc: Exception | None) -> None:  # noqa: D102
        # Closed by the upstream (its idle timeout, say): not to be taken again.
        if self in self.idle:
            self.idle.remove(self)
        if self.client is not None and self.client.transport is not None:
            self.client.transport.close()

    def on_message_begin(self) -> None:  # noqa: D102
        self.head = [b""]  # the status line, once the parser has read it
        self.body = []

    def on_header(self, name: bytes, value: bytes) -> None:  # noqa: D102
        self.head.append(b"%b: %b\r\n" % (name, value))

    def on_headers_complete(self) -> None:  # noqa: D102
        self.head[0] = b"HTTP/1.1 %d OK\r\n" % self.parser.get_status_code()

    def on_body(self, body: bytes) -> None:  # noqa: D102
        self.body.append(body)

    def on_message_complete(self) -> None:  # noqa: D102
        client, self.client = self.client, None
        self.idle.append(self)
        if client is not None and client.transport is not None:
            client.transport.write(b"".join(self.head) + b"\r\n" + b"".join(self.body))


class Client(asyncio.Protocol):
    """One client connection: each request goes to an idle upstream connection."""

    def __init__(self, loop: asyncio.AbstractEventLoop, port: int,
                 idle: list[Upstream]) -> None:
        self.loop, self.port, self.idle = loop, port, idle
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.headers: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # noqa: D102
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:  # noqa: D102
        self.parser.feed_data(data)

    def on_url(self, url: bytes) -> None:  # noqa: D102
        self.url = url
        self.headers = []

    def on_header(self, name: bytes, value: bytes) -> None:  # noqa: D102
        self.headers.append(b"%b: %b\r\n" % (name, value))

    def on_message_complete(self) -> None:  # noqa: D102
        request = b"%b %b HTTP/1.1\r\n%b\r\n" % (self.parser.get_method(), self.url,
                                                  b"".join(self.headers))
        if self.idle:
            self._send(self.idle.pop(), request)
        else:
            self.loop.create_task(self._connect_and_send(request))

    async def _connect_and_send(self, request: bytes) -> None:
        _, upstream = await self.loop.create_connection(
            lambda: Upstream(self.idle), "127.0.0.1", self.port)
        self._send(upstream, request)

    def _send(self, upstream: Upstream, request: bytes) -> None:
        upstream.client = self
        upstream.transport.write(request)  # type: ignore[union-attr]


async def main(port: int, upstream_port: int) -> None:  # noqa: D103
    loop = asyncio.get_running_loop()
    idle: list[Upstream] = []
    server = await loop.create_server(lambda: Client(loop, upstream_port, idle),
                                      "127.0.0.1", port, backlog=2048)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1]), int(sys.argv[2])))
