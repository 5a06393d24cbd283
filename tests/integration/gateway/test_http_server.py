"""The gateway's own HTTP/1.1 server, driven over real loopback sockets with raw bytes."""

from __future__ import annotations

import asyncio
import json
import socket
from contextlib import suppress

import pytest

from migration.gateway.http1 import ClientDisconnected
from migration.gateway.http_server import serve
from migration.runtime.errors import ConfigError
from tests.support.raw_http import read_responses, run
from tests.support.serving import serving


async def echo(scope, receive, send):
    """Answers with what it was sent; /slow waits a little first, /fail raises."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    pieces = []
    while True:
        message = await receive()
        pieces.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    if scope["path"] == "/slow":
        await asyncio.sleep(0.3)
    if scope["path"] == "/fail":
        raise RuntimeError("the app failed")
    body = json.dumps({"path": scope["path"], "query": scope["query_string"].decode(),
                       "method": scope["method"], "pieces": len(pieces),
                       "length": sum(map(len, pieces))}).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


async def answers(port: int, request: bytes, count: int = 1) -> list:
    """Send ``request`` on a new connection; the first ``count`` responses, parsed."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    responses = await read_responses(reader, count)
    writer.close()
    return responses.done


async def until_closed(port: int, request: bytes) -> bytes:
    """Send ``request`` on a new connection; everything the server writes until it closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    raw = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return raw



def test_pipelined_requests_are_answered_in_order_on_one_connection():
    async def scenario():
        async with serving(echo) as port:
            return await answers(port, b"GET /slow?n=1 HTTP/1.1\r\nhost: x\r\n\r\n"
                                       b"POST /b HTTP/1.1\r\nhost: x\r\ncontent-length: 3"
                                       b"\r\n\r\nabc"
                                       b"GET /c HTTP/1.1\r\nhost: x\r\n\r\n", 3)

    done = run(scenario())
    bodies = [json.loads(body) for _, _, body in done]
    assert [b["path"] for b in bodies] == ["/slow", "/b", "/c"]
    assert bodies[0]["query"] == "n=1" and bodies[1]["length"] == 3
    assert all(headers[b"content-length"] == str(len(body)).encode()
               for _, headers, body in done)


def test_a_chunked_body_s_trailers_reach_neither_its_request_nor_the_next_one():
    """Trailers come after the head: no request's headers get them, and an ``Expect`` among
    them does not make the next request's answer start with a 100 (Continue)."""
    seen = []

    async def app(scope, receive, send):
        if scope["type"] == "http":
            seen.append((scope["path"], list(scope["headers"])))
        await echo(scope, receive, send)

    async def scenario():
        async with serving(app) as port:
            return await until_closed(port, b"POST /a HTTP/1.1\r\nhost: x\r\n"
                                            b"transfer-encoding: chunked\r\n\r\n"
                                            b"3\r\nabc\r\n0\r\nx-injected: evil\r\n"
                                            b"expect: 100-continue\r\n\r\n"
                                            b"GET /b HTTP/1.1\r\nhost: x\r\nconnection: close"
                                            b"\r\n\r\n")

    raw = run(scenario())
    assert [path for path, _ in seen] == ["/a", "/b"]
    assert seen[1][1] == [(b"host", b"x"), (b"connection", b"close")]
    assert all(name not in (b"x-injected", b"expect") for _, headers in seen
               for name, _ in headers)
    assert b"100 Continue" not in raw and raw.count(b"HTTP/1.1 200 OK") == 2


def test_a_direct_handler_answers_what_it_takes_and_the_app_the_rest_even_when_it_fails(
        caplog):
    def direct(cycle):
        if cycle.scope["path"] == "/broken":
            raise RuntimeError("the direct handler failed")
        if cycle.scope["path"] != "/direct":
            return False
        cycle.respond(200, [(b"x-by", b"direct")], b"taken")
        return True

    async def scenario():
        async with serving(echo, direct=direct) as port:
            return await answers(port, b"GET /direct HTTP/1.1\r\nhost: x\r\n\r\n"
                                       b"GET /broken HTTP/1.1\r\nhost: x\r\n\r\n"
                                       b"GET /direct HTTP/1.1\r\nhost: x\r\n\r\n"
                                       b"GET /app HTTP/1.1\r\nhost: x\r\n\r\n", 4)

    done = run(scenario())
    assert [body for _, _, body in done[::2]] == [b"taken", b"taken"]
    assert [json.loads(body)["path"] for _, _, body in done[1::2]] == ["/broken", "/app"]
    assert done[0][1][b"x-by"] == b"direct" and done[0][1][b"content-length"] == b"5"
    assert "the direct path failed on GET /broken" in caplog.text


def test_expect_100_continue_is_answered_before_the_body_is_sent():
    async def scenario():
        async with serving(echo) as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"PUT /up HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n"
                         b"expect: 100-continue\r\n\r\n")
            interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            writer.write(b"hello")
            responses = await read_responses(reader, 1)
            writer.close()
            return interim, responses.done[0]

    interim, (status, _, body) = run(scenario())
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert status == 200 and json.loads(body)["length"] == 5


def test_a_refusal_before_100_continue_closes_the_connection():
    async def refuse(scope, receive, send):
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 413, "headers": []})
        await send({"type": "http.response.body", "body": b"too large"})

    async def scenario():
        async with serving(refuse) as port:
            return await until_closed(port, b"PUT /up HTTP/1.1\r\nhost: x\r\n"
                                            b"content-length: 999999\r\n"
                                            b"expect: 100-continue\r\n\r\n")

    raw = run(scenario())
    assert raw.startswith(b"HTTP/1.1 413 ") and b"connection: close" in raw
    assert b"100 Continue" not in raw


def test_a_large_request_body_reaches_the_app_in_pieces():
    size = 3 * 1024 * 1024

    async def scenario():
        async with serving(echo) as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"POST /up HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n\r\n" % size)
            for _ in range(size // 65536):
                writer.write(b"x" * 65536)
                await writer.drain()
            responses = await read_responses(reader, 1)
            writer.close()
            return json.loads(responses.done[0][2])

    seen = run(scenario())
    assert seen["length"] == size and seen["pieces"] > 1


async def streaming(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    for piece in (b"one ", b"two ", b"three"):
        await send({"type": "http.response.body", "body": piece, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


def test_a_body_of_unknown_length_is_chunked_for_http_1_1_and_closes_for_1_0():
    async def scenario():
        async with serving(streaming) as port:
            chunked = await answers(port, b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            return chunked[0], await until_closed(port, b"GET / HTTP/1.0\r\n\r\n")

    (status, headers, body), raw = run(scenario())
    assert status == 200 and headers[b"transfer-encoding"] == b"chunked"
    assert body == b"one two three"
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n") and b"connection: close" in raw
    assert raw.endswith(b"\r\n\r\none two three")


def test_head_answers_carry_no_body_and_keep_the_connection():
    async def scenario():
        async with serving(echo) as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"HEAD /h HTTP/1.1\r\nhost: x\r\n\r\n")
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            writer.write(b"GET /after HTTP/1.1\r\nhost: x\r\n\r\n")
            after = (await read_responses(reader, 1)).done[0]
            writer.close()
            return head, after

    head, (status, _, body) = run(scenario())
    assert head.startswith(b"HTTP/1.1 200 OK") and b"content-length: " in head
    assert status == 200 and json.loads(body)["path"] == "/after"


def test_a_head_answer_without_a_length_is_not_given_a_false_one():
    async def unframed(scope, receive, send):  # as an upstream's HEAD answer, relayed
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/html")]})
        await send({"type": "http.response.body", "body": b""})

    async def scenario():
        async with serving(unframed) as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"HEAD /h HTTP/1.1\r\nhost: x\r\n\r\n")
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            writer.close()
            return head

    head = run(scenario())
    assert head.startswith(b"HTTP/1.1 200 OK") and b"content-length" not in head


@pytest.mark.parametrize(("request_bytes", "status"), [
    (b"NOT HTTP AT ALL\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * 70_000 + b"\r\n\r\n", 431),
    (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 431),
    (b"GET / HTTP/1.1\r\nhost: x\r\nx-endless: " + b"a" * 200_000, 431),
])
def test_a_malformed_or_oversized_request_is_refused_and_the_connection_closed(
        request_bytes, status):
    async def scenario():
        async with serving(echo) as port:
            return await until_closed(port, request_bytes)

    raw = run(scenario())
    assert raw.startswith(b"HTTP/1.1 %d " % status) and b"connection: close" in raw
    assert b"x-carve-upstream: gateway" in raw  # the gateway answered it, no upstream


def test_an_app_failure_before_answering_is_a_500_and_the_server_keeps_serving():
    async def scenario():
        async with serving(echo) as port:
            failed = await until_closed(port, b"GET /fail HTTP/1.1\r\nhost: x\r\n\r\n")
            fine = await answers(port, b"GET /fine HTTP/1.1\r\nhost: x\r\n\r\n")
            return failed, fine[0]

    failed, (status, _, _) = run(scenario())
    assert failed.startswith(b"HTTP/1.1 500 ") and b"connection: close" in failed
    assert status == 200


def test_an_app_failure_after_the_head_cuts_the_response_short():
    async def half(scope, receive, send):
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"100")]})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        raise RuntimeError("upstream vanished")

    async def scenario():
        async with serving(half) as port:
            return await until_closed(port, b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")

    raw = run(scenario())
    assert raw.endswith(b"\r\n\r\npartial"), "closed after what was sent, 93 bytes short"


def test_idle_keep_alive_connections_are_closed():
    async def scenario():
        async with serving(echo, keep_alive_seconds=0.2) as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            await read_responses(reader, 1)
            loop = asyncio.get_running_loop()
            started = loop.time()
            eof = await asyncio.wait_for(reader.read(), 5)
            return eof, loop.time() - started

    eof, waited = run(scenario())
    assert eof == b"" and waited < 2.5


def test_a_client_that_goes_away_is_seen_by_the_app():
    seen: dict[str, object] = {}

    async def watcher(scope, receive, send):
        if scope["type"] != "http":
            return
        await receive()  # the (empty) body
        seen["next"] = (await receive())["type"]  # waits for the client to leave
        try:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"late"})
        except OSError as exc:
            seen["send"] = exc

    async def scenario():
        async with serving(watcher) as port:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            await writer.drain()
            await asyncio.sleep(0.1)
            writer.close()
            for _ in range(50):
                if "send" in seen:
                    break
                await asyncio.sleep(0.05)

    run(scenario())
    assert seen["next"] == "http.disconnect"
    assert isinstance(seen["send"], ClientDisconnected)


def test_stopping_finishes_the_request_in_flight_then_refuses_new_connections():
    async def scenario():
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        port_future: asyncio.Future[int] = loop.create_future()
        task = loop.create_task(serve(echo, "127.0.0.1", 0, stop=stop,
                                      listening=port_future.set_result))
        port = await port_future
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /slow HTTP/1.1\r\nhost: x\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(0.1)
        stop.set()
        raw = await asyncio.wait_for(reader.read(), 5)
        await asyncio.wait_for(task, 15)
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", port)
        return raw

    raw = run(scenario())
    assert raw.startswith(b"HTTP/1.1 200 OK") and b"connection: close" in raw
    assert raw.endswith(b'"/slow", "query": "", "method": "GET", "pieces": 1, "length": 0}')


def test_a_failed_startup_and_a_port_in_use_are_clear_errors():
    async def broken(scope, receive, send):
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "route store unreadable"})

    with pytest.raises(ConfigError, match="route store unreadable"):
        run(serving(broken).__aenter__())

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        async def scenario():
            await serve(echo, "127.0.0.1", port, stop=asyncio.Event())

        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{port}"):
            run(scenario())


def recording(seen: list[str]):
    """An app that notes each path it is given and answers 200, /204 with a stray body."""

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        seen.append(scope["path"])
        if scope["path"] == "/slow":
            await asyncio.sleep(0.3)
        status = 204 if scope["path"] == "/204" else 200
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"stray" if status == 204 else b"ok"})

    return app


@pytest.mark.parametrize("request_bytes", [
    b"GET http://a:99999999/ HTTP/1.1\r\n\r\nDELETE /after HTTP/1.1\r\nhost: x\r\n\r\n",
    b"GET /slow HTTP/1.1\r\nhost: x\r\n\r\nGET /after HTTP/1.1\r\nx-big: " + b"a" * 300_000,
])
def test_nothing_after_a_refused_request_reaches_the_app(request_bytes):
    seen: list[str] = []

    async def scenario():
        async with serving(recording(seen)) as port:
            # Closing with the client's bytes unread may reach the client as a reset.
            with suppress(ConnectionResetError):
                await until_closed(port, request_bytes)

    run(scenario())
    assert "/after" not in seen


def test_an_upgrade_is_answered_as_http_1_1_and_ends_the_connection():
    seen: list[str] = []

    async def scenario():
        async with serving(recording(seen)) as port:
            return await until_closed(
                port, b"GET /a HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: h2c\r\n\r\n"
                      b"GET /b HTTP/1.1\r\nhost: x\r\n\r\n")

    raw = run(scenario())
    assert raw.startswith(b"HTTP/1.1 200 OK") and b"connection: close" in raw
    assert seen == ["/a"]


def test_an_early_answer_to_a_streaming_upload_is_not_followed_by_a_refusal():
    async def scenario():
        async with serving(recording([])) as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"POST /early HTTP/1.1\r\nhost: x\r\ncontent-length: 1000000\r\n\r\n")
            for _ in range(16):
                writer.write(b"x" * 62_500)
                await writer.drain()
            responses = await read_responses(reader, 1)
            extra = b""
            with suppress(TimeoutError):
                extra = await asyncio.wait_for(reader.read(65536), 0.5)
            writer.close()
            return responses.done, extra

    done, extra = run(scenario())
    assert [status for status, _, _ in done] == [200] and extra == b""


def test_a_204_carries_no_body_even_when_the_app_sends_one():
    async def scenario():
        async with serving(recording([])) as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /204 HTTP/1.1\r\nhost: x\r\n\r\n"
                         b"GET /next HTTP/1.1\r\nhost: x\r\n\r\n")
            raw = b""
            while raw.count(b"HTTP/1.1") < 2 or not raw.endswith(b"ok"):
                raw += await asyncio.wait_for(reader.read(65536), 5)
            writer.close()
            return raw

    raw = run(scenario())
    assert raw.startswith(b"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK")
