"""The gateway's HTTP/1.1 server: httptools parsing straight into one ASGI call per request.

Every request through the gateway pays for the server in front of it twice over: parsing
and answering the client, then the same again towards the upstream. uvicorn's generic
request cycle (flow-control objects, an event per request, a timer per response, checks on
every header the app sends) was measured as the largest share of the gateway's own time,
so the gateway is served by this protocol instead (docs/adr/0005-gateway-http-server.md).

What it does, per connection: requests parsed by httptools; each offered to a direct
handler when one is given (the gateway's callback path for plain GETs, ADR 0006), else
handed to the ASGI app as its own task; pipelined requests answered in order; request
bodies streamed with flow control and ``Expect: 100-continue`` answered on the first
``receive``; a response's head and body written together when the body is whole (one
``send`` system call); bodies of unknown length chunked; keep-alive unless the client or
HTTP/1.0 says otherwise.

What it trusts: header names from the app are lowercase and values free of CR/LF (the
gateway's come from httptools, which refuses both, and from Starlette).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from urllib.parse import unquote

import httptools

from migration.gateway.flow_control import WriteFlow

log = logging.getLogger("carve.gateway")

App = Callable[[dict, Callable[[], Awaitable[dict]], Callable[[dict], Awaitable[None]]],
               Awaitable[None]]
# Takes a request before the app does: True when it answers it itself (see HttpProtocol).
Direct = Callable[["Cycle"], bool]

# Past this many buffered request-body bytes the client is not read until the app catches up.
_BODY_HIGH_WATER = 256 * 1024
_ASGI = {"version": "3.0", "spec_version": "2.4"}
_STATUS_LINES = {code: b"HTTP/1.1 %d %s\r\n" % (code, HTTPStatus(code).phrase.encode())
                 for code in HTTPStatus}
_NO_BODY = frozenset({204, 304})
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
# Request headers the server itself looks at (the rest it only collects).
_NOTED = frozenset({b"expect", b"transfer-encoding"})
# A request line or a header line longer than MAX_LINE_BYTES, or a head longer than
# MAX_HEAD_BYTES, is refused with 431: NGINX's large_client_header_buffers 4 8k.
MAX_LINE_BYTES = 8 * 1024
MAX_HEAD_BYTES = 32 * 1024


class ClientDisconnected(OSError):
    """``send`` on a connection the client already closed (ASGI 2.4: an ``OSError``)."""


class _HeadTooLarge(Exception):
    """Raised from a parser callback to stop parsing a request head past the limit."""


class _Refused(Exception):
    """Raised from a parser callback once the request was refused: stop parsing."""


def _status_line(status: int) -> bytes:
    return _STATUS_LINES.get(status) or b"HTTP/1.1 %d \r\n" % status


class Connections:
    """Every open connection of one server, for the idle sweep and a graceful shutdown."""

    def __init__(self, keep_alive_seconds: float, state: dict | None = None) -> None:
        self.open: set[HttpProtocol] = set()
        self.keep_alive_seconds = keep_alive_seconds
        self.state = state if state is not None else {}  # the lifespan's, copied per request

    def close_idle(self, now: float) -> None:
        """Close connections that owe a request head for longer than the keep-alive timeout.

        One sweep a second instead of a timer armed after every response. A connection is
        waited for from when it opens or its last answer went out until a complete request
        head is in: idle keep-alive connections and heads sent byte by byte are both bounded.
        """
        for conn in list(self.open):
            since = conn.waiting_since
            if since is not None and now - since > self.keep_alive_seconds:
                conn.close()

    def shut_down(self) -> None:
        """Close idle connections now; the others after the response in flight."""
        for conn in list(self.open):
            conn.shut_down()

    def in_flight(self) -> int:
        """Requests being answered now, by the app or by the direct path."""
        return sum(1 for conn in self.open if conn.answering)

    def abort(self) -> list[asyncio.Task]:
        """Cut every connection left; cancel and return the app tasks still running."""
        tasks = []
        for conn in list(self.open):
            if conn.task is not None and not conn.task.done():
                conn.task.cancel()
                tasks.append(conn.task)
            conn.transport.abort()
        return tasks


class Cycle:
    """One request and its response: the ``receive`` and ``send`` the app is given."""

    # Where every exchange starts: kept on the class, set on an instance once changed (most
    # of an exchange answered on the direct path never changes them).
    _body: bytearray | None = None  # body bytes not yet handed to the app
    _more_body = True
    _delivered = False  # the last piece of the body was handed to the app
    _waiter: asyncio.Future[None] | None = None
    disconnected = False
    started = False
    complete = False
    _status = 0
    _headers: list = []  # noqa: RUF012 - replaced, never changed in place
    _head_sent = False
    _chunked = False

    def __init__(self, conn: HttpProtocol, scope: dict, keep_alive: bool,
                 expect_continue: bool) -> None:
        self.scope = scope
        self._conn = conn
        self.kept = conn.kept  # what a handler keeps between the connection's requests
        self._continue = expect_continue
        self.keep_alive = keep_alive
        self._no_body = scope["method"] == "HEAD"  # also 1xx, 204, 304: set at the start

    # fed by the protocol
    def feed(self, data: bytes) -> None:
        """Body bytes from the client."""
        if self.complete:
            return  # answered already (a 413, say): the rest is read and dropped
        if self._body is None:
            self._body = bytearray()
        self._body += data
        if len(self._body) > _BODY_HIGH_WATER:
            self._conn.pause_reading()
        self._wake()

    def end_of_body(self) -> None:
        """The request is complete."""
        self._more_body = False
        if self._waiter is not None:  # (most requests have nobody waiting for their end)
            self._wake()

    def lose(self) -> None:
        """The client went away."""
        self.disconnected = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # ASGI
    async def receive(self) -> dict:
        """The next piece of the body; ``http.disconnect`` once the exchange is over."""
        if self._continue:
            self._continue = False
            if not self.disconnected and not self.started:
                self._conn.transport.write(_CONTINUE)
        while not self.disconnected and not self.complete and not self._body \
                and self._more_body:
            self._waiter = self._conn.loop.create_future()
            await self._waiter
            self._waiter = None
        if self.disconnected or self.complete or self._delivered:
            # The whole body was handed over: what is left to wait for is the end.
            while not self.disconnected and not self.complete:
                self._waiter = self._conn.loop.create_future()
                await self._waiter
                self._waiter = None
            return {"type": "http.disconnect"}
        self._delivered = not self._more_body
        body = b""
        if self._body:
            body = bytes(self._body)
            self._body.clear()
        self._conn.resume_reading()
        return {"type": "http.request", "body": body, "more_body": self._more_body}

    async def send(self, message: dict) -> None:
        """Write the response; the head waits for the first body part so both go at once."""
        if self.disconnected:
            raise ClientDisconnected("the client closed the connection")
        kind = message["type"]
        if not self.started:
            if kind != "http.response.start":
                raise RuntimeError(f"expected http.response.start, got {kind}")
            self._begin(message["status"], message.get("headers") or [])
            return
        if kind != "http.response.body":
            raise RuntimeError(f"expected http.response.body, got {kind}")
        if self.complete:
            raise RuntimeError("the response is already complete")
        more = message.get("more_body", False)
        self._write(message.get("body", b""), more)
        if more:
            await self._conn.flow.drained()
            if self.disconnected:
                raise ClientDisconnected("the client closed the connection")

    def respond(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        """The whole response at once, without ASGI messages: for the gateway's direct path.

        The caller checks :attr:`disconnected` first.
        """
        self._begin(status, headers)
        self._write(body, False)

    @property
    def plain(self) -> bool:
        """Whether a whole answer may go out as :meth:`respond_whole` gives it: the client
        keeps an HTTP/1.1 connection alive and holds no body back (``Expect``)."""
        return self.keep_alive and not (self._continue and self._more_body) \
            and self.scope["http_version"] == "1.1" and not self._no_body

    def respond_whole(self, data: bytes) -> None:
        """A whole answer already framed (head with its ``content-length``, then the body),
        for a request :attr:`plain` allows it for: the direct path's common case.

        The caller checks :attr:`disconnected` first.
        """
        self.started = self._head_sent = self.complete = True
        self._conn.transport.write(data)
        if self._waiter is not None:
            self._wake()
        self._conn.response_complete(self)

    def continue_in_task(self, answer: Awaitable[None]) -> None:
        """Finish the answer in a task: the direct path's way out of callbacks."""
        self._conn.continue_in_task(self, answer)

    def _begin(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        self.started = True
        self._status = status
        self._headers = headers
        if status < 200 or status in _NO_BODY:
            self._no_body = True

    def _write(self, body: bytes, more: bool) -> None:
        if not self._head_sent:
            self._head_sent = True
            data = self._head(len(body), more)
            if body and not self._no_body:
                data += b"%x\r\n%b\r\n" % (len(body), body) if self._chunked else body
        elif self._no_body:
            data = b""
        elif self._chunked:
            data = b"%x\r\n%b\r\n" % (len(body), body) if body else b""
            if not more:
                data += b"0\r\n\r\n"
        else:
            data = body
        if data:
            self._conn.transport.write(data)
        if not more:
            self.complete = True
            self._wake()
            self._conn.response_complete(self)

    def _head(self, length: int, more: bool) -> bytes:
        status = self._status
        parts = [_STATUS_LINES.get(status) or _status_line(status)]
        framed = status < 200 or status in _NO_BODY
        for name, value in self._headers:
            if name == b"content-length" or name == b"transfer-encoding":
                framed = True
            elif name == b"connection" and value.lower() == b"close":
                self.keep_alive = False
            parts += (name, b": ", value, b"\r\n")
        if self._continue and self._more_body:
            # Answered before asking for the body the client holds back: whether it sends
            # it now is the client's choice, so the connection cannot be read further.
            self.keep_alive = False
        if not framed:
            if not more:
                # A HEAD answer's length is the body the app gave, if any: not a made-up 0.
                if length or self.scope["method"] != "HEAD":
                    parts.append(b"content-length: %d\r\n" % length)
            elif self.scope["http_version"] == "1.1":
                self._chunked = True
                parts.append(b"transfer-encoding: chunked\r\n")
            else:
                self.keep_alive = False  # HTTP/1.0: the end of the body is the end of it all
        if not self.keep_alive:
            parts.append(b"connection: close\r\n")
        elif self.scope["http_version"] == "1.0":
            parts.append(b"connection: keep-alive\r\n")
        parts.append(b"\r\n")
        return b"".join(parts)


class HttpProtocol(asyncio.Protocol):
    """One client connection."""

    def __init__(self, app: App, connections: Connections,
                 loop: asyncio.AbstractEventLoop, direct: Direct | None = None) -> None:
        self.app = app
        # Offered each request first; when it takes one, it answers with ``Cycle.respond``
        # from callbacks, or hands the rest to a task with ``Cycle.continue_in_task``.
        self.direct = direct
        self.loop = loop
        self.connections = connections
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.waiting_since: float | None = loop.time()  # for a request head, since when
        self.task: asyncio.Task | None = None  # the app's task for the request answered now
        self._in_head = True  # the next bytes belong to a request head
        self._stopped_reading = False  # refused, or upgraded: what follows is not parsed
        self._head_bytes = self._raw_head_bytes = 0
        self._too_large = False  # a line or the head went past its limit
        self._parser = httptools.HttpRequestParser(self)
        self._client: tuple[str, int] | None = None
        self._server: tuple[str, int] | None = None
        self._active: Cycle | None = None
        self._parsing: Cycle | None = None
        self._pipeline: deque[Cycle] = deque()
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._expect_continue = False
        self._coded = False  # the request has a transfer-encoding header
        self._reading = True
        self.flow = WriteFlow(loop)  # the client's side: a streamed answer waits on it
        # What a handler (the direct path) keeps from one request of this connection to the
        # next, by its own keys.
        self.kept: dict[object, object] = {}
        self._closing = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # noqa: D102
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        local = transport.get_extra_info("sockname")
        self._client = (peer[0], peer[1]) if isinstance(peer, tuple) else None
        self._server = (local[0], local[1]) if isinstance(local, tuple) else None
        self.connections.open.add(self)

    def data_received(self, data: bytes) -> None:  # noqa: D102
        if self._stopped_reading:
            return
        if self._in_head:
            # httptools holds an unfinished header value itself: the raw bytes of a head
            # that never ends are bounded here, complete headers in ``on_header``.
            self._raw_head_bytes += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # Upgrades (WebSocket, h2c) are not offered: the request was answered as plain
            # HTTP/1.1 with keep-alive off, and what follows it is another protocol.
            self._stop_reading()
            return
        except httptools.HttpParserError as exc:
            if self._stopped_reading:
                return  # refused from a callback, answered already
            if self._too_large:
                self._refuse("the request head is too large", 431)
            else:
                self._refuse(f"malformed HTTP request: {exc}")
            return
        if self._in_head and self._raw_head_bytes > 2 * MAX_HEAD_BYTES:
            self._refuse("the request head is too large", 431)

    def connection_lost(self, exc: Exception | None) -> None:  # noqa: D102
        self.connections.open.discard(self)
        for cycle in (self._active, *self._pipeline):
            if cycle is not None:
                cycle.lose()
        self._pipeline.clear()
        self.flow.resume()

    def pause_writing(self) -> None:  # noqa: D102
        self.flow.pause()

    def resume_writing(self) -> None:  # noqa: D102
        self.flow.resume()

    # httptools callbacks (none for a message's beginning: what a head is read into starts
    # empty, and again once a message is complete, which spares a callback per request)
    def on_url(self, url: bytes) -> None:  # noqa: D102
        self._url += url
        self._head_bytes += len(url)
        if self._head_bytes > MAX_HEAD_BYTES:
            self._head_too_large()

    def on_header(self, name: bytes, value: bytes) -> None:  # noqa: D102
        self._head_bytes += len(name) + len(value)
        if self._head_bytes > MAX_HEAD_BYTES:
            self._head_too_large()
        if not self._in_head:
            return  # a chunked body's trailers: counted with its head, never passed on
        name = name.lower()
        if name in _NOTED:
            if name == b"transfer-encoding":
                self._coded = True
            elif value.lower() == b"100-continue":
                self._expect_continue = True
        self._headers.append((name, value))

    def _head_too_large(self) -> None:
        self._too_large = True
        raise _HeadTooLarge()  # stops the parser; answered with 431

    def on_headers_complete(self) -> None:  # noqa: D102
        # The head's total is checked as it comes; its lines only when the head is longer
        # than a line may be (shorter, no line of it can be too long).
        if self._head_bytes > MAX_LINE_BYTES and (len(self._url) > MAX_LINE_BYTES or max(
                (len(n) + len(v) for n, v in self._headers), default=0) > MAX_LINE_BYTES):
            self._head_too_large()
        if self._coded and not _framed(self._headers):
            # RFC 9112 6.3: a body whose last transfer coding is not chunked has no length
            # the next request could be found after (NGINX answers 501).
            self._refuse("a request body must be framed by chunked or content-length")
            raise _Refused()
        self.waiting_since = None
        self._in_head = False
        self._raw_head_bytes = 0
        scope = self._scope()
        if scope is None:
            raise _Refused()  # answered with 400: nothing after it is parsed
        parser = self._parser
        keep_alive = parser.should_keep_alive() and not self._closing \
            and not parser.should_upgrade()
        # RFC 9110 10.1.1: no 100 (Continue) for an HTTP/1.0 client.
        cycle = Cycle(self, scope, keep_alive,
                      self._expect_continue and scope["http_version"] == "1.1")
        self._parsing = cycle
        if self._active is None:
            self._start(cycle)
        else:
            self._pipeline.append(cycle)
            self.pause_reading()

    def on_body(self, body: bytes) -> None:  # noqa: D102
        if self._parsing is not None:
            self._parsing.feed(body)

    def on_message_complete(self) -> None:  # noqa: D102
        # The next head starts empty (this one's headers are its scope's).
        self._in_head = True
        self._url = b""
        self._headers = []
        self._expect_continue = self._coded = False
        self._head_bytes = 0
        if self._parsing is not None:
            self._parsing.end_of_body()
            self._parsing = None

    # the server's side
    def _scope(self) -> dict | None:
        url = self._url
        if url[:1] == b"/":
            raw_path, _, query = url.partition(b"?")
        else:  # absolute-form ("GET http://host/path"), or a malformed target
            try:
                parsed = httptools.parse_url(url)
            except httptools.HttpParserInvalidURLError:
                self._refuse("malformed request target")
                return None
            raw_path, query = parsed.path or b"/", parsed.query or b""
        try:
            path = raw_path.decode("ascii")
        except UnicodeDecodeError:
            self._refuse("the request target is not ASCII")
            return None
        if "%" in path:
            path = unquote(path)
        return {"type": "http", "asgi": _ASGI, "http_version": self._parser.get_http_version(),
                "server": self._server, "client": self._client, "scheme": "http",
                "method": self._parser.get_method().decode("ascii"), "root_path": "",
                "path": path, "raw_path": raw_path, "query_string": query,
                "headers": self._headers, "state": self.connections.state.copy()}

    def _start(self, cycle: Cycle) -> None:
        self._active = cycle
        if self.direct is not None:
            try:
                if self.direct(cycle):
                    return
            except Exception:  # noqa: BLE001 - a failure of the shortcut: the app answers
                log.exception("the direct path failed on %s %s", cycle.scope["method"],
                              cycle.scope["path"])
        self.task = self.loop.create_task(
            self._run(cycle, self.app(cycle.scope, cycle.receive, cycle.send)))

    def continue_in_task(self, cycle: Cycle, answer: Awaitable[None]) -> None:
        """Finish answering ``cycle`` in a task (tracked for a shutdown like the app's)."""
        self.task = self.loop.create_task(self._run(cycle, answer))

    async def _run(self, cycle: Cycle, answer: Awaitable[None]) -> None:
        try:
            await answer
        except ClientDisconnected:
            return
        except Exception:  # noqa: BLE001 - the app's failure is logged and answered with 500
            if cycle.disconnected:
                return  # the app's own reading of a client gone (Starlette's ClientDisconnect)
            log.exception("unhandled error answering %s %s", cycle.scope["method"],
                          cycle.scope["path"])
        if cycle.complete or cycle.disconnected:
            return
        if cycle.started:
            # Half an answer cannot be completed: closing tells the client it is cut short.
            self.transport.close()
            return
        cycle.keep_alive = False
        await cycle.send({"type": "http.response.start", "status": 500,
                          "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
        await cycle.send({"type": "http.response.body", "body": b"Internal Server Error"})

    def response_complete(self, cycle: Cycle) -> None:
        """The app finished its answer: go on with the next request, or close."""
        self._active = None
        if not cycle.keep_alive or self._closing:
            self.transport.close()
            return
        if self._pipeline:
            self._start(self._pipeline.popleft())
            if not self._pipeline:
                self.resume_reading()
        else:
            self.waiting_since = self.loop.time()
            if not self._reading:
                self.resume_reading()

    @property
    def answering(self) -> bool:
        """Whether a request on this connection is being answered."""
        return self._active is not None

    def pause_reading(self) -> None:
        """Stop reading from the client (a full body buffer, or requests queued)."""
        if self._reading:
            self._reading = False
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        """Read from the client again, unless requests are still queued."""
        if not self._reading and not self._pipeline and not self.transport.is_closing():
            self._reading = True
            self.transport.resume_reading()

    def _stop_reading(self) -> None:
        self._stopped_reading = True
        if self._active is None and not self._pipeline:
            self.transport.close()
        else:
            self.pause_reading()

    def _refuse(self, reason: str, status: int = 400) -> None:
        """Answer a request that cannot be parsed (400) or is too large (431), then close."""
        self._stopped_reading = True
        transport = self.transport
        if self._active is not None or transport.is_closing():
            transport.close()
            return
        body = reason.encode()
        transport.write(_status_line(status) + b"content-type: text/plain; charset=utf-8"
                        b"\r\nx-carve-upstream: gateway\r\ncontent-length: %d"
                        b"\r\nconnection: close\r\n\r\n%b" % (len(body), body))
        if not transport.can_write_eof():
            transport.close()
            return
        # A lingering close: the answer and our FIN go out, the client's remaining bytes are
        # read and dropped, so closing on them unread cannot reset the answer away. The
        # client's own close ends it; two seconds at most.
        transport.write_eof()
        self.loop.call_later(2.0, self.close)

    def shut_down(self) -> None:
        """The server is stopping: close when nothing is in flight."""
        self._closing = True
        if self._active is None:
            self.transport.close()
        else:
            self._active.keep_alive = False

    def close(self) -> None:
        """Close the connection now."""
        if not self.transport.is_closing():
            self.transport.close()


def _framed(headers: list[tuple[bytes, bytes]]) -> bool:
    """False when a transfer-encoding header ends in a coding other than chunked."""
    codings = [value for name, value in headers if name == b"transfer-encoding"]
    return not codings or codings[-1].rsplit(b",", 1)[-1].strip().lower() == b"chunked"
