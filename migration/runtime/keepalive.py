"""The client binding's HTTP transport: plain-HTTP keep-alive connections from ``http.client``.

A contract call is one small request and one small answer on a connection kept open
between calls. httpx's default transport (httpcore and h11, in pure Python) spends
more on each of those than the call itself; :class:`KeepAliveTransport` sends them
on the standard library's ``http.client`` connections instead, behind the same httpx
interface, so the binding, its tests' mock transports and proxies from the
environment (httpx.Client mounts them in front) work as before. ``https://`` URLs
go to httpx's own transport, so TLS settings and certificates are httpx's.

Failures are httpx's exceptions, as from its transport: ``ConnectTimeout``,
``ConnectError``, ``WriteTimeout``/``WriteError``, ``ReadTimeout``, ``ReadError``,
``RemoteProtocolError`` (the server closed without an answer), ``PoolTimeout``.
"""

from __future__ import annotations

import http.client
import select
import threading
from collections import defaultdict
from typing import Any

import httpx

_HTTP_VERSION = {"http_version": b"HTTP/1.1"}


class KeepAliveTransport(httpx.BaseTransport):
    """Pooled keep-alive ``http.client`` connections, per host and port."""

    def __init__(self, limits: httpx.Limits | None = None) -> None:
        self._limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20)
        self._idle: defaultdict[tuple[str, int], list[http.client.HTTPConnection]] = (
            defaultdict(list))
        self._lock = threading.Lock()
        total = self._limits.max_connections
        self._slots = threading.BoundedSemaphore(total) if total is not None else None
        self._tls: httpx.HTTPTransport | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme != "http":
            return self._tls_transport().handle_request(request)
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        if self._slots is not None and not self._slots.acquire(
                timeout=_wait(timeouts.get("pool"))):
            raise httpx.PoolTimeout("no connection free in time", request=request)
        try:
            return self._exchange(request, timeouts)
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

    def _exchange(self, request: httpx.Request,
                  timeouts: dict[str, float | None]) -> httpx.Response:
        url = request.url
        key = (url.host, url.port or 80)
        connection = self._reuse(key) or self._connect(request, key, timeouts.get("connect"))
        try:
            response = _send(connection, request, timeouts)
        except BaseException:
            connection.close()
            raise
        if response.will_close:
            connection.close()
        else:
            self._keep(key, connection)
        return response.answer

    def _reuse(self, key: tuple[str, int]) -> http.client.HTTPConnection | None:
        while True:
            with self._lock:
                idle = self._idle.get(key)
                connection = idle.pop() if idle else None
            if connection is None or _still_open(connection):
                return connection
            connection.close()  # the server closed it while idle

    def _keep(self, key: tuple[str, int], connection: http.client.HTTPConnection) -> None:
        limit = self._limits.max_keepalive_connections
        with self._lock:
            idle = self._idle[key]
            if limit is None or sum(map(len, self._idle.values())) < limit:
                idle.append(connection)
                return
        connection.close()

    def _connect(self, request: httpx.Request, key: tuple[str, int],
                 timeout: float | None) -> http.client.HTTPConnection:
        connection = http.client.HTTPConnection(*key, timeout=timeout)
        try:
            connection.connect()  # sets TCP_NODELAY
        except TimeoutError as exc:
            connection.close()
            raise httpx.ConnectTimeout(str(exc) or "connect timed out", request=request) from exc
        except OSError as exc:
            connection.close()
            raise httpx.ConnectError(str(exc), request=request) from exc
        return connection

    def _tls_transport(self) -> httpx.HTTPTransport:
        with self._lock:
            if self._tls is None:
                self._tls = httpx.HTTPTransport(limits=self._limits)
            return self._tls


class _Received:
    def __init__(self, answer: httpx.Response, will_close: bool) -> None:
        self.answer, self.will_close = answer, will_close


def _send(connection: http.client.HTTPConnection, request: httpx.Request,
          timeouts: dict[str, float | None]) -> _Received:
    sock = connection.sock
    assert sock is not None
    try:
        _set_timeout(sock, timeouts.get("write"))
        connection.putrequest(request.method, request.url.raw_path.decode("ascii"),
                              skip_host=True, skip_accept_encoding=True)
        for name, value in request.headers.raw:
            connection.putheader(name, value)
        connection.endheaders(request.read() or None)
    except TimeoutError as exc:
        raise httpx.WriteTimeout(str(exc) or "write timed out", request=request) from exc
    except OSError as exc:
        raise httpx.WriteError(str(exc), request=request) from exc
    try:
        _set_timeout(sock, timeouts.get("read"))
        answer = connection.getresponse()
        content = answer.read()
    except TimeoutError as exc:
        raise httpx.ReadTimeout(str(exc) or "read timed out", request=request) from exc
    except (http.client.HTTPException, ConnectionError) as exc:
        raise httpx.RemoteProtocolError(
            f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__,
            request=request) from exc
    except OSError as exc:
        raise httpx.ReadError(str(exc), request=request) from exc
    extensions: dict[str, Any] = {**_HTTP_VERSION,
                                  "reason_phrase": answer.reason.encode("latin-1")}
    response = httpx.Response(answer.status, headers=answer.getheaders(), content=content,
                              request=request, extensions=extensions)
    return _Received(response, answer.will_close)


def _still_open(connection: http.client.HTTPConnection) -> bool:
    """Whether an idle connection can carry a request: readable now means closed (or junk)."""
    sock = connection.sock
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


def _set_timeout(sock: Any, seconds: float | None) -> None:
    # Setting a socket's timeout is a system call; a kept connection mostly has it already.
    if sock.gettimeout() != seconds:
        sock.settimeout(seconds)


def _wait(seconds: float | None) -> float | None:
    return None if seconds is None else max(seconds, 0.0)

