"""What every toggle store offers: the table, atomic changes, the audit log, a watch."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from pydantic import BaseModel, Field

from migration.gateway.routes import Route, RouteTable
from migration.gateway.slo_window import CanaryEvidence
from migration.runtime.errors import ConfigError

Mutation = Callable[[Route | None], Route | None]
OnChange = Callable[[RouteTable], Awaitable[None] | None]


class AuditEntry(BaseModel):
    """One change of one route: when, before, after, why, and whether the gateway did it."""

    at: float = Field(default_factory=time.time)
    prefix: str
    old: Route | None
    new: Route | None
    reason: str
    automatic: bool = False
    version: int = 0
    # What the route's live window showed when the change was made (a canary's requests,
    # error rate and p99): the evidence a promotion or a rollback was made on.
    evidence: CanaryEvidence | None = None


class RouteStoreError(ConfigError):
    """The route store cannot be read or written, or holds something that is not a route."""


class ToggleStore(Protocol):
    """A route table that can be changed atomically and watched for changes."""

    description: str
    problem: str | None  # why the latest change could not be taken, until one is

    async def load(self) -> RouteTable:
        """The table as stored now."""

    async def change(self, prefix: str, mutate: Mutation, reason: str,
                     automatic: bool = False,
                     evidence: CanaryEvidence | None = None) -> AuditEntry:
        """Apply ``mutate`` to one route (None: absent/removed) atomically; audit it."""

    async def audit(self, prefix: str | None = None, limit: int = 100) -> list[AuditEntry]:
        """The latest changes, newest first."""

    async def watch(self, on_change: OnChange) -> None:
        """Call ``on_change`` with each new table; runs until cancelled."""

    async def close(self) -> None:
        """Release connections."""


def audit_entry(prefix: str, old: Route | None, new: Route | None, reason: str,
                automatic: bool, version: int,
                evidence: CanaryEvidence | None = None) -> AuditEntry:
    """An audit entry for a change from ``old`` to ``new``."""
    return AuditEntry(prefix=prefix, old=old, new=new, reason=reason, automatic=automatic,
                      version=version, evidence=evidence)
