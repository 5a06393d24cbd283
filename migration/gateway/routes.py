"""The route table: path prefixes, each with a mode that says where its traffic goes."""

from __future__ import annotations

import string
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from migration.gateway.paths import is_admin

_PREFIX_CHARACTERS = frozenset(string.ascii_letters + string.digits + "/-._~:@+,=")


class RouteMode(StrEnum):
    """The strangler fig's stages, in the order a route moves through them."""

    MONOLITH = "monolith"
    SHADOW = "shadow"
    CANARY = "canary"
    SERVICE = "service"
    RETIRED = "retired"


MODES_NEEDING_SERVICE = frozenset({RouteMode.SHADOW, RouteMode.CANARY, RouteMode.SERVICE})


def normalized_path(path: str) -> str:
    """``path`` without empty segments: ``//api//v1/`` is ``/api/v1``, as NGINX merges it."""
    return "/" + "/".join(s for s in path.split("/") if s)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StickyKey(_Strict):
    """What keeps one user on one side of a canary: a header or a cookie, else the client."""

    kind: Literal["header", "cookie", "client"] = "header"
    name: str = "x-user-id"

    @model_validator(mode="after")
    def _header_names_are_lowercase(self) -> StickyKey:
        # ASGI hands header names over lowercased; cookie names stay case-sensitive.
        if self.kind == "header" and self.name != self.name.lower():
            object.__setattr__(self, "name", self.name.lower())
        return self


class Slo(_Strict):
    """What a canary must keep over its window, or the route goes back to the monolith."""

    max_error_rate: float = Field(0.05, ge=0, le=1)
    max_p99_ms: float = Field(1000.0, gt=0)
    window_seconds: float = Field(30.0, gt=0)
    min_requests: int = Field(20, ge=1)


class ShadowOptions(_Strict):
    """How a shadowed route compares: fields to ignore, and whether unsafe methods mirror."""

    ignore_fields: tuple[str, ...] = ()
    mirror_unsafe: bool = False


class FallbackOptions(_Strict):
    """Which requests a failing service hands to the monolith in ``service`` and ``canary``.

    Reads (GET, HEAD, OPTIONS) always may. PUT and DELETE are idempotent, but once the
    service owns the data the monolith's copy may be stale and the write lands in the wrong
    database: they fall back only when ``idempotent_writes`` says the monolith still is a
    valid writer. POST and PATCH never do.
    """

    idempotent_writes: bool = False


class Route(_Strict):
    """One prefix of the table and where its traffic goes."""

    prefix: str
    mode: RouteMode = RouteMode.MONOLITH
    service: str | None = None
    percent: float = Field(0.0, ge=0, le=100)
    sticky: StickyKey = Field(default_factory=StickyKey)
    slo: Slo = Field(default_factory=Slo)
    shadow: ShadowOptions = Field(default_factory=ShadowOptions)
    fallback: FallbackOptions = Field(default_factory=FallbackOptions)

    @field_validator("prefix")
    @classmethod
    def _normalized_prefix(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("a route prefix starts with '/'")
        if any(s in (".", "..") for s in value.split("/")) or "%" in value:
            raise ValueError("a route prefix has no dot segments or percent-encoding")
        if not _PREFIX_CHARACTERS.issuperset(value):
            # Kept to what every export can write without quoting: NGINX, Envoy, YAML.
            raise ValueError("a route prefix holds letters, digits, '/' and - . _ ~ : @ + , =")
        value = normalized_path(value)
        if is_admin(value):
            # Answered by the gateway itself whatever the table says.
            raise ValueError("/_carve is the gateway's admin API, not a route")
        return value

    @model_validator(mode="after")
    def _service_when_needed(self) -> Route:
        if self.mode in MODES_NEEDING_SERVICE and not self.service:
            raise ValueError(f"mode {self.mode.value!r} needs a service (--to SERVICE)")
        return self


class RouteTable:
    """An immutable snapshot of the routes; lookups are a walk up the path's segments."""

    __slots__ = ("version", "_by_prefix", "_by_path")

    # Paths remembered with their route; past this many the memory starts over, so a client
    # sending endless distinct paths costs a walk per path, never unbounded memory.
    PATHS_CACHED = 4096

    def __init__(self, routes: list[Route] | tuple[Route, ...] = (), version: int = 0) -> None:
        self.version = version
        self._by_prefix = {route.prefix: route for route in routes}
        self._by_path: dict[str, Route | None] = {}

    @property
    def routes(self) -> list[Route]:
        """Every route, shortest prefix first."""
        return sorted(self._by_prefix.values(), key=lambda r: (len(r.prefix), r.prefix))

    def get(self, prefix: str) -> Route | None:
        """The route of exactly this prefix."""
        return self._by_prefix.get(prefix)

    def match(self, path: str) -> Route | None:
        """The route with the longest prefix that covers ``path`` on a segment boundary."""
        try:
            return self._by_path[path]
        except KeyError:
            pass
        route = self._walk(path)
        if len(self._by_path) >= self.PATHS_CACHED:
            self._by_path.clear()
        self._by_path[path] = route
        return route

    def _walk(self, path: str) -> Route | None:
        routes = self._by_prefix
        if not routes:
            return None
        if "//" in path:  # matched as normalized: //api//v1 is /api/v1
            path = normalized_path(path)
        candidate = path.rstrip("/") or "/"
        while True:
            route = routes.get(candidate)
            if route is not None:
                return route
            if candidate == "/":
                return None
            cut = candidate.rfind("/")
            candidate = candidate[:cut] or "/"

    def to_json(self) -> dict:
        """The table as the JSON document the file store keeps."""
        return {"version": self.version,
                "routes": [r.model_dump(mode="json") for r in self.routes]}
