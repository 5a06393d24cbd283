"""Where the route table lives: a watched JSON file, or Redis shared by every replica."""

from __future__ import annotations

from pathlib import Path

from migration.gateway.store.base import AuditEntry, Mutation, RouteStoreError, ToggleStore
from migration.gateway.store.file import FileToggleStore

__all__ = ["AuditEntry", "Mutation", "RouteStoreError", "ToggleStore", "FileToggleStore",
           "open_store", "REDIS_SCHEMES"]
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def open_store(spec: str) -> ToggleStore:
    """A store from ``--routes``: ``redis://…[?prefix=P]`` or a JSON file path."""
    if spec.startswith(REDIS_SCHEMES):
        from migration.gateway.store.redis import RedisToggleStore

        return RedisToggleStore.from_url(spec)
    return FileToggleStore(Path(spec))
