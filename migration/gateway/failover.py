"""A request for a service: the call, its breaker and SLO records, and the monolith's fallback."""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping

from migration.gateway.body import RequestBody
from migration.gateway.call_record import CallRecord
from migration.gateway.exchange import discard, exchange, forward, relay
from migration.gateway.forwarding import Inbound, response_headers, target
from migration.gateway.gateway_settings import MONOLITH
from migration.gateway.problem_replies import Send, send_problem
from migration.gateway.routes import Route
from migration.gateway.slo_window import SloWindow
from migration.gateway.upstream import UpstreamError, UpstreamPool

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
SAFE = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def can_fall_back(route: Route, scope: dict, body: RequestBody) -> bool:
    """Whether the monolith may answer this request in its service's place."""
    # The monolith's database may be stale once a service owns the data: only a read is
    # sent there by default, a PUT or DELETE only when the route allows it. The body must
    # still be whole to be sent again.
    method = scope["method"]
    allowed = method in SAFE or (route.fallback.idempotent_writes and method in IDEMPOTENT)
    return allowed and not body.streamed


class Failover:
    """Calls a route's service; the monolith answers what the service could not."""

    def __init__(self, pools: Mapping[str, UpstreamPool], window: Callable[[Route], SloWindow],
                 clock: Callable[[], float],
                 fallbacks: MutableMapping[tuple[str, str], int]) -> None:
        self._pools = pools  # by name, the monolith's under MONOLITH
        self._window = window  # a canary's SLO window
        self._clock = clock
        self._fallbacks = fallbacks  # the metric, by route and reason

    def call(self, pool: UpstreamPool, window: SloWindow | None) -> CallRecord:
        """A call to ``pool`` starting now, to be recorded when it ends."""
        return CallRecord(pool, window, self._clock)

    def window(self, route: Route) -> SloWindow:
        """Where a canary's service answers are recorded."""
        return self._window(route)

    async def to_service(self, route: Route, scope: dict, inbound: Inbound, body: RequestBody,
                         send: Send, canary: bool) -> tuple[str, int]:
        """Send the request to the route's service; the monolith answers when it cannot."""
        pool = self._pools.get(route.service or "")
        if pool is None:  # a table from the store naming a service this gateway was not given
            detail = f"route {route.prefix} names service {route.service!r}, which has no URL"
            return await self.fallback_or_fail(route, scope, inbound, body, send,
                                               "unknown_service", 502, "gateway.unknown_service",
                                               detail)
        window = self._window(route) if canary else None
        if not pool.breaker.allow():
            if window is not None:
                # A canary user answered by a fallback or a 503 was failed by the service.
                window.record(True, 0.0)
            return await self.fallback_or_fail(route, scope, inbound, body, send,
                                               "breaker_open", 503, "gateway.circuit_open",
                                               f"the circuit breaker of {pool.name} is open")
        call = self.call(pool, window)
        try:
            conn = await exchange(pool, scope["method"], target(scope), inbound, scope, body)
        except UpstreamError as exc:
            call.finish(True)
            return await self.fallback_or_fail(route, scope, inbound, body, send, exc.code,
                                               exc.status, exc.code, str(exc))
        except BaseException:
            call.cut_short()  # client gone or cancelled: a half-open probe still ends
            raise
        failed = conn.status >= 500
        call.finish(failed)
        if failed and can_fall_back(route, scope, body):
            discard(conn)
            return await self.fallback(route, scope, inbound, body, send,
                                       f"status_{conn.status}")
        status = conn.status  # once relayed, the connection may serve the next request
        await relay(conn, pool, send, response_headers(conn.headers, pool.name.encode(),
                                                       inbound.request_id, pool.origin))
        return pool.name, status

    async def fallback_or_fail(self, route: Route, scope: dict, inbound: Inbound,
                               body: RequestBody, send: Send, reason: str, status: int,
                               code: str, detail: str) -> tuple[str, int]:
        """The monolith answers when it may; otherwise the client gets the service's problem."""
        if can_fall_back(route, scope, body):
            return await self.fallback(route, scope, inbound, body, send, reason)
        await send_problem(send, status, code, "Service failed", detail, route.service or "",
                           inbound.request_id)
        return route.service or "", status

    async def fallback(self, route: Route, scope: dict, inbound: Inbound, body: RequestBody,
                       send: Send, reason: str) -> tuple[str, int]:
        """The monolith answers a request its service could not (``X-Carve-Fallback`` says why)."""
        self._fallbacks[(route.prefix, reason)] += 1
        status = await forward(self._pools[MONOLITH], scope, inbound, body, send,
                               ((b"x-carve-fallback", reason.encode()),))
        return MONOLITH, status
