"""The circuit breaker: opens on failures or slow calls, probes its way back."""

from migration.gateway.breaker import BreakerPolicy, BreakerState, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


POLICY = BreakerPolicy(window=10, min_calls=4, failure_rate=0.5, slow_call_seconds=1.0,
                       slow_call_rate=0.75, open_seconds=5, half_open_probes=2)


def test_it_stays_closed_below_the_minimum_number_of_calls():
    breaker = CircuitBreaker(POLICY, Clock())
    for _ in range(3):
        breaker.record(False, 0.01)
    assert breaker.state is BreakerState.CLOSED


def test_it_opens_at_the_failure_rate_and_refuses_calls():
    breaker = CircuitBreaker(POLICY, Clock())
    for ok in (True, False, True, False):
        breaker.record(ok, 0.01)
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow()


def test_it_opens_when_too_many_calls_are_slow():
    breaker = CircuitBreaker(POLICY, Clock())
    for seconds in (2.0, 2.0, 2.0, 0.1):
        breaker.record(True, seconds)
    assert breaker.state is BreakerState.OPEN


def test_half_open_lets_probes_through_and_closes_when_they_succeed():
    clock = Clock()
    breaker = CircuitBreaker(POLICY, clock)
    for _ in range(4):
        breaker.record(False, 0.01)
    clock.now = 5.0
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow() and breaker.allow()
    assert not breaker.allow()
    breaker.record(True, 0.01)
    breaker.record(True, 0.01)
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow()


def test_a_failed_probe_opens_it_again():
    clock = Clock()
    breaker = CircuitBreaker(POLICY, clock)
    for _ in range(4):
        breaker.record(False, 0.01)
    clock.now = 5.0
    assert breaker.allow()
    breaker.record(False, 0.01)
    assert breaker.state is BreakerState.OPEN
    assert breaker.opened_count == 2
