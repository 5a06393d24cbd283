"""Fakes that really behave: in-memory contracts, recording adapters, the gateway's stores.

The contracts' own fakes are in tests/contract/fakes.py, which carve extract copies next
to an extracted service's tests (so it imports only the contracts); they are re-exported
here with the others.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from contracts.inventory import Availability
from migration.gateway.routes import RouteTable
from migration.gateway.slo_window import CanaryEvidence
from migration.gateway.store.base import AuditEntry, Mutation, OnChange, audit_entry
from migration.gateway.upstream import UpstreamPool
from tests.contract.fakes import FakeInventory as ContractFakeInventory
from tests.contract.fakes import FakeUsers

__all__ = ["FakeInventory", "FakeUsers", "RecordingSender", "RecordingTraces"]


class FakeInventory(ContractFakeInventory):
    """The contract tests' inventory, stocked up front, recording each availability check."""

    def __init__(self, **stock: int) -> None:
        super().__init__()
        self.on_hand.update(stock)
        self.checks: list[tuple[str, int]] = []

    def check_availability(self, sku: str, quantity: int = 1) -> Availability:
        self.checks.append((sku, quantity))
        return super().check_availability(sku, quantity)


@dataclass
class RecordingSender:
    """A sender that keeps what it sent, and can fail its first ``failures`` sends."""

    failures: int = 0
    sent: list[tuple[str, str]] = field(default_factory=list)
    attempts: int = 0

    def send(self, recipient: str, subject: str, body: str) -> None:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise ConnectionError(f"mail server down (attempt {self.attempts})")
        self.sent.append((recipient, subject))


class RecordingTraces:
    """ASGI middleware that keeps the traceparent of every request it sees."""

    def __init__(self, app: Any) -> None:
        self.app, self.seen = app, []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.seen.append(dict(scope["headers"]).get(b"traceparent", b"").decode())
        await self.app(scope, receive, send)


# The gateway's fakes: an in-memory toggle store that behaves like the real ones.
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
