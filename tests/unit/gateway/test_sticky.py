"""Sticky canaries: the share follows the percent, and raising it never moves anyone back."""

import pytest

from migration.gateway.exports import share
from migration.gateway.routes import Route, RouteMode
from migration.gateway.sticky import BUCKETS, bucket, cookie_value, goes_to_service

KEYS = [f"user-{n}" for n in range(10_000)]


def canary(percent: float) -> Route:
    return Route(prefix="/api/v1/inventory", mode=RouteMode.CANARY, service="inventory",
                 percent=percent)


def test_the_share_of_10000_keys_is_within_one_point_of_the_percent():
    for percent in (1, 5, 25, 50, 75, 99):
        share = sum(goes_to_service(canary(percent), key) for key in KEYS) / len(KEYS) * 100
        assert abs(share - percent) <= 1, (percent, share)


def test_raising_the_percent_never_moves_a_user_back_to_the_monolith():
    previous: set[str] = set()
    for percent in (0, 1, 5, 10, 25, 33.3, 50, 80, 100):
        inside = {key for key in KEYS if goes_to_service(canary(percent), key)}
        assert previous <= inside
        previous = inside
    assert len(previous) == len(KEYS)


def test_the_same_key_always_lands_on_the_same_side():
    route = canary(30)
    assert [goes_to_service(route, k) for k in KEYS[:500]] == \
        [goes_to_service(route, k) for k in KEYS[:500]]


def test_a_cookie_is_found_among_others():
    assert cookie_value(b"theme=dark; sid=abc123; x=1", "sid") == "abc123"
    assert cookie_value(b"theme=dark", "sid") is None


@pytest.mark.parametrize(("percent", "buckets"), [
    (0.07, 7), (0.001, 1), (33.333, 3334), (25, 2500), (0, 0), (100, BUCKETS)])
def test_the_canary_takes_the_buckets_its_percent_names_as_the_exports_write_it(
        percent, buckets):
    route = canary(percent)
    # Keys whose buckets are 0, 1, 2, …: which of them the gateway sends to the service.
    first_key = {}
    for n in range(200_000):
        first_key.setdefault(bucket(route.prefix, f"k{n}"), f"k{n}")
        if len(first_key) == BUCKETS:
            break
    taken = sum(goes_to_service(route, key) for key in first_key.values())
    assert taken == buckets == share(percent)
