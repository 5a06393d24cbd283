"""The data plane: an ASGI app that sends each request where its route's mode says."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from migration.gateway.background import BackgroundTasks
from migration.gateway.body import NO_BODY, BodyTooLarge, ClientGone, RequestBody
from migration.gateway.current_table import CurrentTable
from migration.gateway.dispatch import Destination, destination
from migration.gateway.engine_state import EngineState
from migration.gateway.exchange import forward
from migration.gateway.failover import Failover
from migration.gateway.forwarding import Inbound
from migration.gateway.gateway_settings import GATEWAY, MONOLITH, GatewaySettings
from migration.gateway.http1 import App, Direct
from migration.gateway.paths import is_admin, refusal_reason
from migration.gateway.problem_replies import Send, send_problem
from migration.gateway.request_span import request_span
from migration.gateway.routes import Route, RouteTable
from migration.gateway.shadow_mode import ShadowMode
from migration.gateway.slo_guard import SloGuard
from migration.gateway.store import ToggleStore
from migration.gateway.traffic_metrics import UNROUTED, GatewayMetrics
from migration.gateway.upstream import UpstreamPool
from migration.gateway.worker_metrics import PUBLISH_SECONDS, WorkerMetrics
from migration.runtime.errors import ConfigError

log = logging.getLogger("carve.gateway")


class Gateway:
    """The data plane's ASGI app: routes each request, runs the gateway's background work.

    Its parts are given, each with the few collaborators it needs, by ``bootstrap``.
    """

    def __init__(self, settings: GatewaySettings, store: ToggleStore, current: CurrentTable,
                 pools: dict[str, UpstreamPool], metrics: GatewayMetrics, failover: Failover,
                 shadow_mode: ShadowMode, guard: SloGuard, admin: App,
                 background: BackgroundTasks, workers: WorkerMetrics | None = None) -> None:
        self.settings = settings
        self.store = store
        self.current = current
        self.pools = pools
        self.monolith = pools[MONOLITH]
        self.metrics = metrics
        self.failover = failover
        self.shadow_mode = shadow_mode
        self.guard = guard
        self.admin = admin
        self.background = background
        self.workers = workers  # one worker of several: its metrics shared with the others
        # For the HTTP server: plain GETs answered without a task (set by the bootstrap).
        self.direct: Direct | None = None
        # NGINX in front (--engine nginx): what it runs, for the admin API (the bootstrap).
        self.engine: EngineState | None = None

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
        spawn = self.background.spawn
        spawn(self.store.watch(self.apply))
        spawn(self.guard.run(self.settings.slo_check_seconds))
        spawn(self._expire_exchanges())
        if self.workers is not None:
            spawn(self._publish_metrics(self.workers))

    async def _expire_exchanges(self) -> None:
        """Ten times a second, time out the exchanges whose response head is late."""
        while True:
            await asyncio.sleep(0.1)
            now = time.monotonic()
            for pool in self.pools.values():
                pool.expire(now)

    @staticmethod
    async def _publish_metrics(workers: WorkerMetrics) -> None:
        """Once a second, this worker's counts for its siblings' scrapes."""
        while True:
            await asyncio.sleep(PUBLISH_SECONDS)
            workers.publish()

    async def stop(self) -> None:
        """Stop watching and close the upstream connections."""
        await self.background.stop()
        if self.workers is not None:
            self.workers.publish()  # the last counts, for the workers still running
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

    async def _proxy(self, scope: dict, receive: Callable, send: Send) -> None:
        started = time.perf_counter()
        reason = refusal_reason(scope["path"], scope.get("raw_path"))
        if reason:
            self.metrics.refused[400] += 1
            await send_problem(send, 400, "gateway.path_refused", "Path refused", reason)
            return
        route = self.current.table.match(scope["path"])
        goes, inbound = destination(route, scope)
        if not self.settings.traced:
            await self._answer(scope, receive, send, route, goes, inbound, started)
            return
        with request_span(scope, route, inbound) as span:
            answered = await self._answer(scope, receive, send, route, goes, inbound, started)
            span.answered(answered)

    async def _answer(self, scope: dict, receive: Callable, send: Send, route: Route | None,
                      goes: Destination, inbound: Inbound,
                      started: float) -> tuple[str, int] | None:
        """Send the request where it goes; the upstream and status, None if not answered."""
        limit = self.settings.max_body_bytes
        if inbound.content_length is not None and not 0 <= inbound.content_length <= limit:
            await self._refuse_body(send, inbound, limit)
            return None
        if inbound.content_length is None and not inbound.chunked:
            # RFC 9112 6.3: no Content-Length and no Transfer-Encoding means no body, so
            # there is nothing to wait for from the server.
            body = NO_BODY
        else:
            body = RequestBody(receive, limit)
        try:
            if body is not NO_BODY:
                await body.begin()
            if goes is Destination.MONOLITH:
                upstream = MONOLITH
                status = await forward(self.monolith, scope, inbound, body, send)
            elif goes is Destination.SERVICE or goes is Destination.CANARY:
                upstream, status = await self.failover.to_service(
                    route, scope, inbound, body, send, canary=goes is Destination.CANARY)
            elif goes is Destination.SHADOW:
                upstream = MONOLITH
                status = await self.shadow_mode.answer(route, scope, inbound, body, send)
            else:
                upstream, status = await self._retired(route, inbound, send)
        except BodyTooLarge:
            await self._refuse_body(send, inbound, limit)
            return None
        except ClientGone:
            return None
        label = route.prefix if route else UNROUTED
        self.metrics.observe(label, upstream, status, time.perf_counter() - started)
        return upstream, status

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
