"""The direct path's kept decisions: a canary user's side is the sticky split's, every time."""

from __future__ import annotations

from migration.gateway.direct import _Lane
from migration.gateway.forwarding import read_inbound
from migration.gateway.routes import Route, RouteMode, StickyKey
from migration.gateway.sticky import canary_buckets, goes_to_service, sticky_header


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
