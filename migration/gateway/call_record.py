"""One call to a service, recorded on its circuit breaker and, for a canary, its SLO window."""

from __future__ import annotations

from collections.abc import Callable

from migration.gateway.slo_window import SloWindow
from migration.gateway.upstream import UpstreamPool


class CallRecord:
    """Started when a service is called; ``finish`` records how the call went, once."""

    __slots__ = ("_pool", "_window", "_clock", "_since", "_generation")

    def __init__(self, pool: UpstreamPool, window: SloWindow | None,
                 clock: Callable[[], float]) -> None:
        self._pool = pool
        self._window = window
        self._clock = clock
        self._since = clock()
        # A call from before the breaker last opened is not counted (its ``generation``).
        self._generation = pool.breaker.opened_count

    def finish(self, failed: bool) -> None:
        """The service answered (``failed``: a 5xx, or no answer): both records take it."""
        record_call(self._pool, self._window, failed, self._clock() - self._since,
                    self._generation)

    def cut_short(self, failed: bool = True) -> float:
        """The breaker alone takes it: a call cut short (client gone, cancelled) says nothing
        of the service's SLO, but a half-open probe must never stay unfinished."""
        elapsed = self._clock() - self._since
        self._pool.breaker.record(failed=failed, seconds=elapsed, generation=self._generation)
        return elapsed


def record_call(pool: UpstreamPool, window: SloWindow | None, failed: bool, seconds: float,
                generation: int) -> None:
    """A finished call to ``pool``'s service, on its breaker and its canary's window (if
    any); ``generation``, the breaker's as the call started (see ``CircuitBreaker.record``)."""
    pool.breaker.record(failed=failed, seconds=seconds, generation=generation)
    if window is not None:
        window.record(failed, seconds)
