"""Hostile HTTP at the gateway's own server, over real loopback sockets with raw bytes.

Each request is answered as NGINX answers it, or more strictly: ambiguous framing
(request smuggling), oversized lines, heads sent a byte at a time, and a thousand idle
connections. Request-line and header-size refusals that need no more are in
test_http_server.py.
"""

from __future__ import annotations

import asyncio
import socket
import tracemalloc
from contextlib import suppress

import pytest

from tests.support.serving import serving


def recorder(seen: list[tuple[str, int, bool]]):
    """An app noting each request (path, body bytes, whether the body ended); answers 200."""

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        length, ended = 0, False
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            length += len(message.get("body", b""))
            if not message.get("more_body"):
                ended = True
                break
        seen.append((scope["path"], length, ended))
        if ended:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})

    return app


async def exchange(port: int, request: bytes) -> bytes:
    """Send ``request`` on a new connection; everything the server writes until it closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    raw = b""
    with suppress(ConnectionResetError):
        raw = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return raw


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 60))


SMUGGLED = b"GET /smuggled HTTP/1.1\r\nhost: x\r\n\r\n"


@pytest.mark.parametrize("request_bytes", [
    # Both framings: which one ends the body decides what the next request is (CL.TE/TE.CL).
    b"POST /both HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n"
    b"transfer-encoding: chunked\r\n\r\n0\r\n\r\n" + SMUGGLED,
    # Two different lengths, and the same length twice (NGINX refuses both).
    b"POST /two HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\n"
    b"hello!" + SMUGGLED,
    b"POST /twice HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\ncontent-length: 2\r\n\r\n"
    b"hi" + SMUGGLED,
    # A length that is no number, and a transfer coding that is not chunked.
    b"POST /nan HTTP/1.1\r\nhost: x\r\ncontent-length: 5x\r\n\r\nhello" + SMUGGLED,
    b"POST /gzip HTTP/1.1\r\nhost: x\r\ntransfer-encoding: gzip\r\n\r\nhello" + SMUGGLED,
])
def test_ambiguous_framing_is_refused_with_400_and_nothing_reaches_the_app(request_bytes):
    seen: list[tuple[str, int, bool]] = []

    async def scenario():
        async with serving(recorder(seen)) as port:
            return await exchange(port, request_bytes)

    raw = run(scenario())
    assert raw.startswith(b"HTTP/1.1 400 ") and b"connection: close" in raw
    assert seen == []


def test_an_invalid_chunk_size_never_gives_the_app_a_whole_body():
    seen: list[tuple[str, int, bool]] = []
    request = (b"POST /chunks HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n"
               b"5\r\nhello\r\nzz\r\nworld\r\n0\r\n\r\n" + SMUGGLED)

    async def scenario():
        async with serving(recorder(seen)) as port:
            raw = await exchange(port, request)
            await asyncio.sleep(0.1)  # the app's task sees the disconnect
            return raw

    raw = run(scenario())
    # The head was valid, so the request had started: the connection is cut (NGINX answers
    # 400); the app saw the body end with the client, never as complete.
    assert not raw.startswith(b"HTTP/1.1 2")
    assert seen == [("/chunks", 5, False)]


@pytest.mark.parametrize("head", [
    b"GET /%s HTTP/1.1\r\nhost: x\r\n\r\n" % (b"a" * 9 * 1024),             # request line
    b"GET /%s HTTP/1.0\r\n\r\n" % (b"a" * 9 * 1024),                      # and no header
    b"GET / HTTP/1.1\r\nhost: x\r\nx-long: %s\r\n\r\n" % (b"a" * 9 * 1024),  # header line
    b"GET / HTTP/1.1\r\nhost: x\r\n%s\r\n" % b"".join(                       # whole head
        b"x-h%d: %s\r\n" % (n, b"a" * 4000) for n in range(9)),
])
def test_lines_and_heads_past_nginxs_default_buffers_are_refused(head):
    # NGINX's large_client_header_buffers 4 8k: no line over 8 KiB, 32 KiB in all.
    seen: list[tuple[str, int, bool]] = []

    async def scenario():
        async with serving(recorder(seen)) as port:
            refused = await exchange(port, head)
            fine = await exchange(port, b"GET /fine HTTP/1.1\r\nhost: x\r\n"
                                        b"x-fits: %s\r\nconnection: close\r\n\r\n" % (b"a" * 7000))
            return refused, fine

    refused, fine = run(scenario())
    assert refused.startswith(b"HTTP/1.1 431 ") and b"connection: close" in refused
    assert fine.startswith(b"HTTP/1.1 200 ")
    assert [path for path, _, _ in seen] == ["/fine"]


def test_a_head_sent_a_byte_at_a_time_is_cut_and_other_clients_are_served():
    seen: list[tuple[str, int, bool]] = []
    head = b"GET /slow HTTP/1.1\r\nhost: x\r\nx-padding: " + b"a" * 40 + b"\r\n\r\n"

    async def slow_client(port: int) -> int:
        """Sends one byte every 0.2 s; how many it sent before the server closed on it."""
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for sent, byte in enumerate(head):
            if reader.at_eof():
                return sent
            writer.write(bytes([byte]))
            with suppress(TimeoutError):
                await asyncio.wait_for(reader.read(1), 0.2)
        return len(head)

    async def scenario():
        # The head timeout is the keep-alive one: from the connection's start (or its last
        # answer) to a complete head.
        async with serving(recorder(seen), keep_alive_seconds=1.0) as port:
            slow = asyncio.create_task(slow_client(port))
            await asyncio.sleep(0.3)
            other = await exchange(port, b"GET /other HTTP/1.1\r\nhost: x\r\n"
                                         b"connection: close\r\n\r\n")
            return await slow, other

    sent, other = run(scenario())
    assert sent < len(head)  # cut before its head was complete
    assert other.startswith(b"HTTP/1.1 200 ")
    assert [path for path, _, _ in seen] == ["/other"]


IDLE = 1000


def test_a_thousand_idle_connections_cost_bounded_memory_and_are_closed():
    seen: list[tuple[str, int, bool]] = []

    async def scenario():
        async with serving(recorder(seen), keep_alive_seconds=1.0) as port:
            await exchange(port, b"GET /warm HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            tracemalloc.start()
            before = tracemalloc.get_traced_memory()[0]
            idle = [_nonblocking_connection(port) for _ in range(IDLE)]
            # Connections are accepted in order: once a later one is answered, all are open.
            served = await exchange(port, b"GET /after HTTP/1.1\r\nhost: x\r\n"
                                          b"connection: close\r\n\r\n")
            grown = tracemalloc.get_traced_memory()[0] - before
            tracemalloc.stop()
            closed = await _wait_closed(idle)
            for sock in idle:
                sock.close()
            return served, grown, closed

    served, grown, closed = run(scenario())
    assert served.startswith(b"HTTP/1.1 200 ")
    assert grown < IDLE * 16 * 1024, f"{grown / IDLE:.0f} bytes per idle connection"
    assert closed == IDLE  # every idle connection was closed by the server


def _nonblocking_connection(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


async def _wait_closed(socks: list[socket.socket], timeout: float = 10.0) -> int:
    """How many of ``socks`` the server closed (end of file) within ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline, open_ = loop.time() + timeout, set(socks)
    while open_ and loop.time() < deadline:
        for sock in list(open_):
            with suppress(BlockingIOError):
                if sock.recv(1) == b"":
                    open_.discard(sock)
        await asyncio.sleep(0.2)
    return len(socks) - len(open_)


def test_a_small_head_that_comes_with_a_large_body_in_one_write_is_not_measured_as_large():
    # The raw bytes with the head are past a line's limit, so the head is measured: it fits.
    seen: list[tuple[str, int, bool]] = []
    body = b"b" * (40 * 1024)
    request = (b"POST /upload HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n"
               b"connection: close\r\n\r\n%b" % (len(body), body))

    async def scenario():
        async with serving(recorder(seen)) as port:
            return await exchange(port, request)

    assert run(scenario()).startswith(b"HTTP/1.1 200 ")
    assert seen == [("/upload", len(body), True)]


def test_a_pipelined_request_with_a_line_too_long_is_refused_like_the_first():
    # Both requests come in one write: the second's head is measured as the first's was.
    seen: list[tuple[str, int, bool]] = []
    requests = (b"GET /first HTTP/1.1\r\nhost: x\r\n\r\n"
                b"GET /second HTTP/1.1\r\nhost: x\r\nx-long: %s\r\n\r\n" % (b"a" * 9 * 1024))

    async def scenario():
        async with serving(recorder(seen)) as port:
            return await exchange(port, requests)

    answers = run(scenario())
    # The connection is closed on the refusal (the first answer may be cut with it): the
    # second request never reaches the app.
    assert b"HTTP/1.1 200 " not in answers[answers.find(b"\r\n\r\n"):]
    assert "/second" not in [path for path, _, _ in seen]
