"""The client side of the data plane: uvicorn's httptools protocol, one write per answer.

uvicorn writes a response's head and its body in two ``transport.write`` calls, and uvloop
sends each at once: two system calls where NGINX makes one. Measured on the gateway's hot
path, those writes were the largest cost in the process (docs/adr/0002). Here the writes of
one event-loop step are gathered and sent together at the end of that step, so a small
answer relayed whole leaves in one ``send``; a streamed body still goes out chunk by chunk.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class CoalescingTransport:
    """A transport that sends what was written during one loop step in a single write."""

    __slots__ = ("_transport", "_loop", "_pending")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] | None = None

    def write(self, data: bytes) -> None:
        """Queue ``data``; the first write of a step schedules the flush after it."""
        pending = self._pending
        if pending is None:
            self._pending = [data]
            self._loop.call_soon(self.flush)
        else:
            pending.append(data)

    def flush(self) -> None:
        """Send what is queued (a no-op once the connection is closing)."""
        pending, self._pending = self._pending, None
        if pending and not self._transport.is_closing():
            self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        """Send what is queued, then close."""
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        # Everything else (flow control, extra info, abort…) is the real transport's.
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol over a :class:`CoalescingTransport`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # noqa: D102
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]
