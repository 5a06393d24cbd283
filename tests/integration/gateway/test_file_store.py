"""Routes in a watched file: changes audited once, hand edits too, by every watcher."""

import asyncio
import json

import pytest

from migration.gateway.routes import Route, RouteMode
from migration.gateway.store import FileToggleStore
from tests.support.waiting import until

pytestmark = pytest.mark.anyio
INVENTORY = "/api/v1/inventory"


def to(mode: RouteMode, percent: float = 0):
    return lambda _: Route(prefix=INVENTORY, mode=mode, service="inventory", percent=percent)


async def test_changes_and_hand_edits_are_each_audited_once(tmp_path):
    path = tmp_path / "routes.json"
    # Two gateways watching one file, as two replicas on one host would.
    stores = [FileToggleStore(path), FileToggleStore(path)]
    seen: list[list] = [[], []]
    watchers = [asyncio.create_task(s.watch(t.append)) for s, t in zip(stores, seen, strict=True)]
    try:
        await stores[0].change(INVENTORY, to(RouteMode.SHADOW), "shadow first")
        await stores[0].change(INVENTORY, to(RouteMode.CANARY, 10), "a tenth")  # one poll
        await until(lambda: all(t and t[-1].version == 2 for t in seen))
        document = json.loads(path.read_text())
        document["routes"][0]["percent"] = 50  # by hand, version left as it was
        document["routes"].append({"prefix": "/api/v1/users", "mode": "monolith"})
        path.write_text(json.dumps(document))
        await until(lambda: all(t[-1].get(INVENTORY).percent == 50 for t in seen))
        await asyncio.sleep(0.6)  # both watchers have audited what they saw
        entries = await stores[1].audit()
    finally:
        for watcher in watchers:
            watcher.cancel()
    assert [(e.prefix, e.reason) for e in entries] == [
        ("/api/v1/users", "edited in routes.json"), (INVENTORY, "edited in routes.json"),
        (INVENTORY, "a tenth"), (INVENTORY, "shadow first")]
    edit = entries[1]
    assert edit.old.percent == 10 and edit.new.percent == 50 and not edit.automatic
    assert entries[0].old is None and entries[0].new.mode == "monolith"


async def test_a_torn_audit_line_neither_stops_the_watch_nor_hides_the_log(tmp_path):
    path = tmp_path / "routes.json"
    store, seen = FileToggleStore(path), []
    await store.change(INVENTORY, to(RouteMode.SHADOW), "shadow first")
    with open(store.audit_path, "a") as audit:
        audit.write('{"at": 17')  # a crash in the middle of an append
    watcher = asyncio.create_task(store.watch(seen.append))
    try:
        await asyncio.sleep(0.3)
        document = json.loads(path.read_text())
        document["routes"][0]["mode"] = "monolith"
        path.write_text(json.dumps(document))
        await until(lambda: seen and seen[-1].get(INVENTORY).mode is RouteMode.MONOLITH)
        await store.change(INVENTORY, to(RouteMode.CANARY, 5), "a canary")
        await until(lambda: seen[-1].get(INVENTORY).mode is RouteMode.CANARY)
        entries = await store.audit()
    finally:
        watcher.cancel()
    assert [e.reason for e in entries] == ["a canary", "edited in routes.json", "shadow first"]
    assert store.problem is None


async def test_concurrent_changes_through_two_stores_are_never_taken_for_hand_edits(tmp_path):
    path = tmp_path / "routes.json"
    stores = [FileToggleStore(path), FileToggleStore(path)]
    watchers = [asyncio.create_task(s.watch(lambda table: None)) for s in stores]
    try:
        for round_ in range(40):
            await asyncio.gather(*(
                s.change(f"/r/{n}", lambda _, n=n, m=round_: Route(
                    prefix=f"/r/{n}", mode=RouteMode.CANARY, service="x", percent=m), "api")
                for n, s in enumerate(stores)))
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.6)
        entries = await stores[0].audit(limit=1000)
    finally:
        for watcher in watchers:
            watcher.cancel()
    assert {e.reason for e in entries} == {"api"} and len(entries) == 80
