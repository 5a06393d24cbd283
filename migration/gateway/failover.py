"""A request for a service: the call, its breaker and SLO records, and the monolith's fallback."""

from __future__ import annotations

from typing import TYPE_CHECKING

from migration.gateway.body import RequestBody
from migration.gateway.exchange import discard, exchange, relay
from migration.gateway.forwarding import Inbound, response_headers
from migration.gateway.problems import Send, send_problem
from migration.gateway.routes import Route
from migration.gateway.settings import MONOLITH
from migration.gateway.upstream import UpstreamError

if TYPE_CHECKING:
    from migration.gateway.proxy import Gateway

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
SAFE = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def target(scope: dict) -> bytes:
    """The request target as the client sent it: raw path and query."""
    raw = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string")
    return raw + b"?" + query if query else raw


def can_fall_back(route: Route, scope: dict, body: RequestBody) -> bool:
    """Whether the monolith may answer this request in its service's place."""
    # The monolith's database may be stale once a service owns the data: only a read is
    # sent there by default, a PUT or DELETE only when the route allows it. The body must
    # still be whole to be sent again.
    method = scope["method"]
    allowed = method in SAFE or (route.fallback.idempotent_writes and method in IDEMPOTENT)
    return allowed and not body.streamed


async def to_service(gw: Gateway, route: Route, scope: dict, inbound: Inbound,
                     body: RequestBody, send: Send, canary: bool) -> tuple[str, int]:
    """Send the request to the route's service; the monolith answers when it cannot."""
    pool = gw.pools.get(route.service or "")
    if pool is None:  # a table from the store naming a service this gateway was not given
        detail = f"route {route.prefix} names service {route.service!r}, which has no URL"
        return await fallback_or_fail(gw, route, scope, inbound, body, send, "unknown_service",
                                      502, "gateway.unknown_service", detail)
    window = gw.guard.window(route) if canary else None
    if not pool.breaker.allow():
        if window is not None:
            # A canary user answered by a fallback or a 503 was failed by the service.
            window.record(True, 0.0)
        return await fallback_or_fail(gw, route, scope, inbound, body, send, "breaker_open",
                                      503, "gateway.circuit_open",
                                      f"the circuit breaker of {pool.name} is open")
    started, generation = gw.clock(), pool.breaker.generation
    error: UpstreamError | None = None
    failed = True
    try:
        conn = await exchange(pool, scope["method"], target(scope), inbound, scope, body)
        failed = conn.status >= 500
    except UpstreamError as exc:
        error = exc
    finally:
        # Recorded whatever happens: a call cut short (client gone, cancelled) counts as
        # failed, so a half-open probe never stays unfinished for ever.
        elapsed = gw.clock() - started
        pool.breaker.record(failed=failed, seconds=elapsed, generation=generation)
    if window is not None:
        window.record(failed, elapsed)
    if error is not None:
        return await fallback_or_fail(gw, route, scope, inbound, body, send, error.code,
                                      error.status, error.code, str(error))
    if failed and can_fall_back(route, scope, body):
        discard(conn)
        return await fallback(gw, route, scope, inbound, body, send, f"status_{conn.status}")
    status = conn.status  # once relayed, the connection may serve the next request
    await relay(conn, pool, send, response_headers(conn.headers, pool.name.encode(),
                                                   inbound.request_id, pool.origin))
    return pool.name, status


async def fallback_or_fail(gw: Gateway, route: Route, scope: dict, inbound: Inbound,
                           body: RequestBody, send: Send, reason: str, status: int,
                           code: str, detail: str) -> tuple[str, int]:
    if can_fall_back(route, scope, body):
        return await fallback(gw, route, scope, inbound, body, send, reason)
    await send_problem(send, status, code, "Service failed", detail, route.service or "",
                       inbound.request_id)
    return route.service or "", status


async def fallback(gw: Gateway, route: Route, scope: dict, inbound: Inbound, body: RequestBody,
                   send: Send, reason: str) -> tuple[str, int]:
    """The monolith answers a request its service could not (``X-Carve-Fallback`` says why)."""
    gw.metrics.fallbacks[(route.prefix, reason)] += 1
    status = await gw.forward(gw.monolith, scope, inbound, body, send,
                              ((b"x-carve-fallback", reason.encode()),))
    return MONOLITH, status
