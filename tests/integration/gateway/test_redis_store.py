"""Routes in Redis: atomic changes with audit, and replicas that see a change within a second."""

import asyncio

import httpx
import pytest
import redis.asyncio as aioredis

from migration.gateway.routes import Route, RouteMode
from migration.gateway.store import RouteStoreError
from migration.gateway.store.redis import RedisToggleStore
from tests.support.gateway_processes import echo_backend, gateway_process
from tests.support.services import REDIS_URL
from tests.support.waiting import until, wait_for, watching

pytestmark = [pytest.mark.redis, pytest.mark.anyio]
INVENTORY = "/api/v1/inventory"


def service(route: Route | None) -> Route:
    return Route(prefix=INVENTORY, mode=RouteMode.SERVICE, service="inventory")


async def test_changes_are_stored_versioned_and_audited(redis_prefix):
    _, prefix = redis_prefix
    store = RedisToggleStore(aioredis.Redis.from_url(REDIS_URL), prefix)
    try:
        await store.change(INVENTORY, service, "go live")
        await store.change(INVENTORY, lambda r: None, "remove")
        await store.change(INVENTORY, service, "again", automatic=True)
        table = await store.load()
        audit = await store.audit(INVENTORY)
    finally:
        await store.close()
    assert table.version == 3 and table.get(INVENTORY).mode is RouteMode.SERVICE
    assert [e.reason for e in audit] == ["again", "remove", "go live"]
    assert audit[1].old.mode == "service" and audit[1].new is None
    assert audit[0].automatic and audit[0].version == 3


async def test_concurrent_writers_do_not_lose_changes(redis_prefix):
    _, prefix = redis_prefix
    stores = [RedisToggleStore(aioredis.Redis.from_url(REDIS_URL), prefix) for _ in range(4)]
    try:
        await asyncio.gather(*(s.change(f"/route/{n}/{i}", lambda r, n=n, i=i: Route(
            prefix=f"/route/{n}/{i}"), "parallel") for n, s in enumerate(stores)
            for i in range(5)))
        table = await stores[0].load()
    finally:
        for store in stores:
            await store.close()
    assert len(table.routes) == 20 and table.version == 20


def test_a_second_gateway_sees_a_change_within_a_second(redis_prefix):
    _, prefix = redis_prefix
    routes = f"{REDIS_URL}?prefix={prefix}:"
    with echo_backend("monolith") as monolith, echo_backend("inventory") as inventory, \
            gateway_process(routes, monolith, {"inventory": inventory}) as first, \
            gateway_process(routes, monolith, {"inventory": inventory}) as second:
        before = httpx.get(second.url + INVENTORY, timeout=10).headers["x-carve-upstream"]
        changed = first.admin("PUT", "/_carve/routes", json={
            "prefix": INVENTORY, "mode": "service", "service": "inventory"})
        assert changed.status_code == 200
        assert wait_for(lambda: httpx.get(second.url + INVENTORY, timeout=10)
                        .headers["x-carve-upstream"] == "inventory", 1.0, 0.02), \
            "the second gateway did not see the change"
        audit = second.admin("GET", "/_carve/audit").json()
    assert before == "monolith"
    assert audit[0]["new"]["mode"] == "service"


async def test_an_entry_that_is_not_a_route_keeps_the_table_until_it_is_repaired(redis_prefix):
    client, prefix = redis_prefix
    store = RedisToggleStore(aioredis.Redis.from_url(REDIS_URL), prefix)
    async with watching(store) as seen:
        await store.change(INVENTORY, service, "go live")
        await until(lambda: seen and seen[-1].version == 1)
        # A hand edit, or a replica of another carve version, leaves an entry we can't read.
        client.hset(f"{prefix}routes", "/bad", '{"prefix": "/bad", "mode": "sideways"}')
        client.incr(f"{prefix}version")
        await until(lambda: store.problem is not None)
        assert "'/bad'" in store.problem and "mode" in store.problem
        with pytest.raises(RouteStoreError, match="not a valid route"):
            await store.load()
        client.hdel(f"{prefix}routes", "/bad")
        await store.change(INVENTORY, lambda r: None, "roll back")
        await until(lambda: seen[-1].version == 3)  # the watcher lived through it
    assert store.problem is None and seen[-1].get(INVENTORY) is None


def test_a_replica_says_it_is_degraded_while_the_table_is_unreadable(redis_prefix):
    client, prefix = redis_prefix
    routes = f"{REDIS_URL}?prefix={prefix}:"
    with echo_backend("monolith") as monolith, echo_backend("inventory") as inventory, \
            gateway_process(routes, monolith, {"inventory": inventory}) as first, \
            gateway_process(routes, monolith, {"inventory": inventory}) as second:
        client.hset(f"{prefix}:routes", "/bad", "not json")
        client.incr(f"{prefix}:version")
        assert wait_for(lambda: health(second)["status"] == "degraded", 5)
        refused = first.admin("PUT", "/_carve/routes", json={
            "prefix": INVENTORY, "mode": "service", "service": "inventory"})
        assert refused.status_code == 503
        assert "saved" in refused.json()["detail"] and "'/bad'" in refused.json()["detail"]
        client.hdel(f"{prefix}:routes", "/bad")
        first.admin("POST", "/_carve/routes/rollback", json={"prefix": INVENTORY})
        assert wait_for(lambda: health(second)["status"] == "ok", 5)
        assert health(second)["routes_version"] == 3
        assert httpx.get(second.url + INVENTORY).headers["x-carve-upstream"] == "monolith"




async def test_a_version_that_is_no_number_is_a_problem_the_watch_outlives(redis_prefix):
    client, prefix = redis_prefix
    store = RedisToggleStore(aioredis.Redis.from_url(REDIS_URL), prefix)
    async with watching(store) as seen:
        await store.change(INVENTORY, service, "go live")
        await until(lambda: seen and seen[-1].version == 1)
        client.set(f"{prefix}version", "abc")
        await until(lambda: store.problem is not None)
        assert "not a version number" in store.problem
        client.set(f"{prefix}version", "7")
        await until(lambda: seen[-1].version == 7)
        client.rpush(f"{prefix}audit", "torn")
        audit = await store.audit()
    assert store.problem is None
    assert [e.reason for e in audit] == ["go live"]


def health(gateway) -> dict:
    return httpx.get(gateway.url + "/_carve/healthz", timeout=5).json()
