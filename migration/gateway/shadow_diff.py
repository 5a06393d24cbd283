"""Shadow comparisons: the monolith's answer against the service's, field by field."""

from __future__ import annotations

import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

_MISSING = object()


def differences(monolith: Any, service: Any, ignore: tuple[str, ...], path: str = "") -> list[str]:
    """Dotted paths where two JSON documents differ; ``ignore`` paths may use ``*``."""
    if _ignored(path, ignore):
        return []
    if isinstance(monolith, dict) and isinstance(service, dict):
        found: list[str] = []
        for key in sorted(set(monolith) | set(service), key=str):
            sub = f"{path}.{key}" if path else str(key)
            found += differences(monolith.get(key, _MISSING), service.get(key, _MISSING),
                                 ignore, sub)
        return found
    if isinstance(monolith, list) and isinstance(service, list):
        if len(monolith) != len(service):
            return [f"{path or '$'} (length {len(monolith)} != {len(service)})"]
        found = []
        for index, (left, right) in enumerate(zip(monolith, service, strict=True)):
            found += differences(left, right, ignore, f"{path}.{index}" if path else str(index))
        return found
    return [] if monolith == service else [path or "$"]


def _ignored(path: str, ignore: tuple[str, ...]) -> bool:
    if not path:
        return False
    parts = path.split(".")
    for pattern in ignore:
        wanted = pattern.split(".")
        if len(wanted) == len(parts) and all(w in ("*", p) for w, p in zip(wanted, parts,
                                                                             strict=True)):
            return True
    return False


def compare(monolith_status: int, monolith_body: bytes, service_status: int,
            service_body: bytes, ignore: tuple[str, ...]) -> list[str]:
    """What differs between two answers: the status, then the JSON bodies (or raw bytes)."""
    found = [] if monolith_status == service_status else [
        f"status ({monolith_status} != {service_status})"]
    try:
        left, right = json.loads(monolith_body or b"null"), json.loads(service_body or b"null")
    except ValueError:
        return found + ([] if monolith_body == service_body else ["body (bytes differ)"])
    return found + differences(left, right, ignore)


@dataclass
class ShadowStats:
    """How one shadowed route compares so far."""

    compared: int = 0
    differed: int = 0
    failed: int = 0
    dropped: int = 0
    samples: deque[DiffSample] = field(default_factory=lambda: deque(maxlen=20))

    def as_json(self) -> dict[str, Any]:
        """The stats and the latest samples, newest first."""
        return self.report().model_dump(mode="json")

    def report(self, samples: bool = True) -> ShadowReport:
        """The stats, with the latest samples (newest first) unless ``samples`` is False."""
        rate = self.differed / self.compared if self.compared else 0.0
        kept = list(reversed(self.samples)) if samples else None
        return ShadowReport(compared=self.compared, differed=self.differed, diff_rate=rate,
                            service_failed=self.failed, dropped=self.dropped, samples=kept)


class DiffSample(BaseModel):
    """One compared request that differed, as it is kept and as the admin API shows it."""

    at: float
    method: str
    path: str
    monolith_status: int
    service_status: int | None
    differences: list[str]


class ShadowReport(BaseModel):
    """How a shadowed route compares, as the admin API shows it (samples only in diffs)."""

    compared: int
    differed: int
    diff_rate: float
    service_failed: int
    dropped: int
    samples: list[DiffSample] | None = None


class ShadowRecorder:
    """Diff rates and samples per route prefix."""

    def __init__(self) -> None:
        self.routes: dict[str, ShadowStats] = {}

    def stats(self, prefix: str) -> ShadowStats:
        """The stats of one route, created on first use."""
        stats = self.routes.get(prefix)
        if stats is None:
            stats = self.routes[prefix] = ShadowStats()
        return stats

    def record(self, prefix: str, method: str, path: str, monolith_status: int,
               service_status: int | None, found: list[str]) -> None:
        """Count one comparison; keep it as a sample when it differed."""
        stats = self.stats(prefix)
        stats.compared += 1
        if service_status is None:
            stats.failed += 1
        if found:
            stats.differed += 1
            stats.samples.append(DiffSample(
                at=time.time(), method=method, path=path, monolith_status=monolith_status,
                service_status=service_status, differences=found[:20]))
