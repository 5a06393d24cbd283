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
from dataclasses import replace
from http import HTTPStatus

from migration.gateway.body import NO_BODY
from migration.gateway.call_record import record_call
from migration.gateway.current_table import CurrentTable
from migration.gateway.exchange import relay
from migration.gateway.failover import Failover
from migration.gateway.forwarding import (
    HOP_BY_HOP,
    Inbound,
    around_parent_id,
    child_traceparent,
    header_block,
    join_head,
    new_request_id,
    new_span_id,
    read_inbound,
    response_headers,
    target,
)
from migration.gateway.gateway_settings import MONOLITH
from migration.gateway.http1 import App, Cycle
from migration.gateway.paths import is_admin, refusal_reason
from migration.gateway.problem_replies import send_problem
from migration.gateway.routes import Route, RouteMode, RouteTable
from migration.gateway.slo_window import SloWindow
from migration.gateway.sticky import bucket, canary_buckets, sticky_header, sticky_key
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
# Paths whose decision is kept; past it the cache starts again (a scan of random paths).
LANES_KEPT = 4096
# Sticky values whose canary answer a path keeps; past it the cache starts again.
USERS_KEPT = 65536


class DirectPath:
    """Offered every request by the HTTP server before the gateway's ASGI app."""

    def __init__(self, current: CurrentTable, pools: Mapping[str, UpstreamPool],
                 failover: Failover, metrics: GatewayMetrics, app: App) -> None:
        self.current = current
        self.pools = pools  # by name, the monolith's under MONOLITH
        self.failover = failover
        self.metrics = metrics
        self.app = app  # the ASGI path, which takes what this one cannot finish
        # Each path's decision under the current table, by raw path.
        self._table: RouteTable | None = None
        self._lanes: dict[bytes, _Lane] = {}
        # Each canary's kept answers by sticky value, shared by its paths' lanes (bounded
        # per route, not per path).
        self._users: dict[str, dict[bytes | None, bool]] = {}

    def take(self, cycle: Cycle) -> bool:
        """Take the request when it qualifies, and send it upstream; False to decline.

        The server is given this bound method (a call to it is cheaper than to an object).
        """
        scope = cycle.scope
        if scope["method"] != "GET":
            return False
        started = time.perf_counter()
        table = self.current.table
        if table is not self._table:
            # Routes changed: decide every path again.
            self._table, self._lanes, self._users = table, {}, {}
        lane = self._lanes.get(scope["raw_path"])
        if lane is None:
            lane = self._lane(scope, table)
        if lane is _DECLINED:
            return False
        seen = cycle.kept.get(_Seen)
        if seen is not None and seen.headers == scope["headers"] \
                and seen.sticky_header == lane.sticky_header:
            # The same headers as the connection's last request: read as they were then.
            inbound = seen.inbound
            request_id = seen.request_id()
        else:
            inbound = read_inbound(scope, lane.sticky_header)
            if inbound.content_length is not None or inbound.chunked:
                return False  # a GET with a body
            seen = cycle.kept[_Seen] = _Seen(scope["headers"], lane.sticky_header, inbound)
            request_id = inbound.request_id
        route, pool = lane.route, lane.pool
        service = pool is not None
        if service and lane.threshold is not None and not lane.inside(route, inbound, scope):
            service = False  # a canary, and this user is outside it: the monolith answers
        if service:
            if not pool.breaker.closed:
                return False  # a breaker to ask (a probe): the ASGI path does it
        else:
            pool = self.pools[MONOLITH]
        conn = pool.take_idle()
        if conn is None:
            return False  # connecting is awaited: the ASGI path does it
        block = seen.blocks.get(pool)
        if block is None:
            block = seen.blocks[pool] = header_block("GET", inbound, scope, pool.host_header, 0)
        head = join_head(b"GET", pool.base_path + target(scope), block[0], request_id,
                         seen.traceparent(), block[1])
        exchange = _Exchange(self, cycle, route, lane.label, inbound, request_id, pool,
                             pool.breaker.opened_count if service else None, lane.window,
                             started)
        try:
            conn.write_now(head)
        except UpstreamError:
            conn.close()
            return False
        # Nothing that can fail from here: the request is out, and only this path answers it.
        pool.arm(conn)
        conn.listener = exchange
        return True

    def _lane(self, scope: dict, table: RouteTable) -> _Lane | None:
        """What this path gets under ``table``, decided once and kept until the table changes."""
        lanes = self._lanes
        if len(lanes) >= LANES_KEPT:
            lanes.clear()
        path = scope["path"]
        route = table.match(path)
        goes = _DECLINED
        if is_admin(path) or refusal_reason(path, scope["raw_path"]):
            pass  # the admin API, or a path the ASGI path answers with a 400
        elif route is None or route.mode is RouteMode.MONOLITH:
            goes = _Lane(route, None, None, None, None)
        elif route.mode is RouteMode.SERVICE or route.mode is RouteMode.CANARY:
            pool = self.pools.get(route.service or "")
            if pool is not None:  # else an unknown service: the ASGI path answers
                if route.mode is RouteMode.SERVICE:
                    goes = _Lane(route, pool, None, None, None)
                else:
                    goes = _Lane(route, pool, self.failover.window(route),
                                 sticky_header(route), canary_buckets(route.percent),
                                 self._users.setdefault(route.prefix, {}))
        # Shadow (a mirror to start) and retired (the gateway's own 410) stay with the ASGI path.
        lanes[scope["raw_path"]] = goes
        return goes


class _Lane:
    """How the direct path serves one path under one route table: decided once per table.

    ``pool`` is the service's (``None``: the monolith answers); a canary also has its SLO
    window, the header its sticky key is read from and how many buckets are inside it.
    """

    __slots__ = ("route", "prefix", "label", "pool", "window", "sticky_header", "threshold",
                 "_users")

    def __init__(self, route: Route | None, pool: UpstreamPool | None,
                 window: SloWindow | None, sticky_header: bytes | None,
                 threshold: int | None, users: dict[bytes | None, bool] | None = None) -> None:
        self.route = route
        self.prefix = route.prefix if route is not None else ""
        self.label = self.prefix or UNROUTED  # the metrics' route label
        self.pool = pool
        self.window = window
        self.sticky_header = sticky_header
        self.threshold = threshold
        # A canary's answer for each sticky value seen lately: a user's next requests are
        # not hashed again (the bucket never changes for a route); shared by its paths.
        self._users: dict[bytes | None, bool] = {} if users is None else users

    def inside(self, route: Route, inbound: Inbound, scope: dict) -> bool:
        """Whether this request's user is inside the canary."""
        value = inbound.sticky_value
        users = self._users
        if value is not None:
            known = users.get(value)
            if known is not None:
                return known
        inside = bucket(self.prefix, sticky_key(route, inbound, scope)) < self.threshold
        if value is not None:
            # (A cookie header or a client address is not a user's own value: not kept.)
            if route.sticky.kind == "header":
                if len(users) >= USERS_KEPT:
                    users.clear()
                users[value] = inside
        return inside


_DECLINED = _Lane(None, None, None, None, None)  # left to the ASGI path, whatever comes


class _Seen:
    """A connection's last plain GET as read: most clients send the same headers with every
    request, which then need not be sorted again, nor their upstream headers written again
    (``header_block``, by upstream: the same client and headers give the same block), nor
    their trace context checked again."""

    __slots__ = ("headers", "sticky_header", "inbound", "own_id", "blocks", "_trace")

    def __init__(self, headers: list[tuple[bytes, bytes]], sticky_header: bytes | None,
                 inbound: Inbound) -> None:
        self.headers = headers
        self.sticky_header = sticky_header
        self.inbound = inbound  # read from the first request: its request id is that one's
        self.own_id: bool | None = None  # whether the client sends its own request id
        self.blocks: dict[UpstreamPool, tuple[bytes, bytes]] = {}
        self._trace = around_parent_id(inbound.traceparent)

    def request_id(self) -> bytes:
        """Another request's id with the same headers: a new one unless the client set it."""
        own = self.own_id
        if own is None:  # asked on the first repeat only: a miss costs no scan
            # The client's own when it is one the client sent (an empty one gets a new id).
            first = self.inbound.request_id
            own = self.own_id = any(name == b"x-request-id" and value == first
                                    for name, value in self.headers)
        return self.inbound.request_id if own else new_request_id()

    def traceparent(self) -> bytes:
        """The trace context this request goes upstream with: the client's trace with a new
        span of the gateway's as parent, or a new trace when the client's is not valid."""
        trace = self._trace
        if trace is None:
            return child_traceparent(self.inbound.traceparent)
        return trace[0] + new_span_id() + trace[1]


class _Exchange:
    """One request on the direct path, driven by its upstream connection's events."""

    __slots__ = ("path", "cycle", "route", "label", "_inbound", "request_id", "pool",
                 "generation", "window", "started", "judged")

    def __init__(self, path: DirectPath, cycle: Cycle, route: Route | None, label: str,
                 inbound: Inbound, request_id: bytes, pool: UpstreamPool,
                 generation: int | None, window: SloWindow | None, started: float) -> None:
        self.path = path
        self.cycle = cycle
        self.route = route
        self.label = label  # the metrics' route label
        self._inbound = inbound  # the headers as read (with the id of the first such request)
        self.request_id = request_id
        self.pool = pool
        # When a service is called (else None): its breaker's generation as the call
        # started, and the canary's SLO window (if any), which both record how it went.
        self.generation = generation
        self.window = window
        self.started = started  # for the latency histogram and the call's records
        self.judged = False  # the response head was seen and its status recorded

    def progress(self, conn: UpstreamConnection) -> None:
        """Called by the upstream connection after each event.

        Each way out first takes the connection from this exchange (``_stop``) and then hands
        it on: back to the pool, closed, or to a task. A failure before that point closes it.
        """
        try:
            if conn.complete and not self.judged:
                # The usual case: the whole answer came in one read.
                self.judged = True
                if self.generation is None:  # the monolith answers
                    self._respond(conn)
                elif conn.status < 500:
                    self._record(False)
                    self._respond(conn)
                else:
                    self._judge(conn)
                return
            if conn.head_done and not self.judged:
                self.judged = True
                if self.generation is not None and self._judge(conn):
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
        self._continue(self.path.failover.fallback(self.route, self.cycle.scope, self.inbound(),
                                                   NO_BODY, self.cycle.send, f"status_{status}"))
        return True

    def _respond(self, conn: UpstreamConnection) -> None:
        pool, status, cycle = self.pool, conn.status, self.cycle
        chunks = conn.chunks
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        # Most answers go out as the upstream framed them, with the gateway's two headers
        # (one pass, straight to bytes); anything unusual through the general head.
        head = _whole_head(status, conn.headers, pool.name_header, self.request_id,
                           len(body)) if cycle.plain else None
        headers = self._headers(conn) if head is None else None
        conn.listener = None
        # Idle again (its timeout disarmed) before the answer: a request pipelined behind
        # this one starts as the answer completes, and finds the connection to take.
        pool.release(conn)
        if cycle.disconnected:
            return
        if head is None:
            cycle.respond(status, headers, body)
        else:
            cycle.respond_whole(head + body if body else head)
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
        elif self.generation is not None:
            self._record(True)
            self._continue(self.path.failover.fallback_or_fail(
                self.route, self.cycle.scope, self.inbound(), NO_BODY, self.cycle.send,
                error.code, error.status, error.code, str(error)))
        else:
            self._continue(self._problem(error, MONOLITH))

    def inbound(self) -> Inbound:
        """The request's headers as read, with its own request id: for the ASGI path's
        functions that finish what this one could not."""
        inbound = self._inbound
        if inbound.request_id == self.request_id:
            return inbound
        return replace(inbound, request_id=self.request_id)

    def _record(self, failed: bool) -> None:
        if self.generation is not None:
            record_call(self.pool, self.window, failed, time.perf_counter() - self.started,
                        self.generation)

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
                           str(error), self.pool.name, self.request_id)
        return upstream, error.status

    def _headers(self, conn: UpstreamConnection) -> list[tuple[bytes, bytes]]:
        return response_headers(conn.headers, self.pool.name.encode(), self.request_id,
                                self.pool.origin)

    def _upstream(self) -> str:
        return MONOLITH if self.generation is None else self.pool.name

    def _observe(self, upstream: str, status: int) -> None:
        self.path.metrics.observe(self.label, upstream, status,
                                  time.perf_counter() - self.started)

    def _internal_error(self) -> None:
        cycle = self.cycle
        if cycle.disconnected or cycle.started:
            return
        cycle.keep_alive = False
        cycle.respond(500, [(b"content-type", b"text/plain; charset=utf-8")],
                      b"Internal Server Error")


# Upstream response headers the whole-answer head cannot pass on as they are: hop-by-hop
# ones (RFC 9110 7.6.1), the length it sets itself, the request id it replaces, and a
# redirect that may point at the upstream itself.
_REWRITTEN = HOP_BY_HOP | {b"content-length", b"x-request-id", b"location"}
_STATUS_LINES = {code: b"HTTP/1.1 %d %s\r\n" % (code, HTTPStatus(code).phrase.encode())
                 for code in HTTPStatus if code >= 200 and code not in (204, 304)}


def _whole_head(status: int, upstream: list[tuple[bytes, bytes]], name_header: bytes,
                request_id: bytes, length: int) -> bytes | None:
    """The head of a whole answer to a keep-alive HTTP/1.1 client, or ``None`` when
    something in it needs :func:`response_headers` and the server's general head: a
    ``Connection`` header (its tokens), a ``Location``, or a status without a body.

    The same headers as that way: the gateway's two first, then the upstream's less
    hop-by-hop ones and its request id, with the length of the body as gathered.
    """
    line = _STATUS_LINES.get(status)
    if line is None:
        return None
    parts = [line, name_header, b"x-request-id: ", request_id]
    for name, value in upstream:
        if name in _REWRITTEN:
            if name == b"connection" or name == b"location":
                return None
            continue
        parts += (b"\r\n", name, b": ", value)
    parts.append(b"\r\ncontent-length: %d\r\n\r\n" % length)
    return b"".join(parts)


def _small(conn: UpstreamConnection) -> bool:
    """Whether the response announced a body of at most ``WHOLE_LIMIT`` bytes."""
    for name, value in conn.headers:
        if name == b"content-length":
            return value.isdigit() and int(value) <= WHOLE_LIMIT
    return False
