"""What the admin API answers, as typed data: its server builds it, its client reads it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from migration.gateway.routes import Route
from migration.gateway.shadow_diff import ShadowReport
from migration.gateway.slo_window import WindowFigures


class RouteView(Route):
    """A route with what the gateway sees of it live: a canary's window, shadow figures."""

    slo_window: WindowFigures | None = None
    shadow_stats: ShadowReport | None = None

    def as_json(self) -> dict[str, Any]:
        """The route's fields, and the live figures only where there are some."""
        view = self.model_dump(mode="json", exclude={"slo_window", "shadow_stats"})
        if self.slo_window is not None:
            view["slo_window"] = self.slo_window.model_dump(mode="json")
        if self.shadow_stats is not None:
            view["shadow_stats"] = self.shadow_stats.model_dump(mode="json", exclude_none=True)
        return view


class RouteListing(BaseModel):
    """The route table a gateway routes by, with its version."""

    version: int
    routes: list[RouteView]

    def as_json(self) -> dict[str, Any]:
        """The listing as ``GET /_carve/routes`` answers it."""
        return {"version": self.version, "routes": [r.as_json() for r in self.routes]}


def utc_time(at: float, *, seconds: bool = True) -> str:
    """An ``at`` of the admin API (an audit entry's, a diff sample's) in UTC, for people."""
    moment = datetime.fromtimestamp(at, UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S") if seconds else moment.strftime(
        "%Y-%m-%d %H:%M UTC")
