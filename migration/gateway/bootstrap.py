"""The gateway's composition root: every part built here, each given the few it needs."""

from __future__ import annotations

import time
from collections.abc import Callable

from migration.gateway.admin_api import AdminContext, build_admin
from migration.gateway.background import BackgroundTasks
from migration.gateway.current_table import CurrentTable
from migration.gateway.direct import DirectPath
from migration.gateway.engine_state import EngineState
from migration.gateway.failover import Failover
from migration.gateway.gateway_settings import GatewaySettings
from migration.gateway.proxy import Gateway
from migration.gateway.route_changes import RouteChanges
from migration.gateway.shadow_diff import ShadowRecorder
from migration.gateway.shadow_mode import ShadowMode
from migration.gateway.slo_guard import SloGuard
from migration.gateway.slo_window import SloTracker
from migration.gateway.store import ToggleStore
from migration.gateway.traffic_metrics import GatewayMetrics
from migration.gateway.upstream import UpstreamPool
from migration.gateway.worker_metrics import WorkerMetrics
from migration.runtime.breaker import CircuitBreaker


def build_gateway(settings: GatewaySettings, store: ToggleStore,
                  clock: Callable[[], float] = time.monotonic) -> Gateway:
    """A gateway for these settings over ``store`` (not read yet: ``start`` reads it)."""
    pools = {name: UpstreamPool(name, url, settings.timeouts,
                                CircuitBreaker(name, settings.breaker, clock))
             for name, url in settings.upstreams().items()}
    current, metrics = CurrentTable(pools), GatewayMetrics()
    tracker = SloTracker(clock, current)
    recorder, background = ShadowRecorder(), BackgroundTasks()
    changes = RouteChanges(store, current, tracker, pools)
    guard = SloGuard(tracker, current, changes, metrics)
    failover = Failover(pools, tracker.window, clock, metrics.fallbacks)
    shadow_mode = ShadowMode(pools, recorder, background.spawn, clock,
                             settings.shadow_capture_bytes, settings.shadow_concurrency)
    workers = WorkerMetrics(settings.workers_dir, settings.worker, metrics) \
        if settings.workers_dir else None
    engine = EngineState(settings.engine) if settings.engine != "carve" else None
    admin = build_admin(AdminContext(settings.admin_token, store, current, changes, tracker,
                                     recorder, pools, metrics, workers, engine))
    gateway = Gateway(settings, store, current, pools, metrics, failover, shadow_mode, guard,
                      admin, background, workers)
    gateway.engine = engine
    if not settings.traced:
        # The direct path answers plain GETs on callbacks, with no place for a span:
        # a traced gateway serves every request on the ASGI path.
        gateway.direct = DirectPath(current, pools, failover, metrics, app=gateway).take
    return gateway
