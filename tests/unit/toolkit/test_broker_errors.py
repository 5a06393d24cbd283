"""Broker failures, whichever client raised them, become one BrokerUnreachable line."""

from __future__ import annotations

import dramatiq.errors
import pika.exceptions
import pytest
import redis

from migration.events.broker_errors import is_broker_failure, reaching_broker
from migration.runtime.errors import BrokerUnreachable


@pytest.mark.parametrize("failure", [
    redis.ConnectionError("Error 111 connecting to 127.0.0.1:1.\nConnection refused."),
    pika.exceptions.AMQPConnectionError("refused"),
    dramatiq.errors.ConnectionClosed(OSError("closed")),
])
def test_a_broker_clients_failure_names_the_broker_in_one_line(failure: Exception) -> None:
    assert is_broker_failure(failure)
    with pytest.raises(BrokerUnreachable) as raised, reaching_broker("redis://127.0.0.1:1/0"):
        raise failure
    assert str(raised.value).startswith("cannot reach the broker at redis://127.0.0.1:1/0: ")
    assert "\n" not in str(raised.value)


def test_other_failures_pass_through_unchanged() -> None:
    assert not is_broker_failure(ValueError("redis"))
    with pytest.raises(ValueError, match="not the broker"), reaching_broker("redis://x"):
        raise ValueError("not the broker")
