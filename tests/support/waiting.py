"""Waiting for what another thread, task or process will do: the one "poll until" of the tests.

``wait_for`` polls from ordinary tests and returns whether the condition came to hold;
``until`` does the same inside an async test (without blocking its loop) and fails the
test when it does not. Both check once more at the deadline.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from migration.gateway.routes import RouteTable
from migration.gateway.store import ToggleStore


def wait_for(check: Callable[[], object], timeout: float, interval: float = 0.2) -> bool:
    """Poll ``check`` until it holds or ``timeout`` seconds pass; returns whether it held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return bool(check())


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
