"""The client binding's HTTP transport: plain-HTTP keep-alive connections, parsed by httptools.

A contract call is one small request and one small answer on a connection kept open
between calls. httpx's default transport (httpcore and h11, in pure Python) spends
more on each of those than the call itself, and so does the standard library's
``http.client`` (its header parser is the ``email`` package's);
:class:`KeepAliveTransport` writes the request itself and reads the answer with
httptools' C parser (uvicorn's, and the gateway's for its upstreams), behind the same
httpx interface, so the binding, its tests' mock transports and proxies from the
environment (httpx.Client mounts them in front) work as before. ``https://`` URLs
go to httpx's own transport, so TLS settings and certificates are httpx's. The client
binding also writes its bodiless requests itself and hands them to
:meth:`KeepAliveTransport.exchange` (see ``migration.runtime.client``), with no httpx
request or response built for them.

Failures are httpx's exceptions, as from its transport: ``ConnectTimeout``,
``ConnectError``, ``WriteTimeout``/``WriteError``, ``ReadTimeout``, ``ReadError``,
``RemoteProtocolError`` (the server closed without an answer, or sent no HTTP),
``PoolTimeout``.
"""

from __future__ import annotations

import re
import select
import socket
import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

import httptools
import httpx

#: What one read asks the socket for; an answer of a contract call fits in one.
_READ_SIZE = 65536
#: As many header lines as ``http.client`` accepts in an answer.
_MAX_HEADERS = 100
# The header checks of ``http.client.putheader``: a request never carries a line break.
_LEGAL_NAME = re.compile(rb"[^:\s][^:\r\n]*").fullmatch
_ILLEGAL_VALUE = re.compile(rb"\n(?![ \t])|\r(?![ \t\n])").search
_ILLEGAL_TARGET = re.compile(rb"[\x00-\x20\x7f]").search

Address = tuple[str, int]


class KeepAliveTransport(httpx.BaseTransport):
    """Pooled keep-alive connections (plain sockets), per host and port."""

    def __init__(self, limits: httpx.Limits | None = None) -> None:
        self._limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20)
        self._idle: defaultdict[Address, list[socket.socket]] = defaultdict(list)
        self._lock = threading.Lock()
        total = self._limits.max_connections
        self._slots = threading.BoundedSemaphore(total) if total is not None else None
        self._tls: httpx.HTTPTransport | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme != "http":
            return self._tls_transport().handle_request(request)
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        url = request.url
        message = _head(request) + request.read()
        answer = self.exchange((url.host, url.port or 80), message, timeouts,
                               head_only=request.method == "HEAD", request=request)
        return answer.response(request)

    def exchange(self, address: Address, message: bytes, timeouts: Mapping[str, float | None],
                 *, head_only: bool = False, request: httpx.Request | None = None) -> Answer:
        """Send one whole request (``message``: head and body) to ``address``; read its answer.

        What :meth:`handle_request` does once the request is written out, for a caller
        that writes it itself (the client binding, without building an httpx request);
        the same pool, limits, timeouts and httpx exceptions (``request`` in them if given).
        """
        if self._slots is not None and not self._slots.acquire(
                timeout=_wait(timeouts.get("pool"))):
            raise httpx.PoolTimeout("no connection free in time", request=request)
        try:
            return self._exchange(address, message, timeouts, head_only, request)
        finally:
            if self._slots is not None:
                self._slots.release()

    def close(self) -> None:
        with self._lock:
            idle = [c for conns in self._idle.values() for c in conns]
            self._idle.clear()
        for connection in idle:
            connection.close()
        if self._tls is not None:
            self._tls.close()

    def _exchange(self, key: Address, message: bytes, timeouts: Mapping[str, float | None],
                  head_only: bool, request: httpx.Request | None) -> Answer:
        connection = self._reuse(key) or _connect(request, key, timeouts.get("connect"))
        try:
            answer = _send(connection, message, timeouts, head_only, request)
        except BaseException:
            connection.close()
            raise
        if answer.keep_alive:
            self._keep(key, connection)
        else:
            connection.close()
        return answer

    def _reuse(self, key: Address) -> socket.socket | None:
        while True:
            with self._lock:
                idle = self._idle.get(key)
                connection = idle.pop() if idle else None
            if connection is None or _still_open(connection):
                return connection
            connection.close()  # the server closed it while idle

    def _keep(self, key: Address, connection: socket.socket) -> None:
        limit = self._limits.max_keepalive_connections
        with self._lock:
            idle = self._idle[key]
            if limit is None or sum(map(len, self._idle.values())) < limit:
                idle.append(connection)
                return
        connection.close()

    def _tls_transport(self) -> httpx.HTTPTransport:
        with self._lock:
            if self._tls is None:
                self._tls = httpx.HTTPTransport(limits=self._limits)
            return self._tls


def _connect(request: httpx.Request | None, key: Address,
             timeout: float | None) -> socket.socket:
    try:
        connection = socket.create_connection(key, timeout=timeout)
    except TimeoutError as exc:
        raise httpx.ConnectTimeout(str(exc) or "connect timed out", request=request) from exc
    except OSError as exc:
        raise httpx.ConnectError(str(exc), request=request) from exc
    # Small requests and answers: sent at once, not held back for a delayed ACK.
    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return connection


def _send(connection: socket.socket, message: bytes, timeouts: Mapping[str, float | None],
          head_only: bool, request: httpx.Request | None) -> Answer:
    """Write the request (head and body in one write), then read its answer to the end."""
    try:
        _set_timeout(connection, timeouts.get("write"))
        connection.sendall(message)
    except TimeoutError as exc:
        raise httpx.WriteTimeout(str(exc) or "write timed out", request=request) from exc
    except OSError as exc:
        raise httpx.WriteError(str(exc), request=request) from exc
    try:
        _set_timeout(connection, timeouts.get("read"))
        return _read(connection, head_only)
    except TimeoutError as exc:
        raise httpx.ReadTimeout(str(exc) or "read timed out", request=request) from exc
    except (httptools.HttpParserError, ConnectionError) as exc:
        if isinstance(exc.__context__, httpx.RemoteProtocolError):
            # A callback's own refusal (too many headers), wrapped in the parser's error.
            raise httpx.RemoteProtocolError(str(exc.__context__), request=request) from exc
        raise httpx.RemoteProtocolError(
            f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__,
            request=request) from exc
    except OSError as exc:
        raise httpx.ReadError(str(exc), request=request) from exc


def _head(request: httpx.Request) -> bytes:
    return request_line(request.method, request.url.raw_path) + header_lines(
        request.headers.raw) + b"\r\n"


def request_line(method: str, target: bytes) -> bytes:
    """``METHOD target HTTP/1.1``, refusing what ``http.client`` refuses (spaces, controls)."""
    verb = method.encode("ascii")
    if _ILLEGAL_TARGET(verb) or _ILLEGAL_TARGET(target):
        raise ValueError(f"Invalid request line: {verb!r} {target!r}")
    return b"%s %s HTTP/1.1\r\n" % (verb, target)


def header_lines(headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    """Header lines, refusing what ``http.client`` refuses (a name or value with a line break)."""
    lines = []
    for name, value in headers:
        if not _LEGAL_NAME(name):
            raise ValueError(f"Invalid header name {name!r}")
        if _ILLEGAL_VALUE(value):
            raise ValueError(f"Invalid header value {value!r}")
        lines += (name, b": ", value, b"\r\n")
    return b"".join(lines)


def _read(connection: socket.socket, head_only: bool) -> Answer:
    answer = Answer(head_only=head_only)
    parser = httptools.HttpResponseParser(answer)
    answer.parser = parser
    try:
        while not answer.complete:
            data = connection.recv(_READ_SIZE)
            if not data:
                answer.end_of_stream()
                break
            try:
                parser.feed_data(data)
            except httptools.HttpParserError:
                if not answer.complete:
                    raise
                answer.keep_alive = False  # junk after a whole answer: this connection is done
    finally:
        answer.parser = None
    return answer


class Answer:
    """One answer as httptools' parser reports it: status, headers, body, keep-alive."""

    def __init__(self, *, head_only: bool) -> None:
        self.parser: Any = None
        self.head_only = head_only
        self.reason = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.status = 0
        self.version = "1.1"
        self.headers_done = self.complete = self.keep_alive = False

    def on_message_begin(self) -> None:
        if self.complete:  # a second answer to one request: nothing more is read from here
            self.keep_alive = False

    # What follows the answer's head (a chunked body's trailers) or the answer itself (a
    # second answer to one request) is not the answer's: neither its headers nor its status.
    def on_status(self, text: bytes) -> None:
        if not self.complete:
            self.reason += text

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.headers_done:
            return
        if len(self.headers) >= _MAX_HEADERS:
            raise httpx.RemoteProtocolError(f"got more than {_MAX_HEADERS} headers")
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        if self.complete:
            return
        self.headers_done = True
        if self.head_only and not 100 <= self.parser.get_status_code() < 200:
            # No body follows; the parser cannot be told so: do not reuse. (An interim
            # answer, 103 Early Hints say, is not the answer: it ends at its head anyway.)
            self._finish(keep_alive=False)

    def on_body(self, body: bytes) -> None:
        if not self.complete:
            self.body.append(body)

    def on_message_complete(self) -> None:
        if self.complete:
            return
        status = self.parser.get_status_code()
        if 100 <= status < 200:  # an interim answer (100 Continue): the real one follows
            self.reason, self.headers, self.body, self.headers_done = b"", [], [], False
            return
        self._finish(keep_alive=self.parser.should_keep_alive())

    def end_of_stream(self) -> None:
        """The server closed: the end of a body that runs to the close, else no answer."""
        if self.headers_done and not self.complete and not _framed(self.headers):
            self._finish(keep_alive=False)
            return
        raise ConnectionError("the server closed the connection before its answer ended")

    def _finish(self, *, keep_alive: bool) -> None:
        self.status = self.parser.get_status_code()
        self.version = self.parser.get_http_version()
        self.complete, self.keep_alive = True, keep_alive

    @property
    def content(self) -> bytes:
        return b"".join(self.body)

    def response(self, request: httpx.Request) -> httpx.Response:
        extensions = {"http_version": f"HTTP/{self.version}".encode("ascii"),
                      "reason_phrase": self.reason}
        return httpx.Response(self.status, headers=self.headers, content=self.content,
                              request=request, extensions=extensions)


def _framed(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether an answer says where its body ends (a length, or chunks)."""
    return any(name.lower() in (b"content-length", b"transfer-encoding") for name, _ in headers)


def _still_open(connection: socket.socket) -> bool:
    """Whether an idle connection can carry a request: readable now means closed (or junk)."""
    try:
        readable, _, _ = select.select([connection], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


def _set_timeout(sock: socket.socket, seconds: float | None) -> None:
    # Setting a socket's timeout is a system call; a kept connection mostly has it already.
    if sock.gettimeout() != seconds:
        sock.settimeout(seconds)


def _wait(seconds: float | None) -> float | None:
    return None if seconds is None else max(seconds, 0.0)
