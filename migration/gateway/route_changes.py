"""Route changes, the gateway's one use case: set a route, or send it back to the monolith.

The admin API, the SLO guard and ``carve route`` all change routes through here. The rules
(a canary needs a percent, the service inferred from the prefix, unknown services refused)
raise :class:`RouteChangeRefused`; each caller says it in its own terms (a 4xx problem, a
line on the terminal). Every change goes to the store with the evidence it was made on (a
canary's live window), and the new table is applied here at once.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, ValidationError

from migration.gateway.current_table import CurrentTable
from migration.gateway.gateway_settings import MONOLITH
from migration.gateway.routes import (
    FallbackOptions,
    Route,
    RouteMode,
    ShadowOptions,
    Slo,
    StickyKey,
)
from migration.gateway.slo_window import SloTracker
from migration.gateway.store.base import AuditEntry, Mutation, RouteStoreError, ToggleStore
from migration.runtime.errors import CarveError


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


class RouteChangeRefused(CarveError):
    """A route change the rules do not allow; nothing was changed."""

    exit_code = 1


class InvalidRoute(RouteChangeRefused):
    """The change would make a route that is not one (a bad prefix, a canary without share)."""


class UnknownService(RouteChangeRefused):
    """The change sends traffic to a service this gateway has no URL for."""


class UnknownRoute(RouteChangeRefused):
    """There is no route of that prefix to change."""


class ChangedMeanwhile(RouteChangeRefused):
    """The route changed since the change was decided on: the other change stands."""


def normalized_prefix(raw: str) -> str:
    """The prefix as the table keys it (``/a//b/`` is ``/a/b``), or why it is none."""
    try:
        return Route.model_validate({"prefix": raw}).prefix
    except ValidationError as exc:
        raise InvalidRoute(f"prefix {raw!r}: {_message(exc)}") from exc


def back_to_monolith(route: Route) -> Route:
    """The route with its traffic sent to the monolith; its other settings stay for later."""
    return Route.model_validate({**route.model_dump(), "mode": RouteMode.MONOLITH,
                                 "percent": 0})


def changed_route(change: RouteChange, current: Route | None, services: set[str]) -> Route:
    """``current`` with the change applied, by the rules; ``services`` are those with a URL."""
    starts_canary = change.mode is RouteMode.CANARY and (
        current is None or current.mode is not RouteMode.CANARY)
    if starts_canary and change.percent is None:
        # Not a silent 0 %: the share is the one thing a canary is about.
        raise InvalidRoute("a canary needs a percent (--percent N)")
    data = current.model_dump() if current else {"prefix": change.prefix}
    data.update(change.model_dump(exclude={"reason", "prefix"}, exclude_none=True))
    data["prefix"] = change.prefix
    if not data.get("service"):
        data["service"] = service_named_by(change.prefix, services)
    try:
        route = Route.model_validate(data)
    except ValidationError as exc:
        raise InvalidRoute(_message(exc)) from exc
    if route.service and route.service not in services:
        known = ", ".join(sorted(services)) or "none"
        raise UnknownService(f"service {route.service!r} has no URL here (known: {known})")
    return route


def service_named_by(prefix: str, services: set[str]) -> str | None:
    """The service a contract prefix names (``/api/v1/inventory`` → ``inventory``), if any.

    Contracts are served at ``/api/v<version>/<name>`` by the monolith and by the
    extracted service alike, so the prefix's last segment is the service's name.
    """
    name = prefix.rstrip("/").rsplit("/", 1)[-1]
    return name if name in services else None


def _message(exc: ValidationError) -> str:
    # "Value error, " is pydantic's wrapping of our own validators' messages.
    return exc.errors()[0]["msg"].removeprefix("Value error, ")


class RouteChanges:
    """Changes one gateway's routes: in the store, audited with their evidence, applied here."""

    def __init__(self, store: ToggleStore, current: CurrentTable, tracker: SloTracker,
                 upstreams: Mapping[str, object]) -> None:
        self._store = store
        self._current = current
        self._tracker = tracker
        self._upstreams = upstreams

    async def set(self, change: RouteChange, reason: str = "set") -> AuditEntry:
        """Change one route; the fields the change does not give stay as they are."""
        prefix = normalized_prefix(change.prefix)
        change = change.model_copy(update={"prefix": prefix})
        services = {name for name in self._upstreams if name != MONOLITH}
        return await self._change(prefix, lambda current: changed_route(change, current,
                                                                        services),
                                  change.reason or reason)

    async def roll_back(self, prefix: str, reason: str) -> AuditEntry:
        """Send one route's traffic back to the monolith."""
        prefix = normalized_prefix(prefix)

        def to_monolith(current: Route | None) -> Route:
            if current is None:
                raise UnknownRoute(f"no route {prefix}")
            return back_to_monolith(current)

        return await self._change(prefix, to_monolith, reason)

    async def roll_back_breach(self, route: Route, reason: str) -> AuditEntry:
        """Send a canary in breach back, unless it changed since (:class:`ChangedMeanwhile`)."""

        def to_monolith(current: Route | None) -> Route:
            if current != route:
                raise ChangedMeanwhile(f"{route.prefix} changed since its breach was seen")
            return back_to_monolith(route)

        return await self._change(route.prefix, to_monolith, reason, automatic=True)

    async def _change(self, prefix: str, mutate: Mutation, reason: str,
                      automatic: bool = False) -> AuditEntry:
        """Change a route in the store and apply the new table here at once.

        A canary's live window goes into the audit entry: the evidence the change was made on.
        """
        current = self._current.table.get(prefix)
        verdict = self._tracker.verdict(current) if current is not None else None
        evidence = None if verdict is None else verdict.evidence(current.percent)
        entry = await self._store.change(prefix, mutate, reason, automatic, evidence)
        try:
            self._current.apply(await self._store.load())
        except RouteStoreError as exc:
            raise RouteStoreError(f"the change was saved as version {entry.version}, but the "
                                  f"table cannot be read back to apply it: {exc}") from exc
        return entry
