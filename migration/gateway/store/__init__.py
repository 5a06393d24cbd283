"""Where the route table lives: a watched JSON file, or Redis shared by every replica."""

from __future__ import annotations

import asyncio
from pathlib import Path

from migration.gateway.routes import RouteTable
from migration.gateway.store.base import AuditEntry, Mutation, RouteStoreError, ToggleStore
from migration.gateway.store.file import FileToggleStore
from migration.runtime.errors import ConfigError

__all__ = ["AuditEntry", "Mutation", "RouteStoreError", "ToggleStore", "FileToggleStore",
           "open_store", "read_once", "REDIS_SCHEMES"]
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def open_store(spec: str) -> ToggleStore:
    """A store from ``--routes``: ``redis://…[?prefix=P]`` or a JSON file path."""
    if spec.startswith(REDIS_SCHEMES):
        from migration.gateway.store.redis import RedisToggleStore

        return RedisToggleStore.from_url(spec)
    return FileToggleStore(Path(spec))


def read_once(spec: str) -> RouteTable:
    """The table stored at ``spec``, read once: opened, loaded, closed.

    Any failure to read it is the user's to fix, and said in one line.
    """

    async def read() -> RouteTable:
        store = open_store(spec)
        try:
            return await store.load()
        except ConfigError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure to read is the user's to fix
            raise ConfigError(f"route store {store.description}: {exc}") from exc
        finally:
            await store.close()

    return asyncio.run(read())
