"""The client's request body: buffered when small (so it can be replayed), streamed when not."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from migration.gateway.upstream import UpstreamConnection

Receive = Callable[[], Awaitable[dict]]

# Bodies up to this size are read whole before forwarding: a fallback or a mirror can then
# send them again. Larger ones stream through and are never held in memory.
REPLAYABLE_LIMIT = 64 * 1024


class BodyTooLarge(Exception):
    """The client sent more than the gateway's body limit."""


class ClientGone(Exception):
    """The client disconnected while sending its body."""


class RequestBody:
    """One request's body as the upstream exchange consumes it."""

    __slots__ = ("_receive", "_limit", "_buffer", "_more", "_received", "streamed")

    def __init__(self, receive: Receive, limit: int) -> None:
        self._receive = receive
        self._limit = limit
        self._buffer: list[bytes] = []
        self._more = True
        self._received = 0
        self.streamed = False

    @classmethod
    def replay(cls, content: bytes) -> RequestBody:
        """A body already in hand (a mirrored request's), sent as is."""
        body = cls(_nothing_more, len(content))
        body._buffer = [content]
        body._more = False
        return body

    async def begin(self) -> None:
        """Read up to ``REPLAYABLE_LIMIT`` bytes so small bodies are complete and replayable."""
        while self._more and self._received <= REPLAYABLE_LIMIT:
            self._buffer.append(await self._next())

    @property
    def replayable(self) -> bool:
        """Whether the whole body is in hand, so it can be sent more than once."""
        return not self._more

    @property
    def content(self) -> bytes:
        """The whole body (only when ``replayable``)."""
        return b"".join(self._buffer)

    async def send(self, conn: UpstreamConnection, chunked: bool) -> None:
        """Write the body to an upstream connection, streaming what was not buffered."""
        if not self._more:
            if self._buffer:
                await conn.write(self.content)
            return
        self.streamed = True
        for piece in self._buffer:
            if piece:
                await conn.write(_frame(piece, chunked))
        self._buffer.clear()
        while self._more:
            piece = await self._next()
            if piece:
                await conn.write(_frame(piece, chunked))
        if chunked:
            await conn.write(b"0\r\n\r\n")

    async def _next(self) -> bytes:
        message = await self._receive()
        if message["type"] == "http.disconnect":
            raise ClientGone()
        piece = message.get("body", b"")
        self._more = message.get("more_body", False)
        self._received += len(piece)
        if self._received > self._limit:
            raise BodyTooLarge()
        return piece


async def _nothing_more() -> dict:
    return {"type": "http.request", "body": b"", "more_body": False}


def _frame(piece: bytes, chunked: bool) -> bytes:
    if not chunked:
        return piece
    return b"%x\r\n%b\r\n" % (len(piece), piece)


# The body of every request that announces none (no Content-Length, not chunked): nothing
# in it changes once made, so all such requests share it.
NO_BODY = RequestBody.replay(b"")
