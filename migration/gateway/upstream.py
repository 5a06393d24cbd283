"""The upstream client: keep-alive connections over asyncio transports, parsed by httptools.

Measured against aiohttp's client (docs/adr/0002-gateway-data-plane.md): a protocol that
feeds bytes straight into httptools and hands the body over in the chunks it arrived in
does less per request than any general-purpose client.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

import httptools

from migration.gateway.flow_control import WriteFlow
from migration.runtime.breaker import BreakerPolicy, CircuitBreaker
from migration.runtime.errors import ConfigError

# Past this many buffered response bytes the upstream is paused until the client catches up.
_HIGH_WATER = 256 * 1024


class UpstreamError(Exception):
    """The upstream did not answer properly; ``status`` is what the client is told."""

    status = 502
    code = "gateway.upstream_unavailable"


class UpstreamConnectError(UpstreamError):
    """No connection, or the connection closed before a complete answer."""


class UpstreamTimeout(UpstreamError):
    """Connect, read or total time ran out."""

    status = 504
    code = "gateway.upstream_timeout"


class Listener(Protocol):
    """Follows one exchange by callbacks (see ``UpstreamConnection.listener``)."""

    def progress(self, conn: UpstreamConnection) -> None:
        """Something happened on ``conn``: read its state and act, or wait for more."""


# The gateway sees far more calls than one client binding: it waits for ten before judging,
# and opens on mostly-slow calls rather than only when every call is slow.
GATEWAY_BREAKER = BreakerPolicy(minimum_calls=10, slow_call_rate=0.8)

@dataclass(frozen=True)
class Timeouts:
    """Connect: to open a connection. Total: until the response head has arrived (connect,
    sending the body, waiting). Read: the longest silence while the body streams."""

    connect: float = 2.0
    read: float = 30.0
    total: float = 60.0


class UpstreamConnection(asyncio.Protocol):
    """One HTTP/1.1 connection; one exchange at a time, reused while keep-alive holds."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.reused = False
        self._parser = httptools.HttpResponseParser(self)
        self.deadline = 0.0  # for the response head, while its pool has it armed
        self.idle = False  # in its pool, between exchanges
        self._loop = asyncio.get_running_loop()
        self._flow = WriteFlow(self._loop)
        self.reset()

    def reset(self) -> None:
        """Forget the previous exchange, whatever it left."""
        self.renew()
        self.error: UpstreamError | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._interim = False  # parsing a 1xx answer, which is not the response
        self.head_only = False
        # Told after each event (bytes parsed, closed, timed out) instead of a waiter
        # being woken: the gateway's direct path, which runs on callbacks alone.
        self.listener: Listener | None = None

    def renew(self) -> None:
        """Forget an exchange that ended cleanly (an idle connection's): what such an
        exchange changes (no error, waiter, listener, interim answer or HEAD is left, or
        the connection would not be idle)."""
        self.status = self.buffered = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: deque[bytes] = deque()  # a new one: a task relaying may hold the old
        self.complete = self.head_done = self._reusable = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # noqa: D102
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:  # noqa: D102
        if self.idle:
            # Bytes nobody asked for: whatever they are, the connection is out of step.
            self.error = UpstreamConnectError("upstream sent data between exchanges")
            if self.transport is not None:
                self.transport.close()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(UpstreamConnectError(f"malformed response from upstream: {exc}"))
        if self.listener is not None:
            self.listener.progress(self)

    def connection_lost(self, exc: Exception | None) -> None:  # noqa: D102
        if not self.complete:
            self._fail(UpstreamConnectError("upstream closed the connection"))
        self.resume_writing()
        if self.listener is not None:
            self.listener.progress(self)

    def pause_writing(self) -> None:  # noqa: D102
        self._flow.pause()

    def resume_writing(self) -> None:  # noqa: D102
        self._flow.resume()

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:  # noqa: D102
        if not self.head_done:  # trailers of a chunked body are not passed on
            self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:  # noqa: D102
        status = self._parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            # An interim answer (100 Continue, 103 Early Hints): the response follows it.
            self._interim = True
            self.headers = []
            return
        self.status = status
        # Asked here: llhttp forgets the answer once the message is complete.
        self._reusable = self._parser.should_keep_alive()
        self.head_done = True
        if self.head_only:
            # A HEAD answer announces a body it never sends: the parser cannot know, so the
            # exchange ends here and the connection is not reused.
            self.complete = True
            self.error = UpstreamConnectError("not reusable after HEAD")
        if self._waiter is not None:
            self._wake()

    def on_body(self, body: bytes) -> None:  # noqa: D102
        self.chunks.append(body)
        self.buffered += len(body)
        if self.buffered > _HIGH_WATER and self.transport is not None:
            self.transport.pause_reading()
        if self._waiter is not None:
            self._wake()

    def on_message_complete(self) -> None:  # noqa: D102
        if self._interim:
            self._interim = False
            return
        self.complete = True
        if self._waiter is not None:
            self._wake()

    # the exchange
    def write_now(self, data: bytes) -> None:
        """Hand bytes to the transport (see :meth:`drained` for flow control)."""
        if self.error or self.transport is None or self.transport.is_closing():
            raise self.error or UpstreamConnectError("upstream closed the connection")
        self.transport.write(data)

    async def drained(self) -> None:
        """Wait while the upstream's socket buffer is full."""
        if await self._flow.drained() and self.error:
            raise self.error

    async def write(self, data: bytes) -> None:
        """Send bytes, waiting while the upstream's socket buffer is full."""
        self.write_now(data)
        await self.drained()

    def time_out(self, upstream: str) -> None:
        """The response head is late (its pool's sweep says so): fail the exchange."""
        self._fail(UpstreamTimeout(f"{upstream} did not answer in time"))
        self.resume_writing()
        if self.listener is not None:
            self.listener.progress(self)

    async def read_head(self) -> None:
        """Wait for the status line and headers."""
        while not self.head_done:
            if self.error:
                raise self.error
            self._waiter = waiter = self._loop.create_future()
            try:
                await waiter
            finally:
                self._waiter = None

    async def next_chunk(self, timeout: float) -> bytes | None:
        """The next piece of the body, ``None`` at its end."""
        while not self.chunks:
            if self.complete:
                return None
            async with asyncio.timeout(timeout):
                await self._wait()
        chunk = self.chunks.popleft()
        self.buffered -= len(chunk)
        if self.buffered <= _HIGH_WATER // 2 and self.transport is not None:
            self.transport.resume_reading()
        return chunk

    def close(self) -> None:
        """Drop the connection."""
        if self.transport is not None:
            self.transport.close()

    async def _wait(self) -> None:
        if self.error:
            raise self.error
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None
        if self.error and not self.complete:
            raise self.error

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _fail(self, error: UpstreamError) -> None:
        self.error = error
        self._wake()


class UpstreamPool:
    """Idle keep-alive connections to one upstream, its timeouts and its circuit breaker."""

    def __init__(self, name: str, url: str, timeouts: Timeouts | None = None,
                 breaker: CircuitBreaker | None = None, max_idle: int = 256) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"upstream {name}: {url!r} is not an http(s) URL")
        self.name = name
        self.url = url.rstrip("/")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.host_header = parts.netloc.encode()
        self.base_path = parts.path.rstrip("/").encode()
        # What its redirects start with when they point at itself: cut off on the way back.
        self.origin = self.url.encode()
        # The header each answer it gives carries, as it goes out (``X-Carve-Upstream``).
        self.name_header = b"x-carve-upstream: " + name.encode() + b"\r\n"
        self.timeouts = timeouts or Timeouts()
        self.breaker = breaker or CircuitBreaker(name, GATEWAY_BREAKER)
        self._ssl = ssl.create_default_context() if parts.scheme == "https" else None
        self._idle: list[UpstreamConnection] = []
        self._max_idle = max_idle
        self._armed: set[UpstreamConnection] = set()

    def take_idle(self) -> UpstreamConnection | None:
        """An idle connection that is still open, if there is one."""
        idle = self._idle
        while idle:
            conn = idle.pop()
            transport = conn.transport
            if transport is not None and not transport.is_closing() and not conn.error:
                conn.idle = False
                conn.renew()
                conn.reused = True
                return conn
        return None

    async def connect(self) -> UpstreamConnection:
        """A new connection, within the connect timeout."""
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.timeouts.connect):
                _, conn = await loop.create_connection(
                    UpstreamConnection, self.host, self.port, ssl=self._ssl)
        except TimeoutError as exc:
            raise UpstreamTimeout(f"connecting to {self.name} timed out") from exc
        except OSError as exc:
            raise UpstreamConnectError(f"cannot connect to {self.name}: {exc.strerror or exc}") \
                from exc
        return conn

    def release(self, conn: UpstreamConnection) -> None:
        """Keep the connection for the next exchange when it allows that, else close it."""
        self._armed.discard(conn)  # its timeout, if still armed, ends with the exchange
        transport = conn.transport
        # Reusable: the exchange finished cleanly and the upstream keeps the connection open.
        if (conn.complete and conn._reusable and not conn.error and transport is not None
                and not transport.is_closing() and len(self._idle) < self._max_idle):
            conn.idle = True
            self._idle.append(conn)
        else:
            conn.close()

    def arm(self, conn: UpstreamConnection, seconds: float | None = None) -> None:
        """Start the total timeout of an exchange on ``conn`` (until its response head), or
        a timeout of ``seconds`` from now.

        Deadlines are checked by :meth:`expire`, which the gateway calls ten times a second:
        far cheaper per request than a timer armed and cancelled on the event loop, for a
        timeout measured in seconds.
        """
        conn.deadline = time.monotonic() + (self.timeouts.total if seconds is None else seconds)
        self._armed.add(conn)

    def disarm(self, conn: UpstreamConnection) -> None:
        """The response head is in, or the exchange ended."""
        self._armed.discard(conn)

    def expire(self, now: float) -> None:
        """Fail every exchange whose response head is past its deadline."""
        for conn in [c for c in self._armed if c.deadline <= now]:
            self._armed.discard(conn)
            conn.time_out(self.name)

    def close(self) -> None:
        """Close every idle connection, and those of exchanges still waiting (the gateway
        stopping: their deadlines are no longer checked)."""
        for conn in [*self._idle, *self._armed]:
            conn.close()
        self._idle.clear()
