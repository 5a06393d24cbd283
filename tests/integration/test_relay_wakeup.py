"""The relay wakes on commit (PostgreSQL LISTEN/NOTIFY) and still polls when it is not woken.

Each test gives the relay a poll interval, or a reconnect delay, far longer than the test
waits: an event that arrives anyway came by the path under test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis
from sqlalchemy import create_engine, text

from migration.events.processes import broker_for, build_relay
from migration.runtime.broker import close_broker
from migration.runtime.relay import Relay
from migration.runtime.settings import Settings
from monolith.bootstrap import bootstrap
from tests.support.events import place_order, queue_env, seed_shop, wait_for, write_plan
from tests.support.processes import ROOT
from tests.support.services import REDIS_URL

QUEUE = "inventory.when_order_created_reserve_stock"
NEVER = 600.0  # seconds: longer than any wait below

PLACE_ORDER = """
import sys
from migration.runtime.settings import Settings
from monolith.bootstrap import bootstrap
from tests.support.events import place_order
place_order(bootstrap(Settings.from_env(sys.argv[1])), sys.argv[2])
"""


@contextmanager
def running(relay: Relay, interval: float, listens: bool = True) -> Iterator[Relay]:
    """The relay in a thread (once it listens on every outbox, when ``listens``)."""
    stop = threading.Event()
    runner = threading.Thread(target=relay.run, args=(stop,), kwargs={"interval": interval})
    runner.start()
    try:
        if listens:
            assert wait_for(
                lambda: relay.wakeup is not None and relay.wakeup.all_listening(), 20)
        yield relay
    finally:
        stop.set()
        runner.join(timeout=10)
        close_broker(relay.broker)


@dataclass
class _Shop:
    """A migrated shop with every event on the queue, a user, and a relay not yet running."""

    env: dict
    shop: object
    user_id: str
    relay: Relay


def _shop(tmp_path: Path, database_url: str, namespace: str) -> _Shop:
    plan = write_plan(tmp_path, database_url, "queue")
    env = queue_env(plan, database_url, REDIS_URL, namespace)
    settings = Settings.from_env(plan, env)
    settings.project.upgrade()
    shop = bootstrap(settings)
    relay = build_relay(settings.project, broker_for(settings.project)[0])
    return _Shop(env, shop, seed_shop(shop), relay)


def _queued(client: redis.Redis, namespace: str, count: int) -> bool:
    return client.llen(f"{namespace}:{QUEUE}") >= count


def _drop_listeners(postgres_url: str) -> int:
    engine = create_engine(postgres_url)
    try:
        with engine.begin() as connection:
            return len(connection.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'carve-relay-listen' AND datname = current_database()"
            )).all())
    finally:
        engine.dispose()


def test_an_order_committed_by_another_process_wakes_the_relay(
    tmp_path: Path, postgres_url: str, redis_prefix: tuple[redis.Redis, str]
) -> None:
    client, namespace = redis_prefix
    shop = _shop(tmp_path, postgres_url, namespace)
    with running(shop.relay, interval=NEVER):
        for count in (1, 2):  # the second commits while the relay surely waits its long poll
            subprocess.run([sys.executable, "-c", PLACE_ORDER, str(shop.env["CARVE_CONFIG"]),
                            shop.user_id], cwd=ROOT, env={**_base_env(), **shop.env},
                           check=True, timeout=60)
            assert wait_for(lambda n=count: _queued(client, namespace, n), 30)
    assert shop.relay.stats.rows == 2


def test_a_relay_whose_listen_connection_drops_still_delivers_by_polling(
    tmp_path: Path, postgres_url: str, redis_prefix: tuple[redis.Redis, str]
) -> None:
    client, namespace = redis_prefix
    shop = _shop(tmp_path, postgres_url, namespace)
    relay = shop.relay
    relay.listen_retry = NEVER  # the listeners stay down: only polling can deliver
    with running(relay, interval=0.05):
        assert _drop_listeners(postgres_url) >= 1
        assert wait_for(lambda: not relay.wakeup.listening, 20)  # type: ignore[union-attr]
        place_order(shop.shop, shop.user_id)
        assert wait_for(lambda: _queued(client, namespace, 1), 30)
        assert not relay.wakeup.listening  # type: ignore[union-attr]


def test_a_dropped_listen_connection_is_opened_again(
    tmp_path: Path, postgres_url: str, redis_prefix: tuple[redis.Redis, str]
) -> None:
    client, namespace = redis_prefix
    shop = _shop(tmp_path, postgres_url, namespace)
    relay = shop.relay
    relay.listen_retry = 0.2
    with running(relay, interval=NEVER):
        place_order(shop.shop, shop.user_id)
        assert wait_for(lambda: _queued(client, namespace, 1), 30)
        wakeup = relay.wakeup
        assert wakeup is not None
        assert _drop_listeners(postgres_url) == len(relay.outboxes) == wakeup.listens
        assert wait_for(lambda: wakeup.listens == 2 * len(relay.outboxes), 20)
        place_order(shop.shop, shop.user_id)
        assert wait_for(lambda: _queued(client, namespace, 2), 30)


def _base_env() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith("CARVE_")}


def test_on_sqlite_the_relay_polls(
    tmp_path: Path, sqlite_url: str, redis_prefix: tuple[redis.Redis, str]
) -> None:
    client, namespace = redis_prefix
    shop = _shop(tmp_path, sqlite_url, namespace)
    with running(shop.relay, interval=0.05, listens=False) as relay:
        place_order(shop.shop, shop.user_id)
        assert wait_for(lambda: _queued(client, namespace, 1), 30)
        assert relay.wakeup is not None and not relay.wakeup.listening
