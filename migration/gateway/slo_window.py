"""Canary SLOs: error rate and p99 of the service's answers over a sliding time window."""

from __future__ import annotations

import time
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from migration.gateway.routes import Route, Slo

if TYPE_CHECKING:
    from migration.gateway.current_table import CurrentTable


@dataclass(frozen=True)
class SloVerdict:
    """What the window shows and, when the SLO is breached, why."""

    requests: int
    error_rate: float
    p99_ms: float
    breach: str | None

    def figures(self) -> WindowFigures:
        """What the admin API shows of a live window."""
        return WindowFigures(requests=self.requests, error_rate=self.error_rate,
                             p99_ms=round(self.p99_ms, 3))

    def evidence(self, percent: float) -> CanaryEvidence:
        """What an audit entry keeps of the window a change out of a canary was made on."""
        return CanaryEvidence(percent=percent, requests=self.requests,
                              error_rate=round(self.error_rate, 4),
                              p99_ms=round(self.p99_ms, 3), breach=self.breach)


class WindowFigures(BaseModel):
    """A canary's live window as the admin API shows it: requests, error rate, p99."""

    model_config = ConfigDict(frozen=True)
    requests: int
    error_rate: float
    p99_ms: float


class CanaryEvidence(BaseModel):
    """The canary window a route change was made on: its share, figures and any breach."""

    model_config = ConfigDict(frozen=True)
    percent: float
    requests: int
    error_rate: float
    p99_ms: float
    breach: str | None = None


class SloWindow:
    """The service's recent answers on one canary route, in one-second slots.

    Each slot counts its answers and errors, and its latencies in a histogram whose buckets
    are 2% apart, with the slowest latency seen in each bucket: the window holds at most one
    slot per second (and one per reading) whatever the traffic, and the p99 it reports is a
    latency actually seen, at most one bucket (2%) above the exact one.

    Recording is on every proxied request's path, so it only appends: the second being
    recorded keeps its latencies as they come, and they are sorted into a slot's histogram
    once, when the second is over or the window is read (a sort and a walk over the
    buckets in use, instead of a bucket search and two dict updates per answer).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._slots: deque[_Slot] = deque()
        self._second = -1  # the second being recorded
        self._latencies: list[float] = []  # its answers' latencies, as they came
        self._errors = 0  # its failed answers

    def record(self, error: bool, seconds: float, count: int = 1) -> None:
        """An answer from the service: failed or not, and its latency; ``count`` answers
        alike at once (an access log's identical lines)."""
        second = int(self._clock())
        if second != self._second:
            self._close_second()
            self._second = second
        if count == 1:
            self._latencies.append(seconds)
        else:
            self._latencies += [seconds] * count
        if error:
            self._errors += count

    def verdict(self, slo: Slo) -> SloVerdict:
        """Evaluate the window (dropping the slots wholly older than it)."""
        self._close_second()
        horizon = self._clock() - slo.window_seconds
        slots = self._slots
        while slots and slots[0].second + 1 <= horizon:
            slots.popleft()
        total = sum(slot.total for slot in slots)
        if not total:
            return SloVerdict(0, 0.0, 0.0, None)
        errors = sum(slot.errors for slot in slots)
        counts: dict[int, int] = {}
        slowest: dict[int, float] = {}
        for slot in slots:
            for at, n in slot.counts.items():
                counts[at] = counts.get(at, 0) + n
                slowest[at] = max(slowest.get(at, 0.0), slot.slowest[at])
        rank = min(total - 1, int(total * 0.99))  # the p99's place in the sorted latencies
        seen = 0
        for at in sorted(counts):
            seen += counts[at]
            if seen > rank:
                break
        p99_ms = slowest[at] * 1000
        rate = errors / total
        breach = None
        if total >= slo.min_requests:
            if rate > slo.max_error_rate:
                breach = (f"error rate {rate:.1%} > {slo.max_error_rate:.1%} "
                          f"over {total} requests in {slo.window_seconds:g}s")
            elif p99_ms > slo.max_p99_ms:
                breach = (f"p99 {p99_ms:.0f} ms > {slo.max_p99_ms:g} ms "
                          f"over {total} requests in {slo.window_seconds:g}s")
        return SloVerdict(total, rate, p99_ms, breach)

    def _close_second(self) -> None:
        """Sort the second being recorded into a slot of its own, if it has answers."""
        latencies = self._latencies
        if latencies:
            self._slots.append(_Slot.of(self._second, latencies, self._errors))
            self._latencies = []
            self._errors = 0


# Latency buckets 2% apart, from 0.1 ms to past an hour (the rest in one more).
_BOUNDS = tuple(0.0001 * 1.02 ** n for n in range(900))


class _Slot:
    """One second of a window: answers, errors, and the latency histogram."""

    __slots__ = ("second", "total", "errors", "counts", "slowest")

    def __init__(self, second: int) -> None:
        self.second = second
        self.total = 0
        self.errors = 0
        self.counts: dict[int, int] = {}  # by bucket
        self.slowest: dict[int, float] = {}  # the slowest latency in each bucket

    @classmethod
    def of(cls, second: int, latencies: list[float], errors: int) -> _Slot:
        """One second's answers, their latencies sorted into the histogram (in place)."""
        slot = cls(second)
        slot.total = count = len(latencies)
        slot.errors = errors
        latencies.sort()
        last = len(_BOUNDS)
        start = 0
        while start < count:
            # The bucket of the fastest latency left: it and every latency up to its bound.
            at = bisect_left(_BOUNDS, latencies[start])
            end = count if at == last else bisect_right(latencies, _BOUNDS[at], start)
            slot.counts[at] = end - start
            slot.slowest[at] = latencies[end - 1]
            start = end
        return slot


class SloTracker:
    """One window per canary route, reset whenever the route itself changes."""

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 current: CurrentTable | None = None) -> None:
        self._clock = clock
        self._current = current  # the table routed by now, when known
        self._windows: dict[str, tuple[Route, SloWindow]] = {}

    def window(self, route: Route) -> SloWindow:
        """The window of this exact route configuration."""
        held = self._windows.get(route.prefix)
        if held is None or held[0] != route:
            if self._current is not None and self._current.table.match(route.prefix) != route:
                # A request that started under a table replaced since: the current route's
                # window (which the direct path keeps) is not replaced by one for the old.
                return SloWindow(self._clock)
            held = self._windows[route.prefix] = (route, SloWindow(self._clock))
        return held[1]

    def breaches(self, routes: list[Route]) -> list[tuple[Route, SloVerdict]]:
        """The canary routes whose SLO is breached now."""
        found = []
        for route in routes:
            held = self._windows.get(route.prefix)
            if held is None or held[0] != route:
                continue
            verdict = held[1].verdict(route.slo)
            if verdict.breach:
                found.append((route, verdict))
        return found

    def verdict(self, route: Route) -> SloVerdict | None:
        """The current verdict of a route being watched, if it is."""
        held = self._windows.get(route.prefix)
        return held[1].verdict(route.slo) if held and held[0] == route else None
