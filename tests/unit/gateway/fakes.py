"""An in-memory toggle store that behaves like the real ones (atomic changes, audit)."""

from __future__ import annotations

import asyncio

from migration.gateway.routes import RouteTable
from migration.gateway.slo_window import CanaryEvidence
from migration.gateway.store.base import AuditEntry, Mutation, OnChange, audit_entry
from migration.gateway.upstream import UpstreamPool


class MemoryToggleStore:
    """The route table and audit log in memory."""

    description = "memory"
    problem: str | None = None

    def __init__(self, table: RouteTable | None = None) -> None:
        self.table = table or RouteTable()
        self.entries: list[AuditEntry] = []

    async def load(self) -> RouteTable:
        return self.table

    async def change(self, prefix: str, mutate: Mutation, reason: str,
                     automatic: bool = False,
                     evidence: CanaryEvidence | None = None) -> AuditEntry:
        old = self.table.get(prefix)
        new = mutate(old)
        routes = [r for r in self.table.routes if r.prefix != prefix] + ([new] if new else [])
        self.table = RouteTable(routes, self.table.version + 1)
        entry = audit_entry(prefix, old, new, reason, automatic, self.table.version, evidence)
        self.entries.insert(0, entry)
        return entry

    async def audit(self, prefix: str | None = None, limit: int = 100) -> list[AuditEntry]:
        return [e for e in self.entries if prefix in (None, e.prefix)][:limit]

    async def watch(self, on_change: OnChange) -> None:
        await asyncio.Event().wait()

    async def close(self) -> None:
        pass


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class SilentConnection:
    """An upstream connection that takes whatever is written and never answers."""

    reused = False
    status = 0
    head_only = False

    def write_now(self, data: bytes) -> None:
        pass

    async def drained(self) -> None:
        pass

    async def write(self, data: bytes) -> None:
        pass

    async def read_head(self) -> None:
        await asyncio.Event().wait()

    def close(self) -> None:
        pass


class SilentPool(UpstreamPool):
    """A pool whose connections never answer (the request is cut short before they would)."""

    def take_idle(self) -> SilentConnection:  # type: ignore[override]
        return SilentConnection()
