"""The race of issue 13 on the queue: concurrent orders over a stock that fits only some.

Every event of the saga goes through Redis (relay and worker processes) on PostgreSQL;
whatever the interleaving, no unit is sold twice and every user is told the outcome once.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import redis

from migration.events.use_cases import swap_event
from tests.support.events import carve_background, queue_env, wait_for
from tests.support.processes import carve_process, free_port
from tests.support.saga import (
    SAGA_EVENTS,
    assert_race_outcome,
    outcome,
    place_concurrently,
    write_queue_plan,
)
from tests.support.services import REDIS_URL

ORDERS, QUANTITY, STOCK = 24, 2, 10  # demand 48 units, room for 5 orders


def test_concurrent_orders_over_a_short_stock_end_confirmed_or_rejected_on_the_queue(
    tmp_path: Path, postgres_url: str, redis_prefix: tuple[redis.Redis, str],
) -> None:
    plan = write_queue_plan(tmp_path, transport="inprocess")
    for event in SAGA_EVENTS:  # what `carve events swap EVENT --to queue` does
        assert swap_event(plan, event, "queue").previous == "inprocess"
    env = queue_env(plan, postgres_url, REDIS_URL, redis_prefix[1])
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with (
        carve_process(["run", "monolith", "--port", str(port)], env=env,
                      ready_url=f"{base}/readyz"),
        carve_background(["run", "relay"], env, tmp_path / "relay.log") as relay,
        carve_background(["run", "worker"], env, tmp_path / "worker.log") as worker,
    ):
        user = httpx.post(f"{base}/api/v1/users",
                          json={"email": "race@example.com", "name": "R"}).json()
        assert httpx.put(f"{base}/api/v1/inventory/stock/race-1",
                         json={"quantity": STOCK}).status_code == 200
        # Reads first: each module's sessions are set up by their first use, which is not
        # safe under concurrent first use (migration/runtime/routing.py).
        httpx.get(f"{base}/api/v1/orders", params={"user_id": user["id"]})
        httpx.get(f"{base}/api/v1/notifications", params={"user_id": user["id"]})
        answers = place_concurrently(base, user["id"], "race-1", QUANTITY, ORDERS)
        assert {a.status_code for a in answers} <= {201, 409}, [a.text for a in answers]
        placed = [a.json()["id"] for a in answers if a.status_code == 201]
        assert {a.json()["status"] for a in answers if a.status_code == 201} == {"pending"}

        def settled() -> bool:
            result = outcome(postgres_url, postgres_url, "race-1")
            return result.settled and len(result.statuses) == len(placed)

        assert wait_for(settled, timeout=60), relay.output() + worker.output()
        shown = {httpx.get(f"{base}/api/v1/orders/{order}").json()["status"]
                 for order in placed}
    result = outcome(postgres_url, postgres_url, "race-1")
    assert_race_outcome(result, placed, STOCK)
    assert shown == set(result.statuses.values())
    confirmed = sum(status == "confirmed" for status in result.statuses.values())
    print(f"race on the queue: {ORDERS} orders, {ORDERS - len(placed)} refused at placement, "
          f"{confirmed} confirmed, {len(placed) - confirmed} rejected, "
          f"{result.confirmed_units} of {STOCK} units confirmed and reserved")
