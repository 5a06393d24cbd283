"""A circuit breaker per upstream: failure and slow-call rates over the last calls."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class BreakerState(StrEnum):
    """Closed lets calls through, open refuses them, half-open lets a few probes through."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class BreakerPolicy:
    """When the breaker opens and how it probes its way back."""

    window: int = 20
    min_calls: int = 10
    failure_rate: float = 0.5
    slow_call_seconds: float = 2.0
    slow_call_rate: float = 0.8
    open_seconds: float = 5.0
    half_open_probes: int = 3


class CircuitBreaker:
    """Count-based sliding window over the last ``window`` calls (as resilience4j does).

    ``allow()`` is asked before a call, ``record()`` told after it. In half-open state only
    ``half_open_probes`` calls go through; all of them succeeding closes the breaker, any
    failure opens it again.
    """

    def __init__(self, policy: BreakerPolicy | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy or BreakerPolicy()
        self._clock = clock
        self._calls: deque[tuple[bool, bool]] = deque(maxlen=self.policy.window)
        self._state = BreakerState.CLOSED
        self._opened_at = 0.0
        self._probes_sent = 0
        self._probes_ok = 0
        self.opened_count = 0

    @property
    def state(self) -> BreakerState:
        """The state now; an open breaker turns half-open once its wait is over."""
        if self._state is BreakerState.OPEN and (
            self._clock() - self._opened_at >= self.policy.open_seconds
        ):
            self._state = BreakerState.HALF_OPEN
            self._probes_sent = self._probes_ok = 0
        return self._state

    def allow(self) -> bool:
        """Whether a call may go to the upstream now."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and self._probes_sent < self.policy.half_open_probes:
            self._probes_sent += 1
            return True
        return False

    def record(self, ok: bool, seconds: float) -> None:
        """Count a finished call: whether it succeeded and how long it took."""
        if self._state is BreakerState.HALF_OPEN:
            self._record_probe(ok)
            return
        if self._state is BreakerState.OPEN:
            return
        self._calls.append((ok, seconds >= self.policy.slow_call_seconds))
        if len(self._calls) >= self.policy.min_calls and self._over_threshold():
            self._open()

    def _record_probe(self, ok: bool) -> None:
        if not ok:
            self._open()
            return
        self._probes_ok += 1
        if self._probes_ok >= self.policy.half_open_probes:
            self._state = BreakerState.CLOSED
            self._calls.clear()

    def _over_threshold(self) -> bool:
        total = len(self._calls)
        failures = sum(1 for ok, _ in self._calls if not ok)
        slow = sum(1 for _, is_slow in self._calls if is_slow)
        return (failures / total >= self.policy.failure_rate
                or slow / total >= self.policy.slow_call_rate)

    def _open(self) -> None:
        self._state = BreakerState.OPEN
        self._opened_at = self._clock()
        self._calls.clear()
        self.opened_count += 1
