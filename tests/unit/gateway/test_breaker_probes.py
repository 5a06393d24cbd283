"""The gateway always finishes a breaker's call, even one its client cut short."""

import pytest

from migration.gateway.body import REPLAYABLE_LIMIT
from migration.gateway.bootstrap import build_gateway
from migration.gateway.gateway_settings import GatewaySettings
from migration.gateway.routes import Route, RouteMode, RouteTable
from migration.runtime.breaker import BreakerPolicy, BreakerState, CircuitBreaker
from tests.fakes import FakeClock, MemoryToggleStore, SilentPool

pytestmark = pytest.mark.anyio
POLICY = BreakerPolicy(minimum_calls=1, open_seconds=5, half_open_probes=1)


async def test_a_half_open_probe_whose_client_hangs_up_lets_the_breaker_probe_again():
    clock = FakeClock()
    settings = GatewaySettings(monolith_url="http://monolith.invalid",
                               services={"inventory": "http://inventory.invalid"},
                               breaker=POLICY)
    route = Route(prefix="/api", mode=RouteMode.SERVICE, service="inventory")
    gw = build_gateway(settings, MemoryToggleStore(RouteTable([route])), clock)
    gw.table = await gw.store.load()
    pool = gw.pools["inventory"] = SilentPool(
        "inventory", "http://inventory.invalid", breaker=CircuitBreaker("inventory", POLICY,
                                                                        clock))
    pool.breaker.record(failed=True, seconds=0.0)
    clock.now += 5
    assert pool.breaker.state is BreakerState.HALF_OPEN

    # A large upload streams to the probe, then the client disconnects mid-body.
    messages = iter([
        {"type": "http.request", "body": b"x" * (REPLAYABLE_LIMIT + 1), "more_body": True},
        {"type": "http.disconnect"},
    ])

    async def receive() -> dict:
        return next(messages)

    async def send(message: dict) -> None:
        pass

    scope = {"type": "http", "method": "PUT", "path": "/api/blob", "raw_path": b"/api/blob",
             "query_string": b"", "headers": [(b"transfer-encoding", b"chunked")],
             "client": ("127.0.0.1", 5000),
             "scheme": "http"}
    await gw(scope, receive, send)

    clock.now += 5
    assert pool.breaker.allow(), "the unfinished probe left the breaker half-open for ever"
