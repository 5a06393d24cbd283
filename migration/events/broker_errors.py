"""An exception from the broker's client, as the one-line error a user can act on."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from migration.runtime.errors import BrokerUnreachable

#: The packages whose exceptions mean the broker could not be reached or refused.
BROKER_CLIENTS = frozenset({"redis", "pika", "dramatiq"})


def is_broker_failure(exc: BaseException) -> bool:
    """Whether ``exc`` comes from the broker's client library (Redis, RabbitMQ, dramatiq)."""
    return type(exc).__module__.split(".")[0] in BROKER_CLIENTS


@contextmanager
def reaching_broker(url: str) -> Iterator[None]:
    """Raise :class:`BrokerUnreachable` naming ``url`` for a broker failure in the block."""
    try:
        yield
    except Exception as exc:
        if not is_broker_failure(exc):
            raise
        reason = str(exc).strip().splitlines()
        raise BrokerUnreachable(
            f"cannot reach the broker at {url}: {reason[0] if reason else type(exc).__name__}"
        ) from None
