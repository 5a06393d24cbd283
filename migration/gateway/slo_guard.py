"""Automatic rollback: a canary whose SLO is breached goes back to the monolith by itself."""

from __future__ import annotations

import asyncio
import logging

from migration.gateway.current_table import CurrentTable
from migration.gateway.route_changes import ChangedMeanwhile, RouteChanges
from migration.gateway.routes import Route, RouteMode
from migration.gateway.slo_window import SloTracker, SloWindow
from migration.gateway.traffic_metrics import GatewayMetrics

log = logging.getLogger("carve.gateway")


class SloGuard:
    """Watches every canary's window and rolls back the ones in breach, audited as automatic."""

    def __init__(self, tracker: SloTracker, current: CurrentTable, changes: RouteChanges,
                 metrics: GatewayMetrics) -> None:
        self.tracker = tracker
        self._current = current
        self._changes = changes
        self._metrics = metrics

    def window(self, route: Route) -> SloWindow:
        """Where the data plane records a canary's service answers."""
        return self.tracker.window(route)

    async def run(self, every: float) -> None:
        """Check every ``every`` seconds until cancelled."""
        while True:
            await asyncio.sleep(every)
            try:
                await self.check()
            except Exception:  # noqa: BLE001 - the guard must outlive a store hiccup
                log.exception("SLO check failed; retrying")

    async def check(self) -> list[str]:
        """Roll back each canary in breach; return the prefixes rolled back."""
        canaries = [r for r in self._current.table.routes if r.mode is RouteMode.CANARY]
        rolled = []
        for route, verdict in self.tracker.breaches(canaries):
            if await self._roll_back(route, f"SLO breach: {verdict.breach}"):
                rolled.append(route.prefix)
        return rolled

    async def _roll_back(self, route: Route, reason: str) -> bool:
        try:
            await self._changes.roll_back_breach(route, reason)
        except ChangedMeanwhile:
            return False  # someone changed the route since the breach was seen: theirs stands
        self._metrics.rollbacks[route.prefix] += 1
        log.warning("rolled %s back to the monolith: %s", route.prefix, reason)
        return True
