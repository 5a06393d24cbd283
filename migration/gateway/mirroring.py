"""Shadow mode: the monolith answers; the same request goes to the service in the background."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from migration.gateway.body import RequestBody
from migration.gateway.exchange import exchange, read_whole
from migration.gateway.failover import SAFE, target
from migration.gateway.forwarding import Inbound
from migration.gateway.problems import Send
from migration.gateway.routes import Route
from migration.gateway.shadow import compare
from migration.gateway.upstream import UpstreamError

if TYPE_CHECKING:
    from migration.gateway.proxy import Gateway


async def shadowed(gw: Gateway, route: Route, scope: dict, inbound: Inbound,
                   body: RequestBody, send: Send) -> int:
    """Answer from the monolith; mirror the request to the service when the route allows."""
    capture: list[bytes] = []
    status = await gw.forward(gw.monolith, scope, inbound, body, send, capture=capture)
    method = scope["method"]
    mirror = (method in SAFE or route.shadow.mirror_unsafe) and body.replayable
    if mirror and capture:
        if gw.mirrors >= gw.settings.shadow_concurrency:
            gw.shadow.stats(route.prefix).dropped += 1
        else:
            gw.spawn(_mirror(gw, route, scope, inbound, body.content, status, capture[0]))
    return status


async def _mirror(gw: Gateway, route: Route, scope: dict, inbound: Inbound, content: bytes,
                  monolith_status: int, monolith_body: bytes) -> None:
    """Send the same request to the service in the background and compare the answers."""
    gw.mirrors += 1
    pool = gw.pools.get(route.service or "")
    method, path = scope["method"], scope["path"]
    try:
        if pool is None or not pool.breaker.allow():
            gw.shadow.record(route.prefix, method, path, monolith_status, None,
                             ["service not called: unknown service or breaker open"])
            return
        mirrored = dataclasses.replace(inbound, headers=[*inbound.headers,
                                                         (b"x-carve-shadow", b"1")])
        started, generation = gw.clock(), pool.breaker.generation
        failed = True
        try:
            conn = await exchange(pool, method, target(scope), mirrored, scope,
                                  RequestBody.replay(content))
            status = conn.status  # read first: once released, the connection serves others
            service_body = await read_whole(conn, pool, gw.settings.shadow_capture_bytes)
            failed = status >= 500
        except (UpstreamError, TimeoutError) as exc:
            gw.shadow.record(route.prefix, method, path, monolith_status, None,
                             [f"service failed: {exc or type(exc).__name__}"])
            return
        finally:
            # Also when cancelled (the gateway stopping): a probe must always end.
            pool.breaker.record(failed=failed, seconds=gw.clock() - started,
                                generation=generation)
        found = compare(monolith_status, monolith_body, status, service_body,
                        route.shadow.ignore_fields)
        gw.shadow.record(route.prefix, method, path, monolith_status, status, found)
    finally:
        gw.mirrors -= 1
