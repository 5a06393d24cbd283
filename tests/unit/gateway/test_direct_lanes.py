"""The direct path's kept decisions: a canary user's side is the sticky split's, every time."""

from __future__ import annotations

from migration.gateway import direct
from migration.gateway.bootstrap import build_gateway
from migration.gateway.direct import _Lane
from migration.gateway.forwarding import read_inbound
from migration.gateway.gateway_settings import GatewaySettings
from migration.gateway.routes import Route, RouteMode, RouteTable, StickyKey
from migration.gateway.sticky import canary_buckets, goes_to_service, sticky_header
from tests.fakes import MemoryToggleStore


def _inside(lane: _Lane, route: Route, headers: list[tuple[bytes, bytes]],
            client: str = "10.0.0.1") -> bool:
    scope = {"headers": headers, "client": (client, 5000)}
    return lane.inside(route, read_inbound(scope, sticky_header(route)), scope)


def _lane(route: Route) -> _Lane:
    return _Lane(route, None, None, sticky_header(route), canary_buckets(route.percent))


def test_a_kept_answer_is_the_sticky_splits_for_every_user_asked_again():
    route = Route(prefix="/api", mode=RouteMode.CANARY, service="svc", percent=30)
    lane = _lane(route)
    for _ in range(2):  # the second time from what was kept
        sides = [_inside(lane, route, [(b"x-user-id", f"user-{n}".encode())])
                 for n in range(3000)]
        assert sides == [goes_to_service(route, f"user-{n}") for n in range(3000)]
    assert 700 < sum(sides) < 1100


def test_a_cookie_or_a_client_address_is_not_kept_as_if_it_were_the_user():
    route = Route(prefix="/api", mode=RouteMode.CANARY, service="svc", percent=50,
                  sticky=StickyKey(kind="cookie", name="uid"))
    lane = _lane(route)
    # One cookie header without the sticky cookie: each client is split by its address.
    answers = {client: _inside(lane, route, [(b"cookie", b"theme=dark")], client)
               for client in (f"10.0.0.{n}" for n in range(1, 200))}
    assert answers == {client: goes_to_service(route, client) for client in answers}
    assert 0 < sum(answers.values()) < len(answers)


def test_the_answers_kept_for_a_canary_are_bounded_over_all_its_paths(monkeypatch):
    # One canary route, many paths (an id in each), a new user on each request: what is
    # kept stays within USERS_KEPT for the route, not USERS_KEPT for every path.
    monkeypatch.setattr(direct, "USERS_KEPT", 100)
    route = Route(prefix="/api", mode=RouteMode.CANARY, service="svc", percent=30)
    settings = GatewaySettings(monolith_url="http://127.0.0.1:9",
                               services={"svc": "http://127.0.0.1:9"})
    gateway = build_gateway(settings, MemoryToggleStore(RouteTable([route])))
    gateway.table = RouteTable([route])
    path = gateway.direct.__self__
    for item in range(50):
        raw = f"/api/items/{item}".encode()
        scope = {"path": raw.decode(), "raw_path": raw, "client": ("10.0.0.1", 5000)}
        lane = path._lane(scope, gateway.table)  # noqa: SLF001
        for user in range(100):
            _inside(lane, route, [(b"x-user-id", f"user-{item}-{user}".encode())])
    kept = {id(lane._users): len(lane._users) for lane in path._lanes.values()}  # noqa: SLF001
    assert sum(kept.values()) <= 100


def test_a_request_from_a_replaced_table_does_not_detach_the_kept_canary_window():
    # The direct path keeps the canary's SLO window per table; an ASGI request that started
    # under the old table (its body awaited) asks for the old route's window afterwards.
    old = Route(prefix="/api", mode=RouteMode.CANARY, service="svc", percent=10)
    new = Route(prefix="/api", mode=RouteMode.CANARY, service="svc", percent=20)
    settings = GatewaySettings(monolith_url="http://127.0.0.1:9",
                               services={"svc": "http://127.0.0.1:9"})
    gateway = build_gateway(settings, MemoryToggleStore(RouteTable([old])))
    gateway.table = RouteTable([new], 2)
    scope = {"path": "/api/items", "raw_path": b"/api/items", "client": ("10.0.0.1", 5000)}
    lane = gateway.direct.__self__._lane(scope, gateway.table)  # noqa: SLF001
    gateway.failover.window(old)  # the request from before the change reaches its service
    gateway.failover.window(new)  # the next ASGI request, under the new table
    lane.window.record(True, 0.01)  # a direct-path answer
    assert gateway.guard.tracker.verdict(new).requests == 1  # the guard sees it
