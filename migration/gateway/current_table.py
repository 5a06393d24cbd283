"""The route table one gateway routes by now: replaced whole, never changed in place."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from migration.gateway.gateway_settings import MONOLITH
from migration.gateway.routes import MODES_NEEDING_SERVICE, RouteTable

log = logging.getLogger("carve.gateway")


class CurrentTable:
    """The table in use; a request in flight keeps the table it started with."""

    __slots__ = ("table", "_upstreams")

    def __init__(self, upstreams: Mapping[str, object], table: RouteTable | None = None) -> None:
        self._upstreams = upstreams  # by name: the services this gateway has a URL for
        self.table = table or RouteTable()

    def apply(self, table: RouteTable) -> None:
        """Take a new table, saying which of its routes name a service without a URL."""
        if table.version != self.table.version or table.version == 0:
            log.info("routes version %s", table.version)
            if unknown := self.unknown_services(table):
                log.error("routes version %s: %s; their reads go to the monolith, their "
                          "writes get a 502", table.version, unknown)
        self.table = table

    def unknown_services(self, table: RouteTable) -> str:
        """What routes send traffic to a service this gateway has no URL for, if any."""
        missing = sorted({(r.prefix, r.service) for r in table.routes
                          if r.mode in MODES_NEEDING_SERVICE and r.service not in self._upstreams})
        if not missing:
            return ""
        known = ", ".join(sorted(n for n in self._upstreams if n != MONOLITH)) or "none"
        named = "; ".join(f"{prefix} sends traffic to {service!r}" for prefix, service in missing)
        hint = " ".join(f"--service {name}=URL" for name in sorted({s for _, s in missing}))
        return f"{named}, which has no URL here: add {hint} (services known: {known})"
