"""The client binding over a fake transport: mapping, retries, breaker, trace context."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from contracts.errors import ServiceUnavailable
from contracts.inventory import InsufficientInventory, Inventory, StockLevel
from contracts.notifications import Notifications
from contracts.orders import OrderLine, Orders, PlaceOrder
from migration.runtime.breaker import BreakerPolicy
from migration.runtime.client import RetryPolicy, Timeouts, client
from migration.runtime.config import CarveConfig, ModuleConfig
from migration.runtime.discovery import Discovery, binding_of
from migration.runtime.errors import ConfigError
from migration.runtime.tracing import parse_traceparent

NO_PAUSE = RetryPolicy(attempts=3, base_seconds=0, max_seconds=0)
STOCK = {"sku": "a", "on_hand": 3, "reserved": 0, "available": 3}


class Recorder:
    """A fake service: records requests, answers with the given handler."""

    def __init__(self, answer: Callable[[httpx.Request], httpx.Response]) -> None:
        self.requests: list[httpx.Request] = []
        self._answer = answer

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self._answer(request)


def inventory(recorder: Recorder, **kwargs: object) -> Inventory:
    return client(Inventory, "http://inventory.test", transport=httpx.MockTransport(recorder),
                  retries=NO_PAUSE, **kwargs)  # type: ignore[arg-type]


def test_arguments_travel_in_path_query_and_body() -> None:
    recorder = Recorder(lambda r: httpx.Response(200, json=STOCK))
    proxy = inventory(recorder)
    assert isinstance(proxy, Inventory)
    assert proxy.set_stock("a b", StockLevel(quantity=3)).on_hand == 3
    put = recorder.requests[0]
    assert (put.method, put.url.raw_path) == ("PUT", b"/api/v1/inventory/stock/a%20b")
    assert json.loads(put.content) == {"quantity": 3}
    recorder._answer = lambda r: httpx.Response(
        200, json={"sku": "a", "requested": 2, "available": 3, "in_stock": True})
    assert proxy.check_availability("a", quantity=2).in_stock is True
    assert recorder.requests[1].url.params["quantity"] == "2"


def test_a_base_url_with_a_path_keeps_it_and_query_values_are_encoded() -> None:
    recorder = Recorder(lambda r: httpx.Response(200, json=[]))
    notifications = client(Notifications, "http://gateway.test/edge/",
                           transport=httpx.MockTransport(recorder))
    assert notifications.list_notifications("a b&c=d/é") == []
    sent = recorder.requests[0].url
    assert (sent.host, sent.path) == ("gateway.test", "/edge/api/v1/notifications")
    assert sent.params["user_id"] == "a b&c=d/é"
    assert sent.query == httpx.URL("http://x", params={"user_id": "a b&c=d/é"}).query


def test_each_request_carries_the_timeouts_and_the_client_headers() -> None:
    recorder = Recorder(lambda r: httpx.Response(200, json=STOCK))
    proxy = client(Inventory, "http://inventory.test", transport=httpx.MockTransport(recorder),
                   timeout=Timeouts(connect=0.5, read=2.0))
    proxy.get_stock("a")
    sent = recorder.requests[0]
    assert sent.extensions["timeout"] == {"connect": 0.5, "read": 2.0, "write": 2.0,
                                          "pool": 2.0}
    assert sent.headers["user-agent"].startswith("python-httpx/")
    assert sent.headers["host"] == "inventory.test"


def test_cookies_a_service_sets_are_sent_back_as_before() -> None:
    recorder = Recorder(lambda r: httpx.Response(200, json=STOCK,
                                                 headers={"set-cookie": "route=b; Path=/"}))
    proxy = inventory(recorder)
    proxy.get_stock("a")
    proxy.get_stock("a")
    assert "cookie" not in recorder.requests[0].headers
    assert recorder.requests[1].headers["cookie"] == "route=b"


def test_a_problem_body_becomes_the_same_contract_error_with_its_fields() -> None:
    problem = {"type": "urn:carve:problem:inventory.insufficient", "title": "Insufficient",
               "status": 409, "detail": "2 requested, 1 available",
               "code": "inventory.insufficient", "sku": "a", "available": 1}
    proxy = inventory(Recorder(lambda r: httpx.Response(409, json=problem)))
    with pytest.raises(InsufficientInventory) as caught:
        proxy.get_stock("a")
    assert caught.value.detail == "2 requested, 1 available"
    assert caught.value.extra == {"sku": "a", "available": 1}


@pytest.mark.parametrize("answer", [
    httpx.Response(500, text="Internal Server Error"),
    httpx.Response(200, text="<html>not json</html>"),
    httpx.Response(200, json={"unexpected": True}),
    httpx.Response(404, json={"code": "http.not_found", "detail": "Not Found", "status": 404}),
])
def test_any_other_answer_is_service_unavailable(answer: httpx.Response) -> None:
    proxy = inventory(Recorder(lambda r: answer))
    with pytest.raises(ServiceUnavailable) as caught:
        proxy.get_stock("a")
    assert caught.value.status_code == 503
    assert caught.value.extra["service"] == "inventory"
    assert "inventory service at http://inventory.test" in caught.value.detail


def test_idempotent_operations_are_retried_until_one_answers() -> None:
    answers = iter([httpx.ConnectError("refused"), httpx.Response(503), STOCK])

    def flaky(request: httpx.Request) -> httpx.Response:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer if isinstance(answer, httpx.Response) else httpx.Response(200, json=answer)

    recorder = Recorder(flaky)
    assert inventory(recorder).get_stock("a").on_hand == 3
    assert len(recorder.requests) == 3


def test_non_idempotent_operations_are_tried_once() -> None:
    recorder = Recorder(lambda r: httpx.Response(503))
    orders = client(Orders, "http://orders.test", transport=httpx.MockTransport(recorder),
                    retries=NO_PAUSE)
    with pytest.raises(ServiceUnavailable):
        orders.place_order(PlaceOrder(user_id="u", items=[OrderLine(sku="a", quantity=1)]))
    assert len(recorder.requests) == 1


def test_a_timeout_is_service_unavailable() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(ServiceUnavailable, match="no answer in time"):
        inventory(Recorder(slow)).get_stock("a")


def test_the_breaker_opens_and_then_no_request_is_made() -> None:
    recorder = Recorder(lambda r: httpx.Response(503))
    proxy = inventory(recorder, breaker=BreakerPolicy(minimum_calls=3, open_seconds=60))
    with pytest.raises(ServiceUnavailable):
        proxy.get_stock("a")  # three attempts: the breaker opens on the third
    made = len(recorder.requests)
    with pytest.raises(ServiceUnavailable, match="circuit breaker") as caught:
        proxy.get_stock("a")
    assert len(recorder.requests) == made
    assert caught.value.extra["breaker"] == "open"


def test_every_call_carries_a_traceparent() -> None:
    recorder = Recorder(lambda r: httpx.Response(200, json=STOCK))
    inventory(recorder).get_stock("a")
    assert parse_traceparent(recorder.requests[0].headers["traceparent"]) is not None


def test_discovery_prefers_environment_then_carve_toml_then_dns() -> None:
    config = CarveConfig(modules={"inventory": ModuleConfig(url="http://from-toml:9000/")})
    assert Discovery(config, {"CARVE_INVENTORY_URL": "http://env:1"}).url_for("inventory") \
        == "http://env:1"
    assert Discovery(config, {}).url_for("inventory") == "http://from-toml:9000"
    assert Discovery(config, {}).url_for("users") == "http://users-service:8000"
    with pytest.raises(ConfigError, match="http://"):
        Discovery(config, {"CARVE_USERS_URL": "users:8000"}).url_for("users")


def test_the_binding_comes_from_the_environment_then_carve_toml() -> None:
    config = CarveConfig(modules={"inventory": ModuleConfig(binding="remote")})
    assert binding_of("inventory", config, {}) == "remote"
    assert binding_of("inventory", config, {"CARVE_INVENTORY_BINDING": "local"}) == "local"
    assert binding_of("users", config, {}) == "local"
    with pytest.raises(ConfigError, match="CARVE_USERS_BINDING='far'"):
        binding_of("users", config, {"CARVE_USERS_BINDING": "far"})
