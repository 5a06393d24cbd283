"""Running the gateway's HTTP/1.1 server: event loop, ASGI lifespan, signals, shutdown."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import signal
from collections.abc import Callable
from contextlib import suppress

from migration.gateway.http1 import App, Connections, Direct, HttpProtocol
from migration.runtime.errors import ConfigError

log = logging.getLogger("carve.gateway")


def event_loop_name() -> str:
    """uvloop when installed: its transports do roughly half the work of asyncio's."""
    return "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"


def event_loop_runner() -> asyncio.Runner:
    """A runner on uvloop when installed, else on asyncio's own loop."""
    if event_loop_name() == "uvloop":
        import uvloop

        return asyncio.Runner(loop_factory=uvloop.new_event_loop)
    return asyncio.Runner()


def run(app: App, host: str, port: int, *, keep_alive_seconds: float = 5.0,
        graceful_seconds: float = 10.0, direct: Direct | None = None,
        reuse_port: bool = False, parent: int | None = None) -> None:
    """Serve ``app`` until SIGINT or SIGTERM, then finish the requests in flight.

    ``direct``, when given, is offered every request before the app (see ``HttpProtocol``).
    ``reuse_port`` shares the port with other processes (``SO_REUSEPORT``); ``parent``, a
    process whose end stops this one too (a worker's supervisor).
    """
    with event_loop_runner() as runner:
        runner.run(serve(app, host, port, keep_alive_seconds=keep_alive_seconds,
                         graceful_seconds=graceful_seconds, direct=direct,
                         reuse_port=reuse_port, parent=parent))


async def serve(app: App, host: str, port: int, *, keep_alive_seconds: float = 5.0,
                graceful_seconds: float = 10.0, stop: asyncio.Event | None = None,
                listening: Callable[[int], None] | None = None,
                direct: Direct | None = None, reuse_port: bool = False,
                parent: int | None = None) -> None:
    """Start the app, listen, and stop gracefully once ``stop`` is set (or on a signal).

    ``listening`` is told the port once connections are accepted (useful with port 0).
    """
    loop = asyncio.get_running_loop()
    force = asyncio.Event()  # a second signal: stop waiting for requests in flight
    stop = stop or _stop_on_signals(loop, force)
    lifespan = Lifespan(app)
    await lifespan.startup()
    connections = Connections(keep_alive_seconds, lifespan.state)
    try:
        server = await loop.create_server(lambda: HttpProtocol(app, connections, loop, direct),
                                          host, port, backlog=2048,
                                          reuse_port=reuse_port or None)
    except OSError as exc:
        await lifespan.shutdown()
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise ConfigError(f"cannot listen on {host}:{port}: {reason}") from exc
    port = server.sockets[0].getsockname()[1]
    log.info("serving on http://%s:%d (%s)", host, port, event_loop_name())
    if listening is not None:
        listening(port)
    sweep = loop.create_task(_sweep_idle(connections))
    orphaned = loop.create_task(_watch_parent(parent, stop)) if parent is not None else None
    try:
        await stop.wait()
    finally:
        log.info("shutting down: finishing %d connection(s)", len(connections.open))
        server.close()
        connections.shut_down()
        deadline = loop.time() + graceful_seconds
        while connections.open and loop.time() < deadline and not force.is_set():
            await asyncio.sleep(0.05)
        cut = connections.in_flight()
        left = connections.abort()
        if cut:
            log.warning("shutting down: %d request(s) cut short", cut)
        if left:
            await asyncio.wait(left, timeout=1.0)
        for task in (sweep, orphaned):
            if task is not None:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
        await lifespan.shutdown()


async def _watch_parent(parent: int, stop: asyncio.Event) -> None:
    """Stop once ``parent`` is gone (a worker whose supervisor was killed)."""
    while os.getppid() == parent:
        await asyncio.sleep(1.0)
    log.warning("the supervisor (pid %d) is gone: stopping", parent)
    stop.set()


async def _sweep_idle(connections: Connections) -> None:
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(1.0)
        connections.close_idle(loop.time())


def _stop_on_signals(loop: asyncio.AbstractEventLoop, force: asyncio.Event) -> asyncio.Event:
    stop = asyncio.Event()

    def on_signal() -> None:
        (force if stop.is_set() else stop).set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal)
    return stop


class Lifespan:
    """The ASGI lifespan protocol: startup before the first request, shutdown after the last."""

    def __init__(self, app: App) -> None:
        self._app = app
        self._inbox: asyncio.Queue[dict] = asyncio.Queue()
        self._replies: asyncio.Queue[dict] = asyncio.Queue()
        self._task: asyncio.Task | None = None
        self.state: dict = {}  # what the app keeps in its lifespan scope, for every request

    async def startup(self) -> None:
        """Run the app's startup; a failure is the user's to fix (bad store, say)."""
        self._task = asyncio.get_running_loop().create_task(self._main())
        reply = await self._exchange("lifespan.startup")
        if reply["type"] == "lifespan.startup.failed":
            raise ConfigError(f"the gateway did not start: {reply.get('message', '')}")

    async def shutdown(self) -> None:
        """Run the app's shutdown and wait for it."""
        if self._task is None or self._task.done():
            return
        await self._exchange("lifespan.shutdown")
        await self._task

    async def _exchange(self, kind: str) -> dict:
        await self._inbox.put({"type": kind})
        reply = asyncio.ensure_future(self._replies.get())
        await asyncio.wait([reply, self._task], return_when=asyncio.FIRST_COMPLETED)
        if reply.done():
            return reply.result()
        reply.cancel()
        # An app that returns or raises instead of answering does not speak the lifespan
        # protocol (ASGI allows that): it is served without startup and shutdown.
        if not self._task.cancelled() and self._task.exception() is not None:
            log.debug("the app has no lifespan: %s", self._task.exception())
        return {"type": f"{kind}.complete"}

    async def _main(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"},
                 "state": self.state}
        await self._app(scope, self._inbox.get, self._replies.put)
