"""One request to one upstream: send it, wait for the head, relay the body to the client."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from migration.gateway.body import RequestBody
from migration.gateway.forwarding import Inbound, request_head, response_headers, target
from migration.gateway.problem_replies import Send, send_problem
from migration.gateway.upstream import (
    UpstreamConnectError,
    UpstreamConnection,
    UpstreamError,
    UpstreamPool,
    UpstreamTimeout,
)


async def forward(pool: UpstreamPool, scope: dict, inbound: Inbound, body: RequestBody,
                  send: Send, extra: tuple[tuple[bytes, bytes], ...] = (),
                  capture: list[bytes] | None = None, capture_bytes: int = 0) -> int:
    """Relay one exchange to the client; with ``capture``, keep the start of the body."""
    try:
        conn = await exchange(pool, scope["method"], target(scope), inbound, scope, body)
    except UpstreamError as exc:
        await send_problem(send, exc.status, exc.code, "Upstream failed", str(exc),
                           pool.name, inbound.request_id)
        return exc.status
    status = conn.status  # read first: once relayed, the connection may serve others
    headers = response_headers(conn.headers, pool.name.encode(), inbound.request_id,
                               pool.origin)
    if capture is None:
        await relay(conn, pool, send, headers + list(extra))
    else:
        kept = await relay(conn, pool, send, headers, capture_bytes)
        capture.append(kept or b"")
    return status


def exchange(pool: UpstreamPool, method: str, target: bytes, inbound: Inbound,
             scope: dict, body: RequestBody) -> Awaitable[UpstreamConnection]:
    """Send the request; the awaitable gives the connection once the response head is in.

    A reused keep-alive connection the upstream already closed fails before any answer;
    that is retried once on a new connection when the body can be sent again.
    """
    if body.replayable:
        content = body.content
        head = request_head(method, pool.base_path + target, inbound, scope, pool.host_header,
                            len(content))
        # The body is in hand: the exchange is bounded by its deadline on the pool, far
        # cheaper per request than a cancelling timeout scope around the task.
        return _send(pool, method, head + content if content else head, None, None)
    length = inbound.content_length
    if length is None or length < 0 or inbound.chunked:
        length = None  # sent on chunked
    head = request_head(method, pool.base_path + target, inbound, scope, pool.host_header, length)
    return _send_streamed(pool, method, head, body, length)


async def _send_streamed(pool: UpstreamPool, method: str, head: bytes, body: RequestBody,
                         length: int | None) -> UpstreamConnection:
    try:
        # A streamed upload waits on the client too: the whole exchange is cancelled at
        # the total timeout, whatever it is waiting for.
        async with asyncio.timeout(pool.timeouts.total):
            return await _send(pool, method, head, body, length)
    except TimeoutError as exc:
        raise UpstreamTimeout(f"{pool.name} did not answer in time") from exc


async def _send(pool: UpstreamPool, method: str, data: bytes, streamed: RequestBody | None,
                length: int | None) -> UpstreamConnection:
    """``data`` is the head with the whole body, or the head of a ``streamed`` body."""
    for attempt in (1, 2):
        # The retry opens a new connection: an idle one may be as stale as the first.
        conn = (pool.take_idle() if attempt == 1 else None) or await pool.connect()
        conn.head_only = method == "HEAD"
        pool.arm(conn)
        try:
            if streamed is None:
                conn.write_now(data)
                await conn.drained()
            else:
                await conn.write(data)
                await streamed.send(conn, chunked=length is None)
            await conn.read_head()
            return conn
        except UpstreamConnectError:
            conn.close()
            if attempt == 1 and conn.reused and not conn.status and streamed is None:
                continue
            raise
        except BaseException:
            conn.close()
            raise
        finally:
            pool.disarm(conn)
    raise UpstreamConnectError(f"{pool.name} closed the connection")


async def relay(conn: UpstreamConnection, pool: UpstreamPool, send: Send,
                headers: list[tuple[bytes, bytes]], capture: int = 0) -> bytes | None:
    """Stream the response to the client; return up to ``capture`` bytes of its body.

    A small response that arrived whole goes out in one message. Once the head is sent an
    upstream failure can only cut the response short: the exception ends the client's
    connection, which is how a client learns the body is incomplete.
    """
    await send({"type": "http.response.start", "status": conn.status, "headers": headers})
    captured: list[bytes] | None = [] if capture else None
    try:
        if conn.complete:
            body = b"".join(conn.chunks)
            conn.chunks.clear()
            if captured is not None:
                captured.append(body)
        else:
            size = 0
            while (chunk := await conn.next_chunk(pool.timeouts.read)) is not None:
                if captured is not None and size < capture:
                    captured.append(chunk)
                    size += len(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            body = b""
    except BaseException:
        conn.close()
        raise
    # Back in the pool before the last send: a request pipelined behind this one, started
    # as soon as this answer is complete, finds the connection idle.
    pool.release(conn)
    await send({"type": "http.response.body", "body": body})
    return b"".join(captured)[:capture] if captured is not None else None


async def read_whole(conn: UpstreamConnection, pool: UpstreamPool, limit: int) -> bytes:
    """Read the entire body (a mirrored request's answer), at most ``limit`` bytes of it."""
    parts: list[bytes] = []
    size = 0
    try:
        while (chunk := await conn.next_chunk(pool.timeouts.read)) is not None:
            if size < limit:
                parts.append(chunk)
                size += len(chunk)
    except BaseException:
        conn.close()
        raise
    pool.release(conn)
    return b"".join(parts)[:limit]


def discard(conn: UpstreamConnection) -> None:
    """Give up on a response whose head was read (a 5xx answered by a fallback instead)."""
    conn.close()
