"""The route-changes use case on the in-memory store, without HTTP."""

import pytest

from migration.gateway.current_table import CurrentTable
from migration.gateway.route_changes import (
    ChangedMeanwhile,
    InvalidRoute,
    RouteChange,
    RouteChanges,
    UnknownRoute,
    UnknownService,
)
from migration.gateway.routes import Route, RouteMode, RouteTable
from migration.gateway.slo_window import SloTracker
from tests.fakes import FakeClock, MemoryToggleStore

pytestmark = pytest.mark.anyio
INVENTORY = "/api/v1/inventory"
UPSTREAMS = {"monolith": object(), "inventory": object()}


def use_case(*routes: Route) -> tuple[RouteChanges, MemoryToggleStore, CurrentTable, SloTracker]:
    store = MemoryToggleStore(RouteTable(list(routes)))
    current = CurrentTable(UPSTREAMS, store.table)
    tracker = SloTracker(FakeClock())
    return RouteChanges(store, current, tracker, UPSTREAMS), store, current, tracker


async def test_a_change_is_stored_audited_and_applied_at_once():
    changes, store, current, _ = use_case()
    entry = await changes.set(RouteChange(prefix=INVENTORY + "/", mode=RouteMode.SERVICE,
                                          reason="promoted"))
    assert (entry.prefix, entry.old, entry.reason, entry.version) == (INVENTORY, None,
                                                                      "promoted", 1)
    assert entry.new.service == "inventory"  # named by the contract prefix
    assert current.table.get(INVENTORY).mode is RouteMode.SERVICE
    assert store.entries == [entry]


async def test_a_new_canary_needs_a_percent_and_nothing_changes_without_one():
    changes, store, current, _ = use_case()
    with pytest.raises(InvalidRoute, match="a canary needs a percent"):
        await changes.set(RouteChange(prefix=INVENTORY, mode=RouteMode.CANARY))
    assert store.entries == [] and current.table.routes == []


async def test_a_service_without_a_url_is_refused():
    changes, store, _, _ = use_case()
    with pytest.raises(UnknownService, match="'billing' has no URL here"):
        await changes.set(RouteChange(prefix="/api/v1/billing", mode=RouteMode.SERVICE,
                                      service="billing"))
    assert store.entries == []


async def test_a_bad_prefix_is_refused_by_name():
    changes, _, _, _ = use_case()
    with pytest.raises(InvalidRoute, match="prefix 'api'"):
        await changes.roll_back("api", "why")


async def test_back_to_the_monolith_keeps_the_routes_settings():
    canary = Route(prefix=INVENTORY, mode=RouteMode.CANARY, service="inventory", percent=25)
    changes, _, current, _ = use_case(canary)
    entry = await changes.roll_back(INVENTORY, "by hand")
    assert (entry.new.mode, entry.new.percent, entry.new.service) == (RouteMode.MONOLITH, 0,
                                                                      "inventory")
    assert current.table.get(INVENTORY) == entry.new
    with pytest.raises(UnknownRoute):
        await changes.roll_back("/api/v1/users", "no such route")


async def test_leaving_a_canary_records_its_window_as_evidence():
    canary = Route(prefix=INVENTORY, mode=RouteMode.CANARY, service="inventory", percent=25)
    changes, _, _, tracker = use_case(canary)
    window = tracker.window(canary)
    for n in range(4):
        window.record(n == 0, 0.02)
    entry = await changes.set(RouteChange(prefix=INVENTORY, mode=RouteMode.SERVICE))
    assert (entry.evidence.percent, entry.evidence.requests, entry.evidence.error_rate) == (
        25, 4, 0.25)


async def test_a_breach_rollback_leaves_a_route_changed_since_alone():
    seen = Route(prefix=INVENTORY, mode=RouteMode.CANARY, service="inventory", percent=25)
    raised = seen.model_copy(update={"percent": 50})
    changes, store, _, _ = use_case(raised)
    with pytest.raises(ChangedMeanwhile):
        await changes.roll_back_breach(seen, "SLO breach")
    assert store.table.get(INVENTORY) == raised
    entry = await changes.roll_back_breach(raised, "SLO breach")
    assert entry.automatic and entry.new.mode is RouteMode.MONOLITH
