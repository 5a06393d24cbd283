"""The ledger: 1,000 orders through crashes of the worker, the relay and Redis itself.

Every order must end with exactly one notification and one reservation, and
no event may be left undelivered in the outbox.
"""

from __future__ import annotations

from pathlib import Path

from migration.runtime.settings import Settings
from monolith.bootstrap import bootstrap
from tests.support.events import (
    CarveProcess,
    effects,
    place_order,
    queue_env,
    redis_server,
    seed_shop,
    wait_for,
    write_plan,
)

ORDERS = 1_000


def test_every_order_is_applied_exactly_once_across_worker_relay_and_redis_crashes(
    tmp_path: Path, postgres_url: str
) -> None:
    plan = write_plan(tmp_path, postgres_url, "queue")
    with redis_server(tmp_path) as redis:
        env = queue_env(plan, postgres_url, redis.url, "ledger")
        settings = Settings.from_env(plan, env)
        settings.project.upgrade()
        shop = bootstrap(settings)
        user_id = seed_shop(shop)
        worker = CarveProcess(["run", "worker", "--threads", "4"], env, tmp_path / "worker.log")
        relay = CarveProcess(["run", "relay", "--batch", "50"], env, tmp_path / "relay.log")
        chaos = {
            ORDERS // 4: lambda: (worker.kill(), worker.start()),
            ORDERS // 2: lambda: (relay.kill(), relay.start()),
            3 * ORDERS // 4: redis.restart,
        }
        worker.start(), relay.start()
        try:
            for number in range(ORDERS):
                place_order(shop, user_id)
                if number in chaos:
                    chaos[number]()
            done = wait_for(lambda: _settled(postgres_url), timeout=90, interval=0.5)
        finally:
            worker.stop(), relay.stop()
            shop.close()
        counts = effects(postgres_url)
        assert done, f"{counts}\nworker:\n{worker.output()}\nrelay:\n{relay.output()}"

    assert counts == {"orders": ORDERS, "notified": ORDERS, "notifications": ORDERS,
                      "reserved": ORDERS, "reservations": ORDERS, "pending": 0, "dead": 0}


def _settled(url: str) -> bool:
    counts = effects(url)
    return counts["notified"] == counts["reserved"] == ORDERS and counts["pending"] == 0
