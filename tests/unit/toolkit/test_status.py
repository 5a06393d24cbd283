"""``carve status``'s steps: what a gateway's routes and audit say, and whose database it is."""

from types import SimpleNamespace

import pytest

from migration.gateway.admin_views import RouteView
from migration.gateway.store.base import AuditEntry
from migration.status.report import GatewayView, State, same_database, traffic_steps

PREFIX = "/api/v1/inventory"
SPEC = SimpleNamespace(contract=SimpleNamespace(prefix=lambda: PREFIX))
SLO = {"max_error_rate": 0.05, "max_p99_ms": 1000.0, "min_requests": 20}
DAY = 86400.0  # 1970-01-02 00:00 UTC


def route(mode: str, prefix: str = PREFIX, **extra) -> RouteView:
    return RouteView.model_validate({"prefix": prefix, "mode": mode, "service": "inventory",
                                     "percent": 0, "slo": SLO, **extra})


def entry(old: str | None, new: str, at: float = DAY, automatic: bool = False,
          reason: str = "", evidence: dict | None = None) -> AuditEntry:
    return AuditEntry.model_validate({
        "prefix": PREFIX, "old": route(old) if old else None, "new": route(new), "at": at,
        "automatic": automatic, "reason": reason, "evidence": evidence})


def window(requests: int = 30, breach: str | None = None) -> dict:
    return {"percent": 25, "requests": requests, "error_rate": 0.0, "p99_ms": 12.0,
            "breach": breach}


def traffic(routes: list[RouteView], audit: list[AuditEntry] = ()) -> tuple:
    five, six = traffic_steps(SPEC, GatewayView(routes, list(audit)))
    return (five.state, five.evidence), (six.state, six.evidence)


def test_the_longest_route_that_covers_the_contract_is_the_modules():
    view = GatewayView([route("service", "/"), route("canary", "/api/v1"),
                        route("shadow", "/api/v1/inventoryx")], [])
    assert view.route_for(PREFIX).prefix == "/api/v1"


def test_routes_below_the_contract_are_a_start():
    five, _ = traffic([route("service", PREFIX + "/stock")])
    assert five == (State.STARTED, f"routes within {PREFIX}: {PREFIX}/stock service; "
                                   "the monolith serves the rest")


def test_a_canary_shows_its_share_and_its_live_window():
    live = {"requests": 91, "error_rate": 0.011, "p99_ms": 15.2}
    five, six = traffic([route("canary", percent=25, slo_window=live)])
    assert five == (State.STARTED, "canary 25% → inventory")
    assert six == (State.STARTED, "canary window: 91 requests, 1.1% errors, p99 15 ms "
                                  "(SLO 5% errors, p99 1000 ms)")


@pytest.mark.parametrize(("automatic", "how"), [(True, "automatically"), (False, "by hand")])
def test_a_canary_rolled_back_is_evidence_of_monitoring(automatic, how):
    five, six = traffic([route("monolith")], [
        entry("canary", "monolith", automatic=automatic, reason="error rate 40%")])
    assert five[0] is State.NOT_STARTED
    assert six == (State.STARTED, f"a canary ran, rolled back {how} 1970-01-02 00:00 UTC: "
                                  "error rate 40%")


@pytest.mark.parametrize(("promotion", "state", "says"), [
    (entry("canary", "service", evidence=window()), State.DONE,
     "from a canary of 25% within its SLO: 30 requests, 0.0% errors, p99 12 ms"),
    (entry("canary", "service", evidence=window(requests=3)), State.STARTED,
     "fewer than the 20 its SLO needs"),
    (entry("canary", "service", evidence=window(breach="error rate 40%")), State.STARTED,
     "from a canary in breach: error rate 40%"),
    (entry("canary", "service"), State.STARTED, "window was not recorded"),
    (entry("monolith", "service"), State.STARTED, "without a canary before it"),
])
def test_a_service_route_is_done_only_when_promoted_from_a_canary_within_its_slo(
        promotion, state, says):
    five, six = traffic([route("service")], [promotion])
    assert five == (State.DONE, "service → inventory since 1970-01-02 00:00 UTC")
    assert six[0] is state and says in six[1]


def test_shadow_shows_what_was_compared():
    stats = {"compared": 40, "differed": 1, "diff_rate": 0.025, "service_failed": 0,
             "dropped": 0}
    five, _ = traffic([route("shadow", shadow_stats=stats)])
    assert five == (State.STARTED, "shadow → inventory: 40 compared, 2.5% differ")


@pytest.mark.parametrize(("first", "second", "same"), [
    ("postgres://u@db/carve", "postgresql://u@db/carve", True),
    ("postgresql://u@db/carve", "postgresql://u@db/inventory", False),
    ("sqlite:///carve.db", "sqlite:///./carve.db", True),
    ("sqlite:///carve.db", "sqlite:///inventory.db", False),
])
def test_one_database_under_two_spellings_is_one_database(first, second, same):
    assert same_database(first, second) is same
