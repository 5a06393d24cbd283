"""The route table as configuration for engines that scale past one Python process."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from migration.gateway.routes import RouteTable
from migration.runtime.errors import ConfigError


@dataclass(frozen=True)
class Upstream:
    """An upstream's address as the exported configuration names it."""

    name: str
    host: str
    port: int

    @classmethod
    def from_url(cls, name: str, url: str) -> Upstream:
        """From ``http://host:port``."""
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ConfigError(f"upstream {name}: {url!r} is not an http:// URL")
        return cls(name, parts.hostname, parts.port or 80)


@dataclass(frozen=True)
class ExportInput:
    """What every exporter needs: the table, the upstreams, where to listen."""

    table: RouteTable
    upstreams: Mapping[str, Upstream]
    listen_port: int = 8080
    max_body_mb: int = 256

    def upstream(self, name: str | None) -> Upstream:
        """A route's upstream, failing clearly when it has no URL."""
        if name is None or name not in self.upstreams:
            known = ", ".join(sorted(self.upstreams))
            raise ConfigError(f"service {name!r} has no URL (give --service NAME=URL; "
                              f"known: {known})")
        return self.upstreams[name]


def exporters() -> dict[str, Callable[[ExportInput], str]]:
    """Each target's renderer by name."""
    from migration.gateway.exports.envoy import render_envoy
    from migration.gateway.exports.httproute import render_httproute
    from migration.gateway.exports.nginx import render_nginx

    return {"nginx": render_nginx, "envoy": render_envoy, "httproute": render_httproute}
