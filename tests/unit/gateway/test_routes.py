"""The route table: longest prefix on segment boundaries, validation of routes."""

import pytest
from pydantic import ValidationError

from migration.gateway.paths import refusal_reason
from migration.gateway.routes import Route, RouteMode, RouteTable


def table(*prefixes: str) -> RouteTable:
    return RouteTable([Route(prefix=p) for p in prefixes])


def test_the_longest_matching_prefix_wins():
    routes = table("/api", "/api/v1/inventory", "/api/v1")
    assert routes.match("/api/v1/inventory/sku-1").prefix == "/api/v1/inventory"
    assert routes.match("/api/v1/orders").prefix == "/api/v1"
    assert routes.match("/api/v2").prefix == "/api"


def test_a_prefix_matches_whole_segments_only():
    routes = table("/api/v1/inventory")
    assert routes.match("/api/v1/inventory") is not None
    assert routes.match("/api/v1/inventory/") is not None
    assert routes.match("/api/v1/inventoryx") is None


def test_unrouted_paths_match_nothing_and_go_to_the_monolith():
    assert table("/api/v1/users").match("/healthz") is None
    assert table("/").match("/anything/at/all").prefix == "/"


def test_prefixes_are_normalized():
    assert Route(prefix="/api//v1/inventory/").prefix == "/api/v1/inventory"


def test_doubled_slashes_do_not_get_past_a_prefix():
    routes = table("/api/v1/inventory", "/api/v1/retired")
    assert routes.match("/api/v1//inventory/items").prefix == "/api/v1/inventory"
    assert routes.match("//api/v1/retired/x").prefix == "/api/v1/retired"
    assert routes.match("/api//v2") is None


@pytest.mark.parametrize("prefix", ["api", "/api/../x", "/api%2fv1", "/a b", "/a;b", '/a"b',
                                    "/a{b}", "/é", "/_carve", "//_carve/x"])
def test_bad_prefixes_are_refused(prefix):
    with pytest.raises(ValidationError):
        Route(prefix=prefix)


@pytest.mark.parametrize("mode", [RouteMode.SHADOW, RouteMode.CANARY, RouteMode.SERVICE])
def test_modes_that_send_traffic_to_a_service_need_one(mode):
    with pytest.raises(ValidationError, match="needs a service"):
        Route(prefix="/api", mode=mode)


def test_sticky_header_names_are_lowercased_cookie_names_are_not():
    assert Route(prefix="/a", sticky={"kind": "header", "name": "X-Tenant"}).sticky.name \
        == "x-tenant"
    assert Route(prefix="/a", sticky={"kind": "cookie", "name": "SID"}).sticky.name == "SID"


@pytest.mark.parametrize("path,raw", [
    ("/api/v1/../admin", b"/api/v1/../admin"),
    ("/api/./v1", b"/api/./v1"),
    ("/api/v1/users/..", b"/api/v1/users/%2e%2e"),
    ("/api/v1/a/b", b"/api/v1/a%2Fb"),
    ("/api/v1/a\\b", b"/api/v1/a%5cb"),
    # a fragment's "#" is never sent: an upstream cuts the path there (/api/v1/..)
    ("/api/v1/..#x", b"/api/v1/..#x"),
])
def test_dot_segments_and_encoded_slashes_are_refused(path, raw):
    assert refusal_reason(path, raw) is not None


def test_ordinary_paths_pass():
    assert refusal_reason("/api/v1/users/a.b/..c", b"/api/v1/users/a.b/..c") is None
    assert refusal_reason("/api/v1/name with space", b"/api/v1/name%20with%20space") is None
    assert refusal_reason("/api/v1/tag#1", b"/api/v1/tag%231") is None  # an encoded "#"
