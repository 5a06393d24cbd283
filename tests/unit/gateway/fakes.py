"""An in-memory toggle store that behaves like the real ones (atomic changes, audit)."""

from __future__ import annotations

import asyncio

from migration.gateway.routes import RouteTable
from migration.gateway.store.base import AuditEntry, Mutation, OnChange, audit_entry


class MemoryToggleStore:
    """The route table and audit log in memory."""

    description = "memory"

    def __init__(self, table: RouteTable | None = None) -> None:
        self.table = table or RouteTable()
        self.entries: list[AuditEntry] = []

    async def load(self) -> RouteTable:
        return self.table

    async def change(self, prefix: str, mutate: Mutation, reason: str,
                     automatic: bool = False) -> AuditEntry:
        old = self.table.get(prefix)
        new = mutate(old)
        routes = [r for r in self.table.routes if r.prefix != prefix] + ([new] if new else [])
        self.table = RouteTable(routes, self.table.version + 1)
        entry = audit_entry(prefix, old, new, reason, automatic, self.table.version)
        self.entries.insert(0, entry)
        return entry

    async def audit(self, prefix: str | None = None, limit: int = 100) -> list[AuditEntry]:
        return [e for e in self.entries if prefix in (None, e.prefix)][:limit]

    async def watch(self, on_change: OnChange) -> None:
        await asyncio.Event().wait()

    async def close(self) -> None:
        pass
