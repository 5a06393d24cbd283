"""The client binding's keep-alive transport over real sockets: reuse, failures, timeouts."""

from __future__ import annotations

import gzip
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from contracts.errors import ServiceUnavailable
from contracts.inventory import Inventory
from migration.runtime.client import RetryPolicy, Timeouts, client
from migration.runtime.keepalive import KeepAliveTransport
from migration.runtime.serving import ServerThread, free_port

STOCK = b'{"sku":"a","on_hand":3,"reserved":0,"available":3}'


async def echo_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers with the caller's port, the method and the body it was sent."""
    if scope["type"] == "lifespan":
        while (message := await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    answer = f"{scope['client'][1]} {scope['method']} {scope['query_string'].decode()} ".encode()
    await send({"type": "http.response.start", "status": 201,
                "headers": [(b"content-type", b"text/plain"), (b"x-seen", b"1")]})
    await send({"type": "http.response.body", "body": answer + body})


@contextmanager
def raw_server(handle: Callable[[socket.socket], None]) -> Iterator[str]:
    """A loopback server handing each connection to ``handle`` (in its own thread)."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=_handled, args=(handle, conn), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def _handled(handle: Callable[[socket.socket], None], conn: socket.socket) -> None:
    with conn:
        handle(conn)


def read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def send_stock(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                 b"content-length: %d\r\n\r\n" % len(STOCK) + STOCK)


def answer_once_then_close(conn: socket.socket) -> None:
    read_request(conn)
    send_stock(conn)


def http(**timeouts: float) -> httpx.Client:
    timeout = httpx.Timeout(timeouts.get("read", 5.0), connect=timeouts.get("connect", 5.0))
    return httpx.Client(transport=KeepAliveTransport(), timeout=timeout)


def test_calls_share_one_kept_connection_and_carry_methods_queries_and_bodies() -> None:
    with ServerThread(echo_app) as server, http() as session:
        first = session.get(f"{server.url}/x", params={"q": "a b"})
        second = session.post(f"{server.url}/y", content=b"payload")
    assert (first.status_code, first.headers["x-seen"]) == (201, "1")
    port, method, query, _ = first.text.split(" ", 3)
    assert (method, query) == ("GET", "q=a+b")
    assert second.text == f"{port} POST  payload"  # same client port: one connection


def test_a_connection_the_server_closed_while_idle_is_replaced() -> None:
    closed = threading.Event()

    def answer_then_close(conn: socket.socket) -> None:
        answer_once_then_close(conn)
        conn.close()
        closed.set()

    with raw_server(answer_then_close) as url, http() as session:
        assert session.get(url).json()["on_hand"] == 3
        assert closed.wait(5)
        assert session.get(url).json()["on_hand"] == 3


def test_a_refused_connection_is_a_connect_error() -> None:
    with http() as session, pytest.raises(httpx.ConnectError):
        session.get(f"http://127.0.0.1:{free_port()}/")


def test_no_answer_in_time_is_a_read_timeout() -> None:
    release = threading.Event()

    def never_answer(conn: socket.socket) -> None:
        read_request(conn)
        release.wait(5)

    with raw_server(never_answer) as url, http(read=0.2) as session:
        with pytest.raises(httpx.ReadTimeout):
            session.get(url)
        release.set()


def test_a_server_that_closes_without_answering_is_a_protocol_error() -> None:
    with raw_server(read_request) as url, http() as session:
        with pytest.raises(httpx.RemoteProtocolError):
            session.get(url)


def test_chunked_and_compressed_answers_are_decoded() -> None:
    packed = gzip.compress(STOCK)

    def chunked(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\n"
                     b"transfer-encoding: chunked\r\n\r\n"
                     + b"%x\r\n" % len(packed) + packed + b"\r\n0\r\n\r\n")

    with raw_server(chunked) as url, http() as session:
        assert session.get(url).json()["available"] == 3


def test_no_free_connection_in_time_is_a_pool_timeout() -> None:
    release, started = threading.Event(), threading.Event()

    def slow(conn: socket.socket) -> None:
        read_request(conn)
        started.set()
        release.wait(5)
        send_stock(conn)

    transport = KeepAliveTransport(httpx.Limits(max_connections=1))
    timeout = httpx.Timeout(5.0, pool=0.1)
    with raw_server(slow) as url, httpx.Client(transport=transport, timeout=timeout) as session:
        first = threading.Thread(target=session.get, args=(url,))
        first.start()
        assert started.wait(5)
        with pytest.raises(httpx.PoolTimeout):
            session.get(url)
        release.set()
        first.join(5)
    assert not first.is_alive()


def test_https_goes_through_httpx_own_transport() -> None:
    transport = KeepAliveTransport()
    seen: list[httpx.Request] = []
    transport._tls = httpx.MockTransport(  # type: ignore[assignment]
        lambda request: seen.append(request) or httpx.Response(204))
    with httpx.Client(transport=transport) as session:
        assert session.get("https://secure.test/x").status_code == 204
    assert seen[0].url == "https://secure.test/x"


def test_the_binding_maps_its_failures_as_before() -> None:
    retries = RetryPolicy(attempts=1)
    refused = client(Inventory, f"http://127.0.0.1:{free_port()}", retries=retries)
    with pytest.raises(ServiceUnavailable, match=r"cannot connect \(ConnectError"):
        refused.get_stock("a")
    release = threading.Event()

    def never_answer(conn: socket.socket) -> None:
        read_request(conn)
        release.wait(5)

    with raw_server(never_answer) as url:
        slow = client(Inventory, url, retries=retries, timeout=Timeouts(read=0.2))
        with pytest.raises(ServiceUnavailable, match=r"no answer in time \(ReadTimeout\)"):
            slow.get_stock("a")
        release.set()
        slow.close()  # type: ignore[attr-defined]
    refused.close()  # type: ignore[attr-defined]
