"""The gateway's HTTP server in the test's own event loop, on a free port."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from migration.gateway.http1 import App
from migration.gateway.http_server import serve


@asynccontextmanager
async def serving(app: App, **options) -> AsyncIterator[int]:
    """The server on a free port until the block ends; yields the port."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    port: asyncio.Future[int] = loop.create_future()
    task = loop.create_task(serve(app, "127.0.0.1", 0, stop=stop, listening=port.set_result,
                                  **options))
    await asyncio.wait([port, task], return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()
    try:
        yield port.result()
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
