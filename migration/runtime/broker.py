"""The queue adapter: dramatiq on Redis (or RabbitMQ), configured from carve.toml and env.

The broker URL comes from ``CARVE_BROKER_URL``, then ``REDIS_URL``, then
``[broker] url``; an ``amqp://`` URL selects RabbitMQ. ``CARVE_BROKER_NAMESPACE``
gives a process its own key prefix on Redis, so tests and tenants stay apart.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import redis
from dramatiq import Broker, Message
from dramatiq.broker import MessageProxy
from dramatiq.brokers.redis import RedisBroker, _RedisConsumer
from dramatiq.common import compute_backoff, current_millis
from dramatiq.errors import ConnectionClosed
from dramatiq.middleware import CurrentMessage, Retries
from dramatiq.middleware import default_middleware as dramatiq_middleware
from redis.exceptions import NoScriptError

from migration.runtime.config import CarveConfig
from migration.runtime.errors import ConfigError
from migration.runtime.held_connections import HoldConnections

# Dramatiq's default (1 in 1,000 commands) takes minutes to give a dead worker's
# unacknowledged messages back; one in a hundred does it within seconds under load.
MAINTENANCE_CHANCE = 10_000
# Middleware carve needs from dramatiq: retries with backoff and access to the
# current message's options (its headers) from inside an actor; and its own
# HoldConnections, so a worker thread keeps its database connection between messages.
# The script reads its unpack-size argument only when fetching.
_UNUSED_UNPACK_SIZE = 1000
_KEEP = {"AgeLimit", "TimeLimit", "ShutdownNotifications", "Callbacks", "Pipelines"}


@dataclass(frozen=True)
class BrokerSettings:
    """Where the broker is and how messages are retried."""

    url: str
    namespace: str = "carve"
    max_retries: int = 5
    min_backoff_ms: int = 500
    max_backoff_ms: int = 60_000
    heartbeat_timeout_ms: int = 60_000
    maintenance_chance: int = MAINTENANCE_CHANCE

    @property
    def kind(self) -> str:
        """``rabbitmq`` for amqp URLs, ``redis`` otherwise."""
        return "rabbitmq" if self.url.startswith(("amqp://", "amqps://")) else "redis"

    @classmethod
    def from_config(cls, config: CarveConfig, environ: Mapping[str, str]) -> BrokerSettings:
        """``[broker]`` of carve.toml, overridden by the environment."""
        broker = config.broker
        url = environ.get("CARVE_BROKER_URL") or environ.get("REDIS_URL") or broker.url
        if not url.startswith(("redis://", "rediss://", "unix://", "amqp://", "amqps://")):
            raise ConfigError(f"broker URL '{url}' must start with redis://, rediss:// or amqp://")
        return cls(
            url=url,
            namespace=environ.get("CARVE_BROKER_NAMESPACE") or broker.namespace,
            max_retries=_int(environ, "CARVE_BROKER_MAX_RETRIES", broker.max_retries),
            min_backoff_ms=_int(environ, "CARVE_BROKER_MIN_BACKOFF_MS", broker.min_backoff_ms),
            max_backoff_ms=_int(environ, "CARVE_BROKER_MAX_BACKOFF_MS", broker.max_backoff_ms),
            heartbeat_timeout_ms=_int(
                environ, "CARVE_BROKER_HEARTBEAT_MS", broker.heartbeat_timeout_ms
            ),
            maintenance_chance=_int(environ, "CARVE_BROKER_MAINTENANCE", MAINTENANCE_CHANCE),
        )

    @property
    def safe_url(self) -> str:
        """The URL without its password, fit for messages."""
        head, sep, tail = self.url.rpartition("@")
        if not sep:
            return self.url
        scheme, _, credentials = head.partition("://")
        return f"{scheme}://{credentials.split(':')[0]}:***@{tail}"


def _int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"environment variable {name}: '{raw}' is not an integer") from None


def create_broker(settings: BrokerSettings) -> Broker:
    """A dramatiq broker for these settings; it connects on first use, not here."""
    middleware = [m() for m in dramatiq_middleware if m.__name__ in _KEEP]
    middleware += [
        Retries(max_retries=settings.max_retries, min_backoff=settings.min_backoff_ms,
                max_backoff=settings.max_backoff_ms),
        CurrentMessage(),
        HoldConnections(),
    ]
    if settings.kind == "rabbitmq":
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        return RabbitmqBroker(url=settings.url, middleware=middleware)
    return CarveRedisBroker(
        url=settings.url, namespace=settings.namespace, middleware=middleware,
        heartbeat_timeout=settings.heartbeat_timeout_ms,
        maintenance_chance=settings.maintenance_chance,
        socket_connect_timeout=2, socket_timeout=10,
    )


class CarveRedisBroker(RedisBroker):
    """dramatiq's Redis broker that gives messages back after a lost connection.

    When a consumer loses its connection, dramatiq drops the messages it had
    prefetched while they stay in this process's acknowledgement set in Redis,
    which only a *dead* worker's set is recovered from: they would wait until
    the process restarts. A consumer restart is the sign of that loss, so the
    broker takes a new worker id then; the old id stops heartbeating, and after
    the heartbeat timeout dramatiq's maintenance puts its messages back on their
    queues. Messages redelivered that way are absorbed by the inbox.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._consumed: set[str] = set()
        self._consumed_lock = threading.Lock()

    @property
    def consumer_class(self) -> Any:
        return WokenRedisConsumer

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000) -> Any:
        with self._consumed_lock:
            if queue_name in self._consumed:
                self.broker_id = str(uuid4())
            self._consumed.add(queue_name)
        return super().consume(queue_name, prefetch, timeout)


def wake_key(broker: RedisBroker, queue_name: str) -> str:
    """The Redis list whose token tells a queue's idle consumers that messages arrived."""
    return f"{broker.namespace}:{queue_name}.wake"


class WokenRedisConsumer(_RedisConsumer):
    """dramatiq's Redis consumer, woken by :func:`enqueue_many` instead of only polling.

    dramatiq's consumer sleeps 5, 10, 20 … ms (up to the worker's timeout) after each
    empty fetch; this one waits the same time on the queue's wake list (``BLPOP``), so
    a batch the relay sends is fetched at once. A message sent another way (a retry, a
    replay) is fetched when the wait ends, as before; one token wakes one consumer.
    """

    def __next__(self) -> MessageProxy | None:
        try:
            while True:
                if self.message_cache:
                    data = self.message_cache.pop(0)
                    if data is None:  # dramatiq's own guard (its issue 266)
                        continue
                    self.misses = 0
                    message = Message.decode(data)
                    self.queued_message_ids.add(message.message_id)
                    return MessageProxy(message)
                room = self.prefetch - self.outstanding_message_count
                if room > 0:
                    self.message_cache = self.broker.do_fetch(self.queue_name, room)
                    if self.message_cache:
                        continue
                self.misses, backoff_ms = compute_backoff(self.misses, max_backoff=self.timeout)
                self._wait(backoff_ms / 1000, room > 0)
                return None
        except redis.ConnectionError as exc:
            raise ConnectionClosed(exc) from None

    def _wait(self, seconds: float, woken: bool) -> None:
        if woken:  # with no room to fetch into, a token would be wasted
            try:
                self.broker.client.blpop([wake_key(self.broker, self.queue_name)],
                                         timeout=seconds)
                return
            except redis.ResponseError:  # a Redis before 6 takes whole seconds only
                pass
        time.sleep(seconds)


def enqueue_many(broker: Broker, messages: Sequence[Message]) -> None:
    """Send messages; on Redis in one pipelined round trip, elsewhere one by one.

    Either every message was handed to the broker when this returns, or it
    raises; a partial send is harmless because consumers deduplicate.
    """
    if not messages:
        return
    if isinstance(broker, RedisBroker):
        _redis_pipeline(broker, messages)
        return
    for message in messages:
        broker.enqueue(message)


def _redis_pipeline(broker: RedisBroker, messages: Sequence[Message]) -> None:
    # The same Lua ``enqueue`` command RedisBroker.enqueue runs, batched in one
    # pipeline: a fresh Redis-side id per send, exactly as dramatiq does. The script
    # is called by its hash: redis-py would otherwise ask whether it is loaded (one more
    # round trip) before every batch; a Redis that lost it gets it again, once.
    dispatch = broker.scripts["dispatch"]
    try:
        _send_batch(broker, dispatch.sha, messages)
    except NoScriptError:
        dispatch.sha = broker.client.script_load(dispatch.script)
        _send_batch(broker, dispatch.sha, messages)  # the failed batch enqueued nothing


def _send_batch(broker: RedisBroker, sha: str, messages: Sequence[Message]) -> None:
    pipe = broker.client.pipeline(transaction=False)
    now = current_millis()
    for message in messages:
        sent = message.copy(options={"redis_message_id": uuid4().hex})
        pipe.evalsha(sha, 1, broker.namespace, "enqueue", now, sent.queue_name,
                     broker.broker_id, broker.heartbeat_timeout, broker.dead_message_ttl, 0,
                     _UNUSED_UNPACK_SIZE, sent.options["redis_message_id"], sent.encode())
    for queue_name in {message.queue_name for message in messages}:
        key = wake_key(broker, queue_name)  # one token at most: a wake-up, not a count
        pipe.rpush(key, 1)
        pipe.ltrim(key, -1, -1)
    pipe.execute()


def queue_depth(broker: Broker, queue_name: str) -> int:
    """Messages waiting or in flight on a consumer's queue (Redis; 0 when unknown)."""
    if isinstance(broker, RedisBroker):
        return int(broker.do_qsize(queue_name))
    return 0


def close_broker(broker: Broker) -> None:
    """Release the broker's connections."""
    broker.close()
    client = getattr(broker, "client", None)
    if client is not None:
        client.close()
