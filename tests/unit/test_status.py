"""``carve status``'s steps 5 and 6: what a gateway's routes and audit log say of a module."""

from types import SimpleNamespace

import pytest

from migration.status.report import GatewayView, State, traffic_steps

PREFIX = "/api/v1/inventory"
SPEC = SimpleNamespace(contract=SimpleNamespace(prefix=lambda: PREFIX))
SLO = {"max_error_rate": 0.05, "max_p99_ms": 1000.0}


def route(mode: str, prefix: str = PREFIX, **extra) -> dict:
    return {"prefix": prefix, "mode": mode, "service": "inventory", "percent": 0, "slo": SLO,
            **extra}


def entry(mode: str, at: float = 0.0, automatic: bool = False, reason: str = "") -> dict:
    return {"prefix": PREFIX, "new": {"mode": mode}, "at": at, "automatic": automatic,
            "reason": reason}


def traffic(routes: list[dict], audit: list[dict] = ()) -> tuple:
    five, six = traffic_steps(SPEC, GatewayView(routes, list(audit)))
    return (five.state, five.evidence), (six.state, six.evidence)


def test_the_longest_route_that_covers_the_contract_is_the_modules():
    view = GatewayView([route("service", "/"), route("canary", "/api/v1"),
                        route("shadow", "/api/v1/inventoryx")], [])
    assert view.route_for(PREFIX)["prefix"] == "/api/v1"


def test_a_canary_shows_its_share_and_its_live_window():
    window = {"requests": 91, "error_rate": 0.011, "p99_ms": 15.2}
    five, six = traffic([route("canary", percent=25, slo_window=window)])
    assert five == (State.STARTED, "canary 25% → inventory")
    assert six == (State.STARTED, "canary window: 91 requests, 1.1% errors, p99 15 ms "
                                  "(SLO 5% errors, p99 1000 ms)")


def test_an_automatic_rollback_is_the_evidence_of_monitoring():
    five, six = traffic([route("monolith")], [
        entry("monolith", at=86400, automatic=True, reason="SLO breach: error rate 0.4")])
    assert five[0] is State.NOT_STARTED
    assert six == (State.STARTED, "rolled back automatically 1970-01-02 00:00 UTC: "
                                  "SLO breach: error rate 0.4")


@pytest.mark.parametrize(("audit", "state", "says"), [
    ([entry("service", at=86400), entry("canary")], State.DONE, "after a canary"),
    ([entry("service", at=86400)], State.STARTED, "without a canary"),
])
def test_a_service_route_is_done_only_if_a_canary_came_first(audit, state, says):
    five, six = traffic([route("service")], audit)
    assert five == (State.DONE, "service → inventory since 1970-01-02 00:00 UTC")
    assert six[0] is state and says in six[1]


def test_shadow_shows_what_was_compared():
    stats = {"compared": 40, "diff_rate": 0.025}
    five, _ = traffic([route("shadow", shadow_stats=stats)])
    assert five == (State.STARTED, "shadow → inventory: 40 compared, 2.5% differ")
