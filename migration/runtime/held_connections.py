"""Worker threads keep their database connection between messages.

A queue worker applies one short transaction per message. Taking a pooled
connection for each one costs a ``pre_ping`` round trip (and the pool's
bookkeeping) every time, for a connection the same thread used a moment ago. A
worker thread therefore holds one connection per engine while it is busy: a
unit of work opened in that thread runs on it, still one transaction per unit
of work, committed or rolled back as before. A connection idle for longer than
:data:`IDLE_SECONDS`, or invalidated by an error, goes back to the pool, and the
next message checks out a fresh, pinged one. Only threads that opted in (the
:class:`HoldConnections` middleware does so for dramatiq's worker threads)
hold connections; request threads keep the plain pool.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from dramatiq import Middleware
from sqlalchemy import Connection, Engine

# Under load a thread reuses its connection within milliseconds; after a pause it
# takes a pinged one from the pool, so a restarted database is noticed as before.
IDLE_SECONDS = 1.0

_thread = threading.local()


class _Held:
    """The connections one thread holds, by engine, with when each was last lent."""

    def __init__(self) -> None:
        self.connections: dict[Engine, tuple[Connection, float]] = {}

    def lend(self, engine: Engine) -> Connection | None:
        now = time.monotonic()
        held = self.connections.get(engine)
        if held is not None:
            connection, last = held
            if connection.in_transaction():
                return None  # a unit of work nested in another one gets its own connection
            if connection.invalidated or now - last > IDLE_SECONDS:
                connection.close()
                held = None
        if held is None:
            connection = engine.connect()
        self.connections[engine] = (connection, now)
        return connection

    def release_all(self) -> None:
        connections, self.connections = self.connections, {}
        for connection, _ in connections.values():
            connection.close()


def hold_in_this_thread() -> None:
    """From now on, units of work in this thread reuse one connection per engine."""
    if getattr(_thread, "held", None) is None:
        _thread.held = _Held()


def release_this_thread() -> None:
    """Give every connection this thread holds back to its pool; stop holding."""
    held: _Held | None = getattr(_thread, "held", None)
    _thread.held = None
    if held is not None:
        held.release_all()


def lent_connection(bind: Any) -> Connection | None:
    """The connection this thread holds for ``bind`` (an Engine), or None to use the pool."""
    held: _Held | None = getattr(_thread, "held", None)
    if held is None or not isinstance(bind, Engine):
        return None
    return held.lend(bind)


class HoldConnections(Middleware):
    """Dramatiq middleware: each worker thread holds its connections until it stops."""

    def after_worker_thread_boot(self, broker: Any, thread: Any) -> None:
        hold_in_this_thread()

    def before_worker_thread_shutdown(self, broker: Any, thread: Any) -> None:
        release_this_thread()
