"""A running relay's LISTEN follows a module that ``carve db cutover`` moved to its new database.

The relay polls once in ten minutes: an event committed on the new database after the
cut-over reaches the queue only if the relay was woken by that database's notification.
"""

from __future__ import annotations

import threading
import time

import redis

from contracts.inventory import ReservedLine, StockReserved
from migration.events.processes import broker_for, build_relay
from migration.runtime.broker import close_broker
from migration.runtime.project import Project
from migration.runtime.unit_of_work import UnitOfWork
from tests.integration.datasplit.test_split_commands import carve
from tests.support.datasplit import Split
from tests.support.services import REDIS_URL
from tests.support.waiting import wait_for

NEVER = 600.0  # seconds: the relay's poll interval, longer than the test


def _publish(project: Project) -> str:
    """``stock.reserved`` committed by inventory, on whichever database it lives on now."""
    spec = project.module("inventory")
    event = StockReserved(order_id="o-1", items=(ReservedLine(sku="A", quantity=1),))
    with UnitOfWork("inventory", project.sessions("inventory"), spec.outbox,
                    spec.inbox) as uow:  # type: ignore[arg-type]
        uow.publish(event)
        uow.commit()
    return event.message_id


def test_the_relay_listens_on_the_new_database_after_a_cutover(
    split: Split, redis_prefix: tuple[redis.Redis, str],
) -> None:
    with split.plan.open("a", encoding="utf-8") as plan:
        plan.write('\n[events."stock.reserved"]\ntransport = "queue"\n')
    env = {"CARVE_BROKER_URL": REDIS_URL, "CARVE_BROKER_NAMESPACE": redis_prefix[1]}
    project = Project.load(split.plan, environ=env)
    relay = build_relay(project, broker_for(project)[0], modules=["inventory"])
    stop = threading.Event()
    runner = threading.Thread(target=relay.run, args=(stop,), kwargs={"interval": NEVER})
    runner.start()
    try:
        assert wait_for(lambda: relay.wakeup is not None and relay.wakeup.all_listening(), 20)
        wakeup = relay.wakeup
        assert wakeup is not None
        _publish(project)
        assert wait_for(lambda: relay.stats.rows == 1, 20)  # woken by the old database

        assert carve(split.plan, "db", "split", "inventory", "--to", split.target,
                     **env).returncode == 0
        moved = carve(split.plan, "db", "cutover", "inventory", **env)
        assert moved.returncode == 0, moved.stderr
        assert wait_for(lambda: wakeup.listens == 2 and wakeup.all_listening(), 20)
        time.sleep(0.5)  # the pass a new LISTEN causes is over: only a notification is left
        after = _publish(project)
        assert split.scalar(split.target,
                            f"SELECT count(*) FROM inventory_outbox WHERE id = '{after}'") == 1
        assert wait_for(lambda: relay.stats.rows == 2, 20)  # woken by the new database
        assert split.scalar(split.target, "SELECT count(*) FROM inventory_outbox "
                                          "WHERE dispatched_at IS NULL") == 0
    finally:
        stop.set()
        runner.join(timeout=10)
        close_broker(relay.broker)
        project.close()
