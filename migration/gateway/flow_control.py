"""Write flow control, shared by the client side (http1) and the upstream side (upstream).

asyncio tells a protocol when its transport's write buffer passes the high-water mark
(``pause_writing``) and when it has drained below the low one (``resume_writing``); a
writer that streams waits in between, so a slow reader never makes the gateway buffer a
whole body. As uvicorn keeps this in one ``flow_control`` module for its protocols.
"""

from __future__ import annotations

import asyncio


class WriteFlow:
    """Whether a transport takes more bytes now; writers wait on it while it does not."""

    __slots__ = ("_loop", "_writable")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._writable: asyncio.Future[None] | None = None  # set while writing is paused

    def pause(self) -> None:
        """The transport's buffer is full (``Protocol.pause_writing``)."""
        if self._writable is None:
            self._writable = self._loop.create_future()

    def resume(self) -> None:
        """The buffer drained, or the connection is gone: every waiting writer goes on."""
        writable, self._writable = self._writable, None
        if writable is not None and not writable.done():
            writable.set_result(None)

    async def drained(self) -> bool:
        """Wait while writing is paused; whether it was."""
        if self._writable is None:
            return False
        await self._writable
        return True
