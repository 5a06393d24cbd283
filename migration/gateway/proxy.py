"""The data plane: an ASGI app that sends each request where its route's mode says."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from migration.gateway.admin import build_admin
from migration.gateway.body import NO_BODY, BodyTooLarge, ClientGone, RequestBody
from migration.gateway.current_table import CurrentTable
from migration.gateway.direct import DirectPath
from migration.gateway.exchange import exchange, relay
from migration.gateway.failover import target, to_service
from migration.gateway.forwarding import Inbound, read_inbound, response_headers
from migration.gateway.metrics import UNROUTED, GatewayMetrics
from migration.gateway.mirroring import shadowed
from migration.gateway.paths import is_admin, refusal_reason
from migration.gateway.problems import Send, send_problem
from migration.gateway.rollback import SloGuard
from migration.gateway.route_changes import RouteChanges
from migration.gateway.routes import Route, RouteMode, RouteTable
from migration.gateway.settings import GATEWAY, MONOLITH, GatewaySettings
from migration.gateway.shadow import ShadowRecorder
from migration.gateway.slo import SloTracker
from migration.gateway.sticky import goes_to_service, sticky_header, sticky_key
from migration.gateway.store import ToggleStore
from migration.gateway.upstream import UpstreamError, UpstreamPool
from migration.runtime.breaker import CircuitBreaker
from migration.runtime.errors import ConfigError

log = logging.getLogger("carve.gateway")


class Gateway:
    """The gateway: route table, upstream pools, metrics, shadow diffs and SLO guard."""

    def __init__(self, settings: GatewaySettings, store: ToggleStore,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.store = store
        self.pools = {name: UpstreamPool(name, url, settings.timeouts,
                                         CircuitBreaker(name, settings.breaker, clock))
                      for name, url in settings.upstreams().items()}
        self.current = CurrentTable(self.pools)
        self.monolith = self.pools[MONOLITH]
        self.metrics = GatewayMetrics()
        self.shadow = ShadowRecorder()
        tracker = SloTracker(clock)
        self.changes = RouteChanges(store, self.current, tracker, self.pools)
        self.guard = SloGuard(tracker, self.current, self.changes, self.metrics)
        self.admin = build_admin(self)
        self.direct = DirectPath(self)  # for the HTTP server: plain GETs without a task
        self.clock = clock
        self._background: set[asyncio.Task] = set()
        self.mirrors = 0

    async def __call__(self, scope: dict, receive: Callable, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] == "http":
            if is_admin(scope["path"]):
                await self.admin(scope, receive, send)
            else:
                await self._proxy(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    @property
    def table(self) -> RouteTable:
        """The route table requests are routed by now."""
        return self.current.table

    @table.setter
    def table(self, table: RouteTable) -> None:
        self.current.table = table

    async def start(self) -> None:
        """Load the routes, then watch the store and the canaries' SLOs."""
        self.table = await self.store.load()
        if unknown := self.current.unknown_services(self.table):
            raise ConfigError(f"routes in {self.store.description}: {unknown}")
        self.spawn(self.store.watch(self.apply))
        self.spawn(self.guard.run(self.settings.slo_check_seconds))
        self.spawn(self._expire_exchanges())

    async def _expire_exchanges(self) -> None:
        """Ten times a second, time out the exchanges whose response head is late."""
        while True:
            await asyncio.sleep(0.1)
            now = time.monotonic()
            for pool in self.pools.values():
                pool.expire(now)

    async def stop(self) -> None:
        """Stop watching and close the upstream connections."""
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        for pool in self.pools.values():
            pool.close()
        await self.store.close()

    def apply(self, table: RouteTable) -> None:
        """Take a new table; requests in flight finish with the route they started with."""
        self.current.apply(table)

    async def _lifespan(self, receive: Callable, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.start()
                except Exception as exc:  # noqa: BLE001 - reported to the server, which exits
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def spawn(self, coroutine) -> asyncio.Task:
        """Run ``coroutine`` in the background until it ends or the gateway stops."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def _proxy(self, scope: dict, receive: Callable, send: Send) -> None:
        started = time.perf_counter()
        reason = refusal_reason(scope["path"], scope.get("raw_path"))
        if reason:
            self.metrics.refused[400] += 1
            await send_problem(send, 400, "gateway.path_refused", "Path refused", reason)
            return
        route = self.table.match(scope["path"])
        inbound = read_inbound(scope, None if route is None or route.mode is not RouteMode.CANARY
                               else sticky_header(route))
        limit = self.settings.max_body_bytes
        if inbound.content_length is not None and not 0 <= inbound.content_length <= limit:
            await self._refuse_body(send, inbound, limit)
            return
        if inbound.content_length is None and not inbound.chunked:
            # RFC 9112 6.3: no Content-Length and no Transfer-Encoding means no body, so
            # there is nothing to wait for from the server.
            body = NO_BODY
        else:
            body = RequestBody(receive, limit)
        mode = route.mode if route is not None else RouteMode.MONOLITH
        try:
            if body is not NO_BODY:
                await body.begin()
            if mode is RouteMode.SERVICE:
                upstream, status = await to_service(self, route, scope, inbound, body, send,
                                                    canary=False)
            elif mode is RouteMode.MONOLITH or (mode is RouteMode.CANARY and not goes_to_service(
                    route, sticky_key(route, inbound, scope))):
                upstream = MONOLITH
                status = await self.forward(self.monolith, scope, inbound, body, send)
            elif mode is RouteMode.CANARY:
                upstream, status = await to_service(self, route, scope, inbound, body, send,
                                                    canary=True)
            elif mode is RouteMode.SHADOW:
                upstream = MONOLITH
                status = await shadowed(self, route, scope, inbound, body, send)
            else:
                upstream, status = await self._retired(route, inbound, send)
        except BodyTooLarge:
            await self._refuse_body(send, inbound, limit)
            return
        except ClientGone:
            return
        label = route.prefix if route else UNROUTED
        self.metrics.observe(label, upstream, status, time.perf_counter() - started)

    async def _refuse_body(self, send: Send, inbound: Inbound, limit: int) -> None:
        status = 400 if inbound.content_length == -1 else 413
        self.metrics.refused[status] += 1
        detail = ("Content-Length is not a number" if status == 400
                  else f"the request body is larger than {limit} bytes")
        code = "gateway.body_invalid" if status == 400 else "gateway.body_too_large"
        await send_problem(send, status, code, "Request body refused", detail,
                           request_id=inbound.request_id)

    async def _retired(self, route: Route, inbound: Inbound, send: Send) -> tuple[str, int]:
        # Answered by the gateway itself: no upstream serves the route any more.
        await send_problem(send, 410, "gateway.route_retired", "Gone",
                           f"{route.prefix} is retired", GATEWAY, inbound.request_id)
        return GATEWAY, 410

    async def forward(self, pool: UpstreamPool, scope: dict, inbound: Inbound,
                       body: RequestBody, send: Send,
                       extra: tuple[tuple[bytes, bytes], ...] = (),
                       capture: list[bytes] | None = None) -> int:
        """Relay one exchange; with ``capture``, keep the start of the body for a diff."""
        try:
            conn = await exchange(pool, scope["method"], target(scope), inbound, scope, body)
        except UpstreamError as exc:
            await send_problem(send, exc.status, exc.code, "Upstream failed", str(exc),
                               pool.name, inbound.request_id)
            return exc.status
        status = conn.status
        headers = response_headers(conn.headers, pool.name.encode(), inbound.request_id,
                                   pool.origin)
        if capture is None:
            await relay(conn, pool, send, headers + list(extra))
        else:
            kept = await relay(conn, pool, send, headers, self.settings.shadow_capture_bytes)
            capture.append(kept or b"")
        return status
