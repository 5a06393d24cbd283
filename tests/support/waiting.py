"""Waiting, in async tests, for what a background task will do."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from migration.gateway.routes import RouteTable
from migration.gateway.store import ToggleStore


async def until(condition: Callable[[], object], seconds: float = 5.0) -> None:
    """Poll ``condition`` until it holds; fail the test after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not within the time allowed"
        await asyncio.sleep(0.02)


@asynccontextmanager
async def watching(store: ToggleStore) -> AsyncIterator[list[RouteTable]]:
    """The store's watch running in the background; yields each table it delivers."""
    seen: list[RouteTable] = []
    watcher = asyncio.create_task(store.watch(seen.append))
    try:
        yield seen
    finally:
        watcher.cancel()
        await store.close()
