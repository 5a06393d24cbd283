"""`carve events list / swap / dlq` as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import redis

from migration.runtime.queue_worker import dead_letter_stores
from migration.runtime.settings import Settings
from monolith.bootstrap import bootstrap
from tests.support.events import place_order, queue_env, seed_shop, write_plan
from tests.support.processes import ROOT, free_port


def _carve(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "migration.cli", *args], cwd=ROOT,
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=60)


def test_events_list_shows_the_backlog_while_the_broker_is_down(
    tmp_path: Path, postgres_url: str, redis_prefix: tuple[redis.Redis, str]
) -> None:
    plan = write_plan(tmp_path, postgres_url, "queue")
    env = queue_env(plan, postgres_url, f"redis://127.0.0.1:{free_port()}/0", redis_prefix[1])
    settings = Settings.from_env(plan, env)
    settings.project.upgrade()
    shop = bootstrap(settings)
    user_id = seed_shop(shop)
    place_order(shop, user_id)
    place_order(shop, user_id)

    listed = _carve(["events", "list", "--json"], env)
    assert listed.returncode == 0, listed.stderr
    [event] = [e for e in json.loads(listed.stdout) if e["type"] == "order.created"]
    assert event == {
        "type": "order.created", "publishers": ["orders"],
        "subscribers": ["inventory.when_order_created_reserve_stock"],
        "transport": "queue", "backlog": 2, "dead_letters": 0, "queued": None,
    }
    table = _carve(["events", "list"], {**env, "COLUMNS": "200"})
    narrow = _carve(["events", "list"], {**env, "COLUMNS": "80"})
    assert "│ order.created" in narrow.stdout  # the name whole, the other columns wrap
    assert table.returncode == 0 and "order.created" in table.stdout

    # Sending needs the broker: one line naming it, and the events stay where they are.
    store = dead_letter_stores([settings.project.module("notifications")],
                               settings.project.sessions)["notifications"]
    store.record(message_id="d" * 32,
                 consumer="notifications.when_order_confirmed_send_confirmation",
                 event_type="order.confirmed", payload={}, headers={}, error="boom", attempts=3)
    for command in (["events", "drain"], ["events", "dlq", "replay"]):
        down = _carve(command, env)
        assert down.returncode == 1, down.stderr
        [line] = down.stderr.strip().splitlines()
        assert line.startswith(f"error: cannot reach the broker at {env['CARVE_BROKER_URL']}: ")
    assert len(store.list()) == 1
    after = {e["type"]: e for e in json.loads(_carve(["events", "list", "--json"], env).stdout)}
    assert after["order.created"]["backlog"] == 2


def test_swap_rewrites_only_the_transport_and_keeps_comments(
    tmp_path: Path, sqlite_url: str
) -> None:
    plan = write_plan(tmp_path, sqlite_url)
    env = {"CARVE_CONFIG": str(plan), "DATABASE_URL": sqlite_url}
    before = plan.read_text()

    assert _carve(["events", "swap", "order.created", "--to", "queue"], env).returncode == 0
    after = plan.read_text()
    assert after == before.replace('transport = "inprocess"', 'transport = "queue"')
    again = _carve(["events", "swap", "order.created", "--to", "inprocess"], env)
    assert again.returncode == 0 and plan.read_text() == before


def test_swap_rejects_unknown_events_and_transports_in_one_line(
    tmp_path: Path, sqlite_url: str
) -> None:
    plan = write_plan(tmp_path, sqlite_url)
    env = {"CARVE_CONFIG": str(plan), "DATABASE_URL": sqlite_url}

    unknown = _carve(["events", "swap", "order.shipped", "--to", "queue"], env)
    assert unknown.returncode == 2
    assert unknown.stderr.strip().splitlines() == [
        "error: unknown event 'order.shipped' (events: order.confirmed, order.created, "
        "order.rejected, stock.reservation_failed, stock.reserved)"
    ]
    bad = _carve(["events", "swap", "order.created", "--to", "kafka"], env)
    assert bad.returncode == 2 and "--to must be one of: inprocess, queue" in bad.stderr
    assert "Traceback" not in unknown.stderr + bad.stderr


def test_replaying_an_unknown_dead_letter_is_a_clear_error(
    tmp_path: Path, postgres_url: str, redis_prefix: tuple[redis.Redis, str]
) -> None:
    plan = write_plan(tmp_path, postgres_url, "queue")
    from tests.support.services import REDIS_URL

    env = queue_env(plan, postgres_url, REDIS_URL, redis_prefix[1])
    Settings.from_env(plan, env).project.upgrade()

    listed = _carve(["events", "dlq", "list", "--json"], env)
    assert listed.returncode == 0 and json.loads(listed.stdout) == []
    replayed = _carve(["events", "dlq", "replay", "f" * 32], env)
    assert replayed.returncode == 2
    assert f"no dead letter with message id '{'f' * 32}'" in replayed.stderr


def test_swap_refuses_to_deliver_a_remote_modules_event_in_process(
    tmp_path: Path, sqlite_url: str
) -> None:
    plan = write_plan(tmp_path, sqlite_url, "queue")
    env = {"CARVE_CONFIG": str(plan), "DATABASE_URL": sqlite_url}
    before = plan.read_text()

    by_env = _carve(["events", "swap", "order.created", "--to", "inprocess"],
                    {**env, "CARVE_INVENTORY_BINDING": "remote"})
    plan.write_text(before + '\n[modules.inventory]\nbinding = "remote"\n')
    by_plan = _carve(["events", "swap", "order.created", "--to", "inprocess"], env)

    for refused in (by_env, by_plan):
        assert refused.returncode == 2
        assert refused.stderr.strip().splitlines() == [
            "error: refusing to swap order.created to inprocess: module 'inventory' is remote "
            "but consumes 'order.created', which carve.toml delivers in-process: set "
            '[events."order.created"] transport = "queue" (carve events swap order.created '
            "--to queue) or bind 'inventory' local"
        ]
    assert plan.read_text() == before + '\n[modules.inventory]\nbinding = "remote"\n'
    assert not list(tmp_path.glob(".carve-*"))  # no temporary plan left behind
    assert _carve(["events", "swap", "order.created", "--to", "queue"], env).returncode == 0


def test_events_commands_on_an_unmigrated_database_say_to_upgrade_in_one_line(
    tmp_path: Path, postgres_url: str, redis_prefix: tuple[redis.Redis, str]
) -> None:
    from tests.support.services import REDIS_URL

    plan = write_plan(tmp_path, postgres_url, "queue")
    env = queue_env(plan, postgres_url, REDIS_URL, redis_prefix[1])
    where = postgres_url  # no password in the test URL: shown as it is
    for command, table in ((["events", "list"], "inventory_dead_letters"),
                           (["events", "dlq", "list"], "inventory_dead_letters"),
                           (["events", "dlq", "replay"], "inventory_dead_letters"),
                           (["events", "drain"], "inventory_outbox")):
        done = _carve(command, env)
        assert done.returncode == 2, (command, done.stderr)
        assert done.stderr.strip().splitlines() == [
            f"error: module 'inventory': no table {table} in {where}: run carve db upgrade "
            "(or carve db upgrade inventory)"], command
