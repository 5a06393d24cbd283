"""Fakes that really behave: in-memory contracts and recording adapters.

The contracts' own fakes are in tests/contract/fakes.py, which carve extract copies next
to an extracted service's tests (so it imports only the contracts); they are re-exported
here with the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from contracts.inventory import Availability
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
