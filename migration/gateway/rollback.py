"""Automatic rollback: a canary whose SLO is breached goes back to the monolith by itself."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from migration.gateway.routes import Route, RouteMode
from migration.gateway.slo import SloTracker, SloWindow

if TYPE_CHECKING:
    from migration.gateway.proxy import Gateway

log = logging.getLogger("carve.gateway")


class _ChangedMeanwhile(Exception):
    """Someone changed the route since the breach was seen: their change stands."""


class SloGuard:
    """Watches every canary's window and rolls back the ones in breach, audited as automatic."""

    def __init__(self, gateway: Gateway, clock: Callable[[], float] = time.monotonic) -> None:
        self._gateway = gateway
        self.tracker = SloTracker(clock)

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
        canaries = [r for r in self._gateway.table.routes if r.mode is RouteMode.CANARY]
        rolled = []
        for route, verdict in self.tracker.breaches(canaries):
            if await self._roll_back(route, f"SLO breach: {verdict.breach}"):
                rolled.append(route.prefix)
        return rolled

    async def _roll_back(self, route: Route, reason: str) -> bool:
        def to_monolith(current: Route | None) -> Route | None:
            if current != route:
                raise _ChangedMeanwhile()
            return Route.model_validate({**route.model_dump(), "mode": RouteMode.MONOLITH,
                                         "percent": 0})

        try:
            await self._gateway.change_route(route.prefix, to_monolith, reason, automatic=True)
        except _ChangedMeanwhile:
            return False
        self._gateway.metrics.rollbacks[route.prefix] += 1
        log.warning("rolled %s back to the monolith: %s", route.prefix, reason)
        return True
