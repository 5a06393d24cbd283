"""Swapping order.created between in-process and the queue in the middle of a stream of orders.

Orders keep coming while `carve events swap` flips the transport to the queue
and later back; rows already in the outbox under the old transport are
delivered under the new one, and nothing is lost or applied twice.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import redis

from migration.events.processes import broker_for, build_relay
from migration.runtime.broker import close_broker
from migration.runtime.delivery import RetryLoop
from migration.runtime.settings import Settings
from monolith.bootstrap import bootstrap
from tests.support.events import (
    carve_background,
    effects,
    place_order,
    queue_env,
    seed_shop,
    wait_for,
    write_plan,
)
from tests.support.processes import ROOT
from tests.support.services import REDIS_URL

ORDERS = 300


def _swap(to: str, env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "migration.cli", "events", "swap", "order.created", "--to", to],
        cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr


def test_swapping_in_the_middle_of_a_stream_loses_and_duplicates_nothing(
    tmp_path: Path, postgres_url: str, redis_prefix: tuple[redis.Redis, str]
) -> None:
    plan = write_plan(tmp_path, postgres_url, "inprocess")
    env = queue_env(plan, postgres_url, REDIS_URL, redis_prefix[1])
    settings = Settings.from_env(plan, env)
    settings.project.upgrade()
    monolith = bootstrap(settings)  # the running monolith, with its retry loop
    retry = RetryLoop(monolith.delivery, interval=0.2)
    user_id = seed_shop(monolith)
    broker, _ = broker_for(settings.project)
    relay = build_relay(settings.project, broker, batch_size=20)
    stop = threading.Event()
    relaying = threading.Thread(target=relay.run, args=(stop,))
    swaps: list[threading.Thread] = []

    with carve_background(["run", "worker", "--threads", "4"], env, tmp_path / "worker.log"):
        retry.start(), relaying.start()
        try:
            for number in range(ORDERS):
                place_order(monolith, user_id)
                if number in (ORDERS // 3, 2 * ORDERS // 3):
                    to = "queue" if number == ORDERS // 3 else "inprocess"
                    # The swap runs while orders keep coming.
                    swaps.append(threading.Thread(target=_swap, args=(to, env)))
                    swaps[-1].start()
            for swap in swaps:
                swap.join(timeout=60)
            settled = wait_for(lambda: _settled(postgres_url), timeout=60)
        finally:
            stop.set()
            relaying.join(timeout=10)
            retry.stop()
            close_broker(broker)
            monolith.close()

    counts = effects(postgres_url)
    assert settled, counts
    assert counts == {"orders": ORDERS, "notified": ORDERS, "notifications": ORDERS,
                      "reserved": ORDERS, "reservations": ORDERS, "pending": 0, "dead": 0}
    assert 0 < relay.stats.rows < ORDERS  # both transports carried part of the stream


def _settled(url: str) -> bool:
    counts = effects(url)
    return counts["notified"] == counts["reserved"] == ORDERS and counts["pending"] == 0
