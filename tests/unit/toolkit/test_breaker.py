"""The circuit breaker opens on failures or slowness, probes, and closes again."""

from __future__ import annotations

import pytest

from migration.runtime.breaker import BreakerOpen, BreakerPolicy, BreakerState, CircuitBreaker


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def breaker(clock: Clock, **policy: float) -> CircuitBreaker:
    defaults = {"window": 10, "minimum_calls": 4, "failure_rate": 0.5, "open_seconds": 5,
                "half_open_probes": 2, "slow_call_seconds": 1.0, "slow_call_rate": 0.75}
    return CircuitBreaker("svc", BreakerPolicy(**{**defaults, **policy}), clock=clock)


def call(b: CircuitBreaker, *, failed: bool = False, seconds: float = 0.01) -> None:
    b.acquire()
    b.record(failed=failed, seconds=seconds)


def test_it_stays_closed_until_the_minimum_number_of_calls() -> None:
    b = breaker(Clock())
    for _ in range(3):
        call(b, failed=True)
    assert b.state is BreakerState.CLOSED
    call(b, failed=True)
    assert b.state is BreakerState.OPEN


def test_it_opens_at_the_failure_rate_over_the_window() -> None:
    b = breaker(Clock())
    for failed in (False, False, False, True, False, True):
        call(b, failed=failed)
    assert b.state is BreakerState.CLOSED  # 2 of 6 failed
    call(b, failed=True)
    call(b, failed=True)  # 4 of 8
    assert b.state is BreakerState.OPEN


def test_slow_calls_open_it_too() -> None:
    b = breaker(Clock())
    for _ in range(4):
        call(b, seconds=1.5)
    assert b.state is BreakerState.OPEN


def test_open_refuses_at_once_then_lets_probes_through() -> None:
    clock = Clock()
    b = breaker(clock)
    for _ in range(4):
        call(b, failed=True)
    with pytest.raises(BreakerOpen) as refused:
        b.acquire()
    assert refused.value.retry_after == pytest.approx(5)
    clock.now = 5
    assert b.state is BreakerState.HALF_OPEN
    b.acquire()
    b.acquire()
    with pytest.raises(BreakerOpen):
        b.acquire()  # only two probes at a time


def test_successful_probes_close_it() -> None:
    clock = Clock()
    b = breaker(clock)
    for _ in range(4):
        call(b, failed=True)
    clock.now = 5
    call(b)
    call(b)
    assert b.state is BreakerState.CLOSED
    call(b, failed=True)
    assert b.state is BreakerState.CLOSED  # the window started afresh


def test_a_failed_probe_opens_it_again() -> None:
    clock = Clock()
    b = breaker(clock)
    for _ in range(4):
        call(b, failed=True)
    clock.now = 5
    call(b, failed=True)
    assert b.state is BreakerState.OPEN
    clock.now = 9
    assert b.state is BreakerState.OPEN
    clock.now = 10
    assert b.state is BreakerState.HALF_OPEN


def test_allow_answers_instead_of_raising_and_openings_are_counted() -> None:
    clock = Clock()
    b = breaker(clock)
    for _ in range(4):
        call(b, failed=True)
    assert not b.allow()
    clock.now = 5.0
    assert b.allow() and b.allow()
    assert not b.allow()  # only two probes in half-open
    b.record(failed=True, seconds=0.01)
    assert b.state is BreakerState.OPEN
    assert b.opened_count == 2


def test_calls_that_finish_after_it_opened_do_not_extend_the_wait() -> None:
    clock = Clock()
    b = breaker(clock)
    for _ in range(4):
        b.acquire()
    for _ in range(4):
        b.record(failed=True, seconds=0.01)
    assert b.state is BreakerState.OPEN
    clock.now = 4.0
    for _ in range(4):  # stragglers of the same burst
        b.record(failed=True, seconds=0.01)
    clock.now = 5.0
    assert b.state is BreakerState.HALF_OPEN


def test_failures_that_slid_out_of_the_window_no_longer_count() -> None:
    b = breaker(Clock())  # window 10, opens at 50%
    for failed in (False,) * 4 + (True, False, False, True, False, True):
        call(b, failed=failed)  # 3 of 10
    for _ in range(10):
        call(b)  # the three failures slide out
    for _ in range(4):
        call(b, failed=True)  # 4 of the last 10: still under 50%
    assert b.state is BreakerState.CLOSED
    call(b, failed=True)  # 5 of the last 10
    assert b.state is BreakerState.OPEN


def test_a_call_from_before_it_opened_is_no_probe() -> None:
    clock = Clock()
    b = breaker(clock)
    b.acquire()
    slow_call = b.generation  # started while closed, answers long after
    for _ in range(4):
        call(b, failed=True)
    assert b.state is BreakerState.OPEN
    clock.now += 5
    assert b.state is BreakerState.HALF_OPEN
    b.record(failed=False, seconds=6.0, generation=slow_call)
    b.record(failed=True, seconds=6.0, generation=slow_call)
    assert b.state is BreakerState.HALF_OPEN  # neither passed nor failed a probe
    b.acquire()
    probe = b.generation
    b.record(failed=False, seconds=0.01, generation=probe)
    assert b.state is BreakerState.HALF_OPEN  # one of two probes
    call(b)
    assert b.state is BreakerState.CLOSED
