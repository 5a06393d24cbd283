"""Route changes, the gateway's one use case: set a route, or send it back to the monolith."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from migration.gateway.routes import (
    FallbackOptions,
    RouteMode,
    ShadowOptions,
    Slo,
    StickyKey,
)


class RouteChange(BaseModel):
    """A change to one route: the fields given replace the route's, the others stay."""

    model_config = ConfigDict(extra="forbid")
    prefix: str
    mode: RouteMode | None = None
    service: str | None = None
    percent: float | None = None
    sticky: StickyKey | None = None
    slo: Slo | None = None
    shadow: ShadowOptions | None = None
    fallback: FallbackOptions | None = None
    reason: str = ""


class Rollback(BaseModel):
    """Put one route back to the monolith."""

    model_config = ConfigDict(extra="forbid")
    prefix: str
    reason: str = ""
