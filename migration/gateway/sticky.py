"""Sticky canary buckets: each key has one fixed bucket, so raising a percent only adds users."""

from __future__ import annotations

import math
from hashlib import blake2b

from migration.gateway.forwarding import Inbound
from migration.gateway.routes import Route

BUCKETS = 10_000


def bucket(prefix: str, key: str) -> int:
    """The key's bucket in ``[0, 10000)`` for this route; the same every time, everywhere."""
    digest = blake2b(key.encode(), digest_size=8, key=prefix.encode()[:64]).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def goes_to_service(route: Route, key: str) -> bool:
    """Whether this key is inside the canary: its bucket is below ``percent`` of the buckets.

    Monotonic by construction: the bucket never changes, and the threshold only grows as
    the percent is raised, so nobody inside the canary is moved back to the monolith.
    """
    return bucket(route.prefix, key) < canary_buckets(route.percent)


def canary_buckets(percent: float) -> int:
    """How many of the buckets a canary of ``percent`` takes: a part of one counts whole.

    Rounded first so that 0.07 % is 7 buckets, not the 8 that ``0.07 * 100`` (7.000…01)
    would give: the exports write the same share.
    """
    return math.ceil(round(percent * (BUCKETS / 100), 6))


def cookie_value(cookie_header: bytes, name: str) -> str | None:
    """The value of cookie ``name`` in a ``Cookie`` header, if present."""
    for part in cookie_header.decode("latin-1").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def sticky_header(route: Route) -> bytes | None:
    """The request header a canary's sticky key is read from (``None``: the client address)."""
    if route.sticky.kind == "client":
        return None
    return b"cookie" if route.sticky.kind == "cookie" else route.sticky.name.encode()


def sticky_key(route: Route, inbound: Inbound, scope: dict) -> str:
    """The header's or cookie's value, else the client's address."""
    if inbound.sticky_value is not None:
        if route.sticky.kind != "cookie":
            return inbound.sticky_value.decode("latin-1")
        value = cookie_value(inbound.sticky_value, route.sticky.name)
        if value:
            return value
    client = scope.get("client")
    return client[0] if client else ""
