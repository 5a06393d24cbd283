"""A consumer idle on an empty queue is woken by the relay's batch, not by its next poll.

The consumer is made to wait its longest (minutes): a message that arrives anyway came
through the wake-up.
"""

from __future__ import annotations

import threading

import redis

from migration.runtime.broker import BrokerSettings, close_broker, create_broker, enqueue_many
from migration.runtime.queue_messages import queue_message
from tests.support.services import REDIS_URL

QUEUE = "bench.when_ticked_record"
MINUTES_MS = 600_000


def test_an_idle_consumer_is_woken_by_a_relayed_batch(
    redis_prefix: tuple[redis.Redis, str],
) -> None:
    _client, namespace = redis_prefix
    broker = create_broker(BrokerSettings(url=REDIS_URL, namespace=namespace))
    broker.declare_queue(QUEUE)
    consumer = broker.consume(QUEUE, prefetch=4, timeout=MINUTES_MS)
    consumer.misses = 30  # so many empty fetches that its next wait is minutes long
    woken: list[object] = []
    waiting = threading.Thread(target=lambda: woken.append(next(consumer)), daemon=True)
    blpop, in_wait = broker.client.blpop, threading.Event()

    def waits(*args: object, **kwargs: object) -> object:
        in_wait.set()  # the fetch found nothing: the message is sent after it
        return blpop(*args, **kwargs)

    broker.client.blpop = waits
    try:
        waiting.start()
        assert in_wait.wait(30)
        message = queue_message(QUEUE, "m-1", "bench.ticked", {"seq": 1})
        enqueue_many(broker, [message])
        waiting.join(timeout=30)
        assert not waiting.is_alive() and woken == [None]  # woken, then it fetches
        fetched = next(consumer)
        assert fetched is not None and fetched.message_id == "m-1"
        consumer.ack(fetched)
    finally:
        close_broker(broker)


def test_the_wake_up_list_holds_one_token_however_many_batches(
    redis_prefix: tuple[redis.Redis, str],
) -> None:
    client, namespace = redis_prefix
    broker = create_broker(BrokerSettings(url=REDIS_URL, namespace=namespace))
    try:
        for number in range(5):
            enqueue_many(broker, [queue_message(QUEUE, f"m-{number}", "bench.ticked", {})])
        assert client.llen(f"{namespace}:{QUEUE}.wake") == 1
        assert client.llen(f"{namespace}:{QUEUE}") == 5
    finally:
        close_broker(broker)
