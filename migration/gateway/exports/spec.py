"""What every exporter takes: the table and its upstreams, and how a canary share is written."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from migration.gateway.routes import RouteTable
from migration.gateway.sticky import BUCKETS, canary_buckets
from migration.runtime.errors import ConfigError

# A canary's share in hundredths of a percent: the carve gateway's 10,000 sticky buckets,
# and the finest split NGINX's split_clients takes (two decimals).
SHARES = BUCKETS


@dataclass(frozen=True)
class Upstream:
    """An upstream's address as the exported configuration names it."""

    name: str
    host: str
    port: int

    @classmethod
    def from_url(cls, name: str, url: str) -> Upstream:
        """From ``http://host:port``.

        The carve gateway puts a URL's base path in front of every request path; the
        exports cannot do the same for every engine and route (a service group's monolith
        backup, a canary's two sides), so a base path is refused rather than dropped.
        """
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ConfigError(f"upstream {name}: {url!r} is not an http:// URL")
        if parts.path.strip("/") or parts.query or parts.fragment:
            raise ConfigError(f"upstream {name}: {url!r} has a base path or query, which the "
                              "exports and --engine nginx cannot carry (they forward the "
                              "request's path as it is); give http://host:port")
        try:
            port = parts.port or 80
        except ValueError as exc:
            raise ConfigError(f"upstream {name}: {url!r} has an invalid port") from exc
        return cls(name, parts.hostname, port)

    @property
    def authority(self) -> str:
        """``host:port``, an IPv6 address in brackets as URLs and NGINX write it."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def share(percent: float) -> int:
    """A canary percent in hundredths of a percent, as the carve gateway splits it.

    The gateway's own count of buckets (of 10,000): a percent between two hundredths
    counts as the higher one (33.333 → 3334) and any percent above zero keeps at least one.
    """
    return canary_buckets(percent)


def distinct(names: Iterable[str], spell: Callable[[str, int], str]) -> dict[str, str]:
    """Each name as a target must write it, no two alike.

    ``spell(name, 1)`` is a name's plain spelling, ``spell(name, n)`` its n-th alternative.
    A name its plain spelling leaves as it is keeps it, so adding a service never renames
    another valid one; the others take, in sorted order, their first spelling still free.
    """
    ordered = sorted(set(names))
    spelled = {name: name for name in ordered if spell(name, 1) == name}
    taken = set(spelled.values())
    for name in ordered:
        if name in spelled:
            continue
        attempt = 1
        while spell(name, attempt) in taken:
            attempt += 1
        spelled[name] = spell(name, attempt)
        taken.add(spelled[name])
    return spelled


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

    def has_root_route(self) -> bool:
        """Whether a route covers ``/``: it is then the catch-all, not the monolith default."""
        return self.table.get("/") is not None
