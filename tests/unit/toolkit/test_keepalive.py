"""The client binding's keep-alive transport over real sockets: reuse, failures, timeouts."""

from __future__ import annotations

import gzip
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from contracts.errors import ServiceUnavailable
from contracts.inventory import Inventory, SkuNotFound
from migration.runtime import client as client_module
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


def test_too_many_headers_says_so() -> None:
    answer = b"HTTP/1.1 200 OK\r\n" + b"x-many: 1\r\n" * 101 + b"content-length: 0\r\n\r\n"
    with raw_server(serve_each(answer)) as url, http() as session:
        with pytest.raises(httpx.RemoteProtocolError, match="more than 100 headers"):
            session.get(url)


def serve_each(*answers: bytes, pause: float = 0.0) -> Callable[[socket.socket], None]:
    """A handler answering the requests of one connection with ``answers`` in turn.

    Each answer is written in pieces (``pause`` seconds apart when given); the
    connection is closed after the last one.
    """
    def handle(conn: socket.socket) -> None:
        for answer in answers:
            read_request(conn)
            for start in range(0, len(answer), 7):
                conn.sendall(answer[start:start + 7])
                if pause:
                    time.sleep(pause)

    return handle


def counting(handle: Callable[[socket.socket], None],
             connections: list[int]) -> Callable[[socket.socket], None]:
    def counted(conn: socket.socket) -> None:
        connections.append(1)
        handle(conn)

    return counted


STOCK_ANSWER = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                b"content-length: %d\r\n\r\n" % len(STOCK) + STOCK)


def test_an_answer_written_in_pieces_is_read_whole_and_the_connection_kept() -> None:
    connections: list[int] = []
    with raw_server(counting(serve_each(STOCK_ANSWER, STOCK_ANSWER, pause=0.001),
                             connections)) as url, http() as session:
        first, second = session.get(url), session.get(url)
    assert first.json() == second.json() == json.loads(STOCK)
    assert (first.http_version, first.reason_phrase) == ("HTTP/1.1", "OK")
    assert first.headers["content-type"] == "application/json"
    assert len(connections) == 1


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n" + STOCK,  # to the close
    b"HTTP/1.0 200 OK\r\ncontent-length: %d\r\n\r\n" % len(STOCK) + STOCK,
    b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: %d\r\n\r\n" % len(STOCK) + STOCK,
])
def test_an_answer_that_ends_its_connection_is_read_whole_and_not_reused(answer: bytes) -> None:
    connections: list[int] = []

    def answer_then_close(conn: socket.socket) -> None:
        serve_each(answer)(conn)
        conn.shutdown(socket.SHUT_WR)

    with raw_server(counting(answer_then_close, connections)) as url, http() as session:
        assert session.get(url).json() == json.loads(STOCK)
        assert session.get(url).json() == json.loads(STOCK)
    assert len(connections) == 2


def test_an_interim_answer_is_skipped() -> None:
    interim = b"HTTP/1.1 100 Continue\r\n\r\n" + STOCK_ANSWER
    with raw_server(serve_each(interim)) as url, http() as session:
        response = session.get(url)
    assert (response.status_code, response.json()) == (200, json.loads(STOCK))


def test_a_head_answer_ends_with_its_headers() -> None:
    head = b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(STOCK)
    connections: list[int] = []

    def first_head_then_get(conn: socket.socket) -> None:
        serve_each(head if len(connections) == 1 else STOCK_ANSWER)(conn)

    with raw_server(counting(first_head_then_get, connections)) as url, http() as session:
        first = session.head(url)
        second = session.get(url)
    assert (first.status_code, first.content) == (200, b"")
    assert first.headers["content-length"] == str(len(STOCK))
    assert second.json() == json.loads(STOCK)
    assert len(connections) == 2  # the HEAD's connection was not used again


@pytest.mark.parametrize("answer", [
    b"garbage\r\n\r\n",
    b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n" + STOCK,  # cut short
    b"HTTP/1.1 200 OK\r\n" + b"x-many: 1\r\n" * 101 + b"content-length: 0\r\n\r\n",
])
def test_an_answer_that_is_not_http_or_cut_short_is_a_protocol_error(answer: bytes) -> None:
    with raw_server(serve_each(answer)) as url, http() as session:
        with pytest.raises(httpx.RemoteProtocolError):
            session.get(url)


def test_a_header_value_with_a_line_break_is_refused_before_sending() -> None:
    sent: list[bytes] = []
    with raw_server(lambda conn: sent.append(read_request(conn))) as url, http() as session:
        with pytest.raises(ValueError, match="Invalid header value"):
            session.get(url, headers={"x-bad": "a\r\nx-injected: 1"})
    assert sent in ([], [b""])


# The client binding's direct way (bodiless requests written without httpx objects)
# against the httpx way it replaces: the same bytes out, the same results back.

AVAILABILITY = b'{"sku":"a","requested":2,"available":3,"in_stock":true}'
CALLS: list[tuple[str, tuple[object, ...]]] = [
    ("get_stock", ("a",)),
    ("get_stock", ("a b/c?d=e&f",)),
    ("get_stock", ("é📦",)),
    ("get_stock", ("..",)),
    ("get_stock", (".x",)),
    ("get_stock", ("A-Z_a.z~0%",)),
    ("check_availability", ("a", 2)),
    ("check_availability", ("a", 2**31 - 1)),
]


def recording(sent: list[bytes], answer: bytes = STOCK_ANSWER) -> Callable[[socket.socket], None]:
    """A handler recording each request of a connection and answering ``answer`` to each."""
    def handle(conn: socket.socket) -> None:
        while request := read_request(conn):
            sent.append(request)
            conn.sendall(answer)

    return handle


def without_trace(request: bytes) -> bytes:
    """A request without what differs from one call to the next: trace id, server port."""
    request = re.sub(rb"traceparent: [0-9a-f-]+", b"traceparent: -", request)
    return re.sub(rb"Host: 127.0.0.1:[0-9]+", b"Host: -", request)


@pytest.mark.parametrize("path", ["", "/edge"])
def test_the_direct_way_writes_the_bytes_the_httpx_way_writes(
        path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    direct: list[bytes] = []
    through_httpx: list[bytes] = []
    built: list[str] = []
    handle_request = KeepAliveTransport.handle_request

    def counted(self: KeepAliveTransport, request: httpx.Request) -> httpx.Response:
        built.append(request.url.path)
        return handle_request(self, request)

    monkeypatch.setattr(KeepAliveTransport, "handle_request", counted)
    for sent in (direct, through_httpx):
        with raw_server(recording(sent)) as url:
            proxy = client(Inventory, url + path, retries=RetryPolicy(attempts=1))
            for name, args in CALLS:
                try:
                    getattr(proxy, name)(*args)
                except ServiceUnavailable:
                    pass  # an availability answered with a stock: the same either way
            proxy.close()  # type: ignore[attr-defined]
        monkeypatch.setattr(client_module._Direct, "for_client",
                            classmethod(lambda cls, http, base: None))
    assert len(direct) == len(through_httpx) == len(CALLS)
    assert len(built) == 2 + len(CALLS)  # the direct way left only "/.." and "/.x" to httpx
    assert [without_trace(r) for r in direct] == [without_trace(r) for r in through_httpx]


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: %d\r\n\r\n"
    % len(gzip.compress(STOCK)) + gzip.compress(STOCK),
    b"HTTP/1.1 200 OK\r\nset-cookie: route=b; Path=/\r\ncontent-length: %d\r\n\r\n"
    % len(STOCK) + STOCK,
])
def test_an_answer_only_httpx_can_read_is_read_by_httpx(answer: bytes) -> None:
    sent: list[bytes] = []
    with raw_server(recording(sent, answer)) as url:
        proxy = client(Inventory, url)
        assert proxy.get_stock("a").available == 3
        assert proxy.get_stock("a").available == 3
        proxy.close()  # type: ignore[attr-defined]
    if b"set-cookie" in answer:  # kept, and sent back (by the httpx way: a cookie to send)
        assert b"cookie: route=b" not in sent[0].lower()
        assert b"cookie: route=b" in sent[1].lower()


def test_a_problem_answer_is_the_same_contract_error_either_way() -> None:
    problem = (b'{"type":"urn:carve:problem:inventory.sku_not_found","title":"SKU not found",'
               b'"status":404,"detail":"no sku","code":"inventory.sku_not_found","sku":"a"}')
    answer = (b"HTTP/1.1 404 Not Found\r\ncontent-type: application/problem+json\r\n"
              b"content-length: %d\r\n\r\n" % len(problem) + problem)
    with raw_server(recording([], answer)) as url:
        proxy = client(Inventory, url)
        with pytest.raises(SkuNotFound) as caught:
            proxy.get_stock("a")
        proxy.close()  # type: ignore[attr-defined]
    assert (caught.value.detail, caught.value.extra) == ("no sku", {"sku": "a"})


def test_a_failure_on_the_direct_way_is_retried_and_mapped_as_before() -> None:
    def close_first_then_answer(conn: socket.socket) -> None:
        read_request(conn)  # and close: no answer on this connection

    calls: list[int] = []

    def handle(conn: socket.socket) -> None:
        calls.append(1)
        (close_first_then_answer if len(calls) == 1 else recording([]))(conn)

    with raw_server(handle) as url:
        proxy = client(Inventory, url, retries=RetryPolicy(attempts=2, base_seconds=0))
        assert proxy.get_stock("a").available == 3
        proxy.close()  # type: ignore[attr-defined]
    assert len(calls) == 2

ANSWER = b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(STOCK) + STOCK


def _answering(data: bytes):
    def handle(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(data)
    return handle


def test_bytes_after_an_answer_do_not_add_headers_to_it() -> None:
    """A second answer to one request (out of step, or hostile) is not read into the first."""
    junk = b"HTTP/1.1 200 Evil\r\nset-cookie: session=attacker\r\ncontent-length: 0\r\n\r\n"
    with raw_server(_answering(ANSWER + junk)) as url, http() as session:
        response = session.get(url)
        cookies = dict(session.cookies)
    assert response.content == STOCK
    assert response.reason_phrase == "OK"
    assert "set-cookie" not in response.headers
    assert cookies == {}


def test_chunked_trailers_are_not_answer_headers() -> None:
    """Trailers are dropped, as http.client and httpx drop them: no headers, no cookies."""
    chunked = (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
               b"%x\r\n%s\r\n0\r\nset-cookie: from_trailer=1\r\nx-trailer: t\r\n\r\n"
               % (len(STOCK), STOCK))
    with raw_server(_answering(chunked)) as url, http() as session:
        response = session.get(url)
        cookies = dict(session.cookies)
    assert response.content == STOCK
    assert "x-trailer" not in response.headers
    assert cookies == {}


def test_a_head_answered_after_early_hints_is_the_final_answer() -> None:
    hinted = (b"HTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\n\r\n"
              b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-final: yes\r\n\r\n")
    with raw_server(_answering(hinted)) as url, http() as session:
        response = session.head(url)
    assert response.status_code == 200
    assert response.headers["x-final"] == "yes"
    assert "link" not in response.headers
