"""The admin API under ``/_carve/``: routes, audit, diffs, metrics; guarded by a bearer token."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route as Endpoint

from migration.gateway.admin_views import RouteListing, RouteView
from migration.gateway.current_table import CurrentTable
from migration.gateway.engine_state import EngineState
from migration.gateway.gateway_settings import GATEWAY
from migration.gateway.route_changes import (
    ChangedMeanwhile,
    InvalidRoute,
    Rollback,
    RouteChange,
    RouteChangeRefused,
    RouteChanges,
    UnknownRoute,
    UnknownService,
)
from migration.gateway.routes import Route
from migration.gateway.shadow_diff import ShadowRecorder
from migration.gateway.slo_window import SloTracker
from migration.gateway.store import RouteStoreError, ToggleStore
from migration.gateway.traffic_metrics import GatewayMetrics
from migration.gateway.upstream import UpstreamPool
from migration.gateway.worker_metrics import WorkerMetrics
from migration.runtime.problems import PROBLEM_MEDIA_TYPE, problem

PUBLIC = frozenset({"/_carve/healthz"})
UPSTREAM_GATEWAY = (b"x-carve-upstream", GATEWAY.encode())


@dataclass(frozen=True)
class AdminContext:
    """What the admin API reads and changes (one gateway's), wired by the bootstrap."""

    token: str | None  # None: the API is off, but for its health check
    store: ToggleStore
    current: CurrentTable
    changes: RouteChanges
    tracker: SloTracker
    shadow: ShadowRecorder
    pools: Mapping[str, UpstreamPool]
    metrics: GatewayMetrics
    workers: WorkerMetrics | None = None  # one worker of several: the scrape adds them up
    engine: EngineState | None = None  # NGINX in front (--engine nginx)


class _Refused(Exception):
    """A request the admin API cannot read (a body or query of the wrong shape)."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


def _problem(status: int, code: str, detail: str, headers: dict | None = None) -> Response:
    return JSONResponse(problem(status, code, detail, detail), status_code=status,
                        media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _authorize(request: Request, token: str | None) -> Response | None:
    if request.url.path in PUBLIC:
        return None
    if token is None:
        return _problem(503, "gateway.admin_off",
                        "the admin API is off: start the gateway with CARVE_ADMIN_TOKEN set")
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        return _problem(401, "gateway.unauthorized", "send 'Authorization: Bearer <token>'",
                        {"www-authenticate": 'Bearer realm="carve"'})
    if not hmac.compare_digest(given.encode(), token.encode()):
        return _problem(403, "gateway.forbidden", "the admin token is wrong")
    return None


async def _body(request: Request, model: type[BaseModel]) -> Any:
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise _Refused(422, "request.invalid", f"{where}: {first['msg']}".strip(": ")) from exc


def build_admin(context: AdminContext) -> Starlette:
    """The admin ASGI app, bound to one gateway, behind the token guard."""
    app = Starlette(routes=[
        Endpoint("/_carve/healthz", healthz), Endpoint("/_carve/routes", list_routes),
        Endpoint("/_carve/routes", set_route, methods=["PUT"]),
        Endpoint("/_carve/routes/rollback", rollback, methods=["POST"]),
        Endpoint("/_carve/audit", audit), Endpoint("/_carve/diffs", diffs),
        Endpoint("/_carve/upstreams", upstreams), Endpoint("/_carve/metrics", metrics),
    ], exception_handlers={_Refused: _refused, RouteChangeRefused: _change_refused,
                           HTTPException: _http_error, RouteStoreError: _store_failed})
    app.state.admin = context

    async def guarded(scope: dict, receive: Any, send: Any) -> None:
        async def tagged(message: dict) -> None:
            # Every answer names the gateway, as proxied ones name their upstream: the CLI
            # checks it to tell a gateway from whatever else answers at the URL.
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), UPSTREAM_GATEWAY]
            await send(message)

        refusal = _authorize(Request(scope), context.token)
        if refusal is not None:
            await refusal(scope, receive, tagged)
            return
        await app(scope, receive, tagged)

    return guarded  # type: ignore[return-value]


def _context(request: Request) -> AdminContext:
    return request.app.state.admin


async def healthz(request: Request) -> Response:
    """``GET /_carve/healthz``: up, with the routes' version and where they live."""
    gateway = _context(request)
    store = gateway.store
    # Degraded, not down: the gateway goes on routing by the last table it could read.
    health = {"status": "degraded" if store.problem else "ok",
              "routes_version": gateway.current.table.version, "store": store.description}
    if store.problem:
        health["store_problem"] = store.problem
    engine = gateway.engine
    if engine is not None:
        health["engine"] = {"name": engine.name, "routes_version": engine.routes_version}
        if engine.problem:
            # NGINX routes by an older table than the one listed: say so, and why.
            health["status"] = "degraded"
            health["engine"]["problem"] = engine.problem
    return JSONResponse(health)


async def list_routes(request: Request) -> Response:
    """``GET /_carve/routes``: the table, with live SLO windows and shadow figures."""
    gateway = _context(request)
    listing = RouteListing(version=gateway.current.table.version,
                           routes=[_route_view(gateway, r) for r in gateway.current.table.routes])
    return JSONResponse(listing.as_json())


async def set_route(request: Request) -> Response:
    """``PUT /_carve/routes``: change one route; the fields not given stay."""
    change = await _body(request, RouteChange)
    entry = await _context(request).changes.set(change, "set through the admin API")
    return JSONResponse(entry.model_dump(mode="json"))


async def rollback(request: Request) -> Response:
    """``POST /_carve/routes/rollback``: put one route back to the monolith."""
    order = await _body(request, Rollback)
    entry = await _context(request).changes.roll_back(
        order.prefix, order.reason or "rolled back through the admin API")
    return JSONResponse(entry.model_dump(mode="json"))


async def audit(request: Request) -> Response:
    """``GET /_carve/audit[?prefix=&limit=]``: the latest changes, newest first."""
    raw_limit = request.query_params.get("limit", "100")
    if not raw_limit.isdigit():
        raise _Refused(422, "request.invalid", "limit: expected a whole number")
    entries = await _context(request).store.audit(request.query_params.get("prefix"),
                                                  int(raw_limit))
    return JSONResponse([e.model_dump(mode="json") for e in entries])


async def diffs(request: Request) -> Response:
    """``GET /_carve/diffs[?prefix=]``: shadow diff rates and samples."""
    prefix = request.query_params.get("prefix")
    routes = _context(request).shadow.routes
    return JSONResponse({p: s.report().model_dump(mode="json") for p, s in routes.items()
                         if prefix in (None, p)})


async def upstreams(request: Request) -> Response:
    """``GET /_carve/upstreams``: each upstream's URL and breaker state."""
    return JSONResponse({name: {"url": pool.url, "breaker": pool.breaker.state.value,
                                "opened": pool.breaker.opened_count}
                         for name, pool in _context(request).pools.items()})


async def metrics(request: Request) -> Response:
    """``GET /_carve/metrics``: Prometheus text."""
    gateway = _context(request)
    gauges, counts = _gauges(gateway), gateway.metrics
    if gateway.workers is not None:
        counts, by_worker = gateway.workers.gathered()
        gauges["carve_gateway_worker_requests"] = [
            ({"worker": worker}, n) for worker, n in sorted(by_worker.items())]
    return PlainTextResponse(counts.render(gauges),
                             media_type="text/plain; version=0.0.4")


async def _refused(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, _Refused)
    return _problem(exc.status, exc.code, exc.detail)


# The status and problem code each refusal of the route-changes use case answers with.
_REFUSALS: dict[type[RouteChangeRefused], tuple[int, str]] = {
    InvalidRoute: (422, "gateway.route_invalid"),
    UnknownService: (422, "gateway.unknown_service"),
    UnknownRoute: (404, "gateway.route_unknown"),
    ChangedMeanwhile: (409, "gateway.route_changed"),
}


async def _change_refused(_: Request, exc: Exception) -> Response:
    status, code = _REFUSALS.get(type(exc), (422, "gateway.route_invalid"))
    return _problem(status, code, str(exc))


async def _store_failed(_: Request, exc: Exception) -> Response:
    # The message says whether the change was written (see RouteChanges).
    return _problem(503, "gateway.route_store", str(exc))


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _problem(exc.status_code, f"http.{exc.status_code}", str(exc.detail))


def _route_view(gateway: AdminContext, route: Route) -> RouteView:
    verdict = gateway.tracker.verdict(route)
    stats = gateway.shadow.routes.get(route.prefix)
    return RouteView(**dict(route), slo_window=verdict and verdict.figures(),
                     shadow_stats=stats and stats.report(samples=False))


def _gauges(gateway: AdminContext) -> dict[str, list[tuple[dict[str, str], float]]]:
    states = {"closed": 0, "half_open": 1, "open": 2}
    return {
        "carve_gateway_routes_version": [({}, gateway.current.table.version)],
        **({"carve_gateway_engine_routes_version": [({"engine": gateway.engine.name},
                                                     gateway.engine.routes_version)]}
           if gateway.engine is not None else {}),
        "carve_gateway_breaker_state": [({"upstream": n}, states[p.breaker.state.value])
                                        for n, p in gateway.pools.items()],
        "carve_gateway_shadow_diff_rate": [
            ({"route": p}, s.differed / s.compared if s.compared else 0.0)
            for p, s in gateway.shadow.routes.items()],
    }
