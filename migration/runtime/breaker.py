"""A circuit breaker: stop calling a service that fails or slows down, probe it later.

Closed, it records every call's outcome in a sliding window of the last
``window`` calls; once at least ``minimum_calls`` are recorded and the failure
rate or the slow-call rate reaches its threshold, it opens. Open, it refuses
calls at once for ``open_seconds``; then it lets ``half_open_probes`` calls
through: all succeed and it closes, any fails and it opens again. Outcomes of
calls still in flight when it opened are ignored, so they cannot extend the wait.

The client binding (threads) and the gateway (one event loop) share it.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class BreakerState(StrEnum):
    """Where a circuit breaker is."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class BreakerOpen(Exception):
    """A call refused without being made because the breaker is open."""

    def __init__(self, name: str, retry_after: float) -> None:
        super().__init__(f"circuit breaker '{name}' is open; next probe in {retry_after:.1f}s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class BreakerPolicy:
    """The thresholds of a circuit breaker (defaults close to resilience4j's)."""

    window: int = 20
    minimum_calls: int = 5
    failure_rate: float = 0.5
    slow_call_rate: float = 1.0
    slow_call_seconds: float = 2.0
    open_seconds: float = 5.0
    half_open_probes: int = 3


# An outcome in the window is one small int: bit 0 failed, bit 1 slow.
_FAILED, _SLOW = 1, 2
# Read on every call: a module constant is found faster than an Enum's member.
_CLOSED, _HALF_OPEN = BreakerState.CLOSED, BreakerState.HALF_OPEN


class CircuitBreaker:
    """A thread-safe circuit breaker around the calls to one service."""

    def __init__(
        self, name: str, policy: BreakerPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.policy = policy or BreakerPolicy()
        self._clock = clock
        self._lock = threading.Lock()
        self._outcomes: deque[int] = deque(maxlen=self.policy.window)
        # Read on every call.
        self._slow_seconds = self.policy.slow_call_seconds
        self._minimum_calls = self.policy.minimum_calls
        # Running counts over the window, so judging a call costs O(1) on the hot path.
        self._failed = self._slow = 0
        self._state = BreakerState.CLOSED
        self._opened_at = 0.0
        self._probes_started = 0
        self._probes_passed = 0
        self.opened_count = 0

    @property
    def state(self) -> BreakerState:
        """The current state (an open breaker whose wait is over reads half-open)."""
        with self._lock:
            self._leave_open_if_due()
            return self._state

    def acquire(self) -> None:
        """Ask to make a call; raise :class:`BreakerOpen` when it must not be made."""
        with self._lock:
            self._leave_open_if_due()
            if self._state is BreakerState.OPEN:
                waited = self._clock() - self._opened_at
                raise BreakerOpen(self.name, max(self.policy.open_seconds - waited, 0.0))
            if self._state is BreakerState.HALF_OPEN:
                if self._probes_started >= self.policy.half_open_probes:
                    raise BreakerOpen(self.name, 0.0)
                self._probes_started += 1

    @property
    def generation(self) -> int:
        """How many times it has opened: read when a call starts, passed to :meth:`record`."""
        return self.opened_count

    @property
    def closed(self) -> bool:
        """Whether calls go through unjudged, read without the lock and without side effects
        (unlike :meth:`allow`, which takes a half-open probe)."""
        return self._state is _CLOSED

    def allow(self) -> bool:
        """Like :meth:`acquire`, answering instead of raising: may a call be made now?"""
        if self.closed:
            return True  # read without the lock: a closed breaker lets every call through
        try:
            self.acquire()
        except BreakerOpen:
            return False
        return True

    def record(self, *, failed: bool, seconds: float, generation: int | None = None) -> None:
        """Record the outcome of a call that :meth:`acquire` let through.

        ``generation`` is :attr:`generation` as read when the call started: a call that
        started before the breaker last opened is ignored, so a slow call from before cannot
        pass or fail a half-open probe it never was.
        """
        outcome = (_FAILED if failed else 0) | (_SLOW if seconds >= self._slow_seconds else 0)
        with self._lock:
            if generation is not None and generation != self.opened_count:
                return
            if self._state is not _CLOSED:
                if self._state is _HALF_OPEN:
                    self._record_probe(outcome)
                return
            outcomes = self._outcomes
            if len(outcomes) == outcomes.maxlen:
                oldest = outcomes[0]
                self._failed -= oldest & _FAILED
                self._slow -= oldest >> 1
            outcomes.append(outcome)
            # A success can only lower the rates, except when it brings the window to
            # the minimum number of calls: only then, or after a bad call, is it judged.
            if outcome:
                self._failed += outcome & _FAILED
                self._slow += outcome >> 1
            elif len(outcomes) != self._minimum_calls:
                return
            if self._should_open():
                self._open()

    def _record_probe(self, outcome: int) -> None:
        if outcome:
            self._open()
            return
        self._probes_passed += 1
        if self._probes_passed >= self.policy.half_open_probes:
            self._state = BreakerState.CLOSED
            self._forget_all()

    def _forget_all(self) -> None:
        self._outcomes.clear()
        self._failed = self._slow = 0

    def _should_open(self) -> bool:
        calls = len(self._outcomes)
        if calls < self.policy.minimum_calls:
            return False
        failures, slow = self._failed / calls, self._slow / calls
        return failures >= self.policy.failure_rate or slow >= self.policy.slow_call_rate

    def _open(self) -> None:
        self._state = BreakerState.OPEN
        self._opened_at = self._clock()
        self._forget_all()
        self.opened_count += 1

    def _leave_open_if_due(self) -> None:
        due = self._clock() - self._opened_at >= self.policy.open_seconds
        if self._state is BreakerState.OPEN and due:
            self._state = BreakerState.HALF_OPEN
            self._probes_started = self._probes_passed = 0
