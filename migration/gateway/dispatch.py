"""Where one request goes by its route's mode: the one decision both data paths make."""

from __future__ import annotations

from enum import Enum

from migration.gateway.forwarding import Inbound, read_inbound
from migration.gateway.routes import Route, RouteMode
from migration.gateway.sticky import goes_to_service, sticky_header, sticky_key


class Destination(Enum):
    """Who answers a request."""

    MONOLITH = "monolith"
    SERVICE = "service"
    CANARY = "canary"  # the service, for a user inside a canary: its answers count in the SLO
    SHADOW = "shadow"  # the monolith, with a mirror to the service
    RETIRED = "retired"  # the gateway itself, with a 410


_BY_MODE = {RouteMode.MONOLITH: Destination.MONOLITH, RouteMode.SERVICE: Destination.SERVICE,
            RouteMode.SHADOW: Destination.SHADOW, RouteMode.RETIRED: Destination.RETIRED}


def destination(route: Route | None, scope: dict) -> tuple[Destination, Inbound]:
    """Where the request goes, and its headers read (a canary's sticky key among them)."""
    if route is None:
        return Destination.MONOLITH, read_inbound(scope, None)
    if route.mode is RouteMode.CANARY:
        inbound = read_inbound(scope, sticky_header(route))
        inside = goes_to_service(route, sticky_key(route, inbound, scope))
        return (Destination.CANARY if inside else Destination.MONOLITH), inbound
    return _BY_MODE[route.mode], read_inbound(scope, None)
