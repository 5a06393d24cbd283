"""The direct path: a plain GET relayed on callbacks alone, with no task per request.

Most of what the gateway carries is a GET without a body, whose answer is small and comes
back whole in one read. For such a request the ASGI path spends more on its machinery (a
task, a chain of coroutines, a future to wait on the upstream, the ASGI messages) than on
the proxying itself. Here the request goes upstream from the parser's callback, and the
answer goes to the client from the upstream's: the same routing, headers, breaker, canary
window and metrics as the ASGI path, through the same functions.

Anything else is left to the ASGI path (``Gateway._proxy``), whole or from where it
stands: a request the direct path does not take (a body, another method, shadow mode, an
open breaker, no idle upstream connection), a response body that is large or of unknown
length (relayed from there by a task), and an upstream failure (fallback or problem).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Coroutine, Mapping

from migration.gateway.body import NO_BODY
from migration.gateway.call_record import CallRecord
from migration.gateway.current_table import CurrentTable
from migration.gateway.dispatch import Destination, destination
from migration.gateway.exchange import relay
from migration.gateway.failover import Failover
from migration.gateway.forwarding import Inbound, request_head, response_headers, target
from migration.gateway.gateway_settings import MONOLITH
from migration.gateway.http1 import App, Cycle
from migration.gateway.paths import is_admin, refusal_reason
from migration.gateway.problem_replies import send_problem
from migration.gateway.routes import Route
from migration.gateway.traffic_metrics import UNROUTED, GatewayMetrics
from migration.gateway.upstream import (
    UpstreamConnectError,
    UpstreamConnection,
    UpstreamError,
    UpstreamPool,
)

log = logging.getLogger("carve.gateway")
# A response body up to this size is gathered before the answer goes out in one write;
# past it, the rest is streamed by a task.
WHOLE_LIMIT = 64 * 1024


class DirectPath:
    """Offered every request by the HTTP server before the gateway's ASGI app."""

    def __init__(self, current: CurrentTable, pools: Mapping[str, UpstreamPool],
                 failover: Failover, metrics: GatewayMetrics, app: App) -> None:
        self.current = current
        self.pools = pools  # by name, the monolith's under MONOLITH
        self.failover = failover
        self.metrics = metrics
        self.app = app  # the ASGI path, which takes what this one cannot finish

    def __call__(self, cycle: Cycle) -> bool:
        """Take the request when it qualifies, and send it upstream; False to decline."""
        scope = cycle.scope
        path = scope["path"]
        if scope["method"] != "GET" or is_admin(path) \
                or refusal_reason(path, scope["raw_path"]):
            return False  # the admin API, or a path the ASGI path answers with a 400
        started = time.perf_counter()
        route = self.current.table.match(path)
        goes, inbound = destination(route, scope)
        if goes is Destination.SHADOW or goes is Destination.RETIRED:
            return False  # a mirror to start, or the gateway's own 410
        if inbound.content_length is not None or inbound.chunked:
            return False  # a GET with a body
        service = goes is not Destination.MONOLITH
        if service:
            pool = self.pools.get(route.service or "")
            if pool is None or not pool.breaker.closed:
                return False  # an unknown service (502) or a breaker to ask (a probe)
        else:
            pool = self.pools[MONOLITH]
        conn = pool.take_idle()
        if conn is None:
            return False  # connecting is awaited: the ASGI path does it
        head = request_head("GET", pool.base_path + target(scope), inbound, scope,
                            pool.host_header, 0)
        call = None
        if service:
            window = self.failover.window(route) if goes is Destination.CANARY else None
            call = self.failover.call(pool, window)
        exchange = _Exchange(self, cycle, route, inbound, pool, call, started)
        try:
            conn.write_now(head)
        except UpstreamError:
            conn.close()
            return False
        # Nothing that can fail from here: the request is out, and only this path answers it.
        pool.arm(conn)
        conn.listener = exchange
        return True


class _Exchange:
    """One request on the direct path, driven by its upstream connection's events."""

    __slots__ = ("path", "cycle", "route", "inbound", "pool", "service", "call", "started",
                 "judged")

    def __init__(self, path: DirectPath, cycle: Cycle, route: Route | None, inbound: Inbound,
                 pool: UpstreamPool, call: CallRecord | None, started: float) -> None:
        self.path = path
        self.cycle = cycle
        self.route = route
        self.inbound = inbound
        self.pool = pool
        self.service = call is not None
        self.call = call  # for the breaker and the SLO window, when a service is called
        self.started = started  # for the latency histogram
        self.judged = False  # the response head was seen and its status recorded

    def progress(self, conn: UpstreamConnection) -> None:
        """Called by the upstream connection after each event.

        Each way out first takes the connection from this exchange (``_stop``) and then hands
        it on: back to the pool, closed, or to a task. A failure before that point closes it.
        """
        try:
            if conn.head_done and not self.judged:
                self.judged = True
                if self.service and self._judge(conn):
                    return
            if conn.complete:
                self._respond(conn)
            elif conn.error is not None:
                self._stop(conn)
                self._failed(conn, conn.error)
            elif conn.head_done:
                if conn.buffered > WHOLE_LIMIT or not _small(conn):
                    # A large body, or one of unknown length (a stream, events): relayed by
                    # a task as it comes, with flow control both ways.
                    self._stop(conn)
                    if self.cycle.disconnected:
                        conn.close()
                    else:
                        self._continue(self._relay(conn, conn.status))
                else:
                    # The rest of a small body, without another silence longer than the
                    # read timeout.
                    self.pool.arm(conn, self.pool.timeouts.read)
        except Exception:  # noqa: BLE001 - a callback cannot raise into the event loop
            log.exception("unhandled error answering GET %s", self.cycle.scope["path"])
            if conn.listener is self:
                self._stop(conn)
                conn.close()
            self._internal_error()

    def _stop(self, conn: UpstreamConnection) -> None:
        conn.listener = None
        self.pool.disarm(conn)

    def _judge(self, conn: UpstreamConnection) -> bool:
        """Record the service's answer; True when a 5xx is handed to the monolith instead."""
        status = conn.status
        failed = status >= 500
        self._record(failed)
        if not failed:
            return False
        # A GET may always be answered by the monolith instead (failover.can_fall_back).
        self._stop(conn)
        conn.close()
        self._continue(self.path.failover.fallback(self.route, self.cycle.scope, self.inbound,
                                                   NO_BODY, self.cycle.send, f"status_{status}"))
        return True

    def _respond(self, conn: UpstreamConnection) -> None:
        pool, status, cycle = self.pool, conn.status, self.cycle
        body = b"".join(conn.chunks)
        conn.chunks.clear()
        headers = self._headers(conn)
        self._stop(conn)
        # Idle again before the answer: a request pipelined behind this one starts as the
        # answer completes, and finds the connection to take.
        pool.release(conn)
        if cycle.disconnected:
            return
        cycle.respond(status, headers, body)
        self._observe(self._upstream(), status)

    def _failed(self, conn: UpstreamConnection, error: UpstreamError) -> None:
        conn.close()
        if self.judged:
            # Cut short or silent in the middle of the body: nothing was sent to the client
            # yet, so it is told plainly (502 or 504) rather than given half a body.
            self._continue(self._problem(error, self._upstream()))
        elif isinstance(error, UpstreamConnectError):
            # Most often a kept-alive connection the upstream had just closed: the ASGI path
            # takes the request from the start, with its retry on a new connection.
            cycle = self.cycle
            if not cycle.disconnected:
                cycle.continue_in_task(self.path.app(cycle.scope, cycle.receive, cycle.send))
        elif self.service:
            self._record(True)
            self._continue(self.path.failover.fallback_or_fail(
                self.route, self.cycle.scope, self.inbound, NO_BODY, self.cycle.send,
                error.code, error.status, error.code, str(error)))
        else:
            self._continue(self._problem(error, MONOLITH))

    def _record(self, failed: bool) -> None:
        if self.call is not None:
            self.call.finish(failed)

    def _continue(self, answer: Coroutine[object, object, tuple[str, int]]) -> None:
        """Finish in a task, then count the answer like the ASGI path does."""
        if self.cycle.disconnected:
            answer.close()  # nobody to answer: the coroutine is never started
            return
        self.cycle.continue_in_task(self._observed(answer))

    async def _observed(self, answer: Awaitable[tuple[str, int]]) -> None:
        upstream, status = await answer
        self._observe(upstream, status)

    async def _relay(self, conn: UpstreamConnection, status: int) -> tuple[str, int]:
        # ``status`` kept apart: once relayed, the connection may serve the next request.
        await relay(conn, self.pool, self.cycle.send, self._headers(conn))
        return self._upstream(), status

    async def _problem(self, error: UpstreamError, upstream: str) -> tuple[str, int]:
        await send_problem(self.cycle.send, error.status, error.code, "Upstream failed",
                           str(error), self.pool.name, self.inbound.request_id)
        return upstream, error.status

    def _headers(self, conn: UpstreamConnection) -> list[tuple[bytes, bytes]]:
        return response_headers(conn.headers, self.pool.name.encode(), self.inbound.request_id,
                                self.pool.origin)

    def _upstream(self) -> str:
        return self.pool.name if self.service else MONOLITH

    def _observe(self, upstream: str, status: int) -> None:
        label = self.route.prefix if self.route is not None else UNROUTED
        self.path.metrics.observe(label, upstream, status, time.perf_counter() - self.started)

    def _internal_error(self) -> None:
        cycle = self.cycle
        if cycle.disconnected or cycle.started:
            return
        cycle.keep_alive = False
        cycle.respond(500, [(b"content-type", b"text/plain; charset=utf-8")],
                      b"Internal Server Error")


def _small(conn: UpstreamConnection) -> bool:
    """Whether the response announced a body of at most ``WHOLE_LIMIT`` bytes."""
    for name, value in conn.headers:
        if name == b"content-length":
            return value.isdigit() and int(value) <= WHOLE_LIMIT
    return False
