"""Pieces of the engine's NGINX configuration that are plain text rules."""

import re
from pathlib import Path

import pytest

from migration.gateway.body import REPLAYABLE_LIMIT
from migration.gateway.exports.spec import Upstream
from migration.gateway.nginx_config import _REQUEST_MAPS, EngineSetup, _answers, at_most


@pytest.mark.parametrize("limit", [0, 1, 9, 10, 100, 909, 65536, 1_000_000])
def test_at_most_matches_exactly_the_numbers_up_to_its_limit(limit: int) -> None:
    pattern = re.compile(at_most(limit))
    numbers = {*range(0, 1000), *range(max(0, limit - 1000), limit + 1000), 10 * limit + 7}
    wrong = [n for n in sorted(numbers) if bool(pattern.fullmatch(str(n))) != (n <= limit)]
    assert wrong == []


def test_the_engine_reads_a_body_whole_up_to_carves_replayable_limit() -> None:
    maps = iter(_REQUEST_MAPS)
    next(line for line in maps if "$carve_streamed" in line)
    pattern = re.compile(next(line for line in maps if '"~' in line).split('"')[1][1:])
    assert pattern.fullmatch(f"{REPLAYABLE_LIMIT}|")
    assert not pattern.fullmatch(f"{REPLAYABLE_LIMIT + 1}|")
    assert not pattern.fullmatch(f"{REPLAYABLE_LIMIT}|chunked")


def _setup(addresses: dict[str, str]) -> EngineSetup:
    upstreams = {name: Upstream.from_url(name, f"http://{address}")
                 for name, address in addresses.items()}
    return EngineSetup("127.0.0.1", 8080, Path("/tmp/engine"), 9000, upstreams, addresses)


def test_who_answered_is_found_by_the_group_and_the_addresses_nginx_tried() -> None:
    setup = _setup({"monolith": "127.0.0.1:8000", "inventory": "127.0.0.1:8001"})
    names = {"monolith": "carve_monolith", "inventory": "carve_inventory"}
    assert _answers(setup, ["inventory"], names) == {
        # a group's own server alone: the common case, no fallback
        "carve_monolith 127.0.0.1:8000": "", "carve_inventory 127.0.0.1:8001": "",
        "carve_inventory-alone 127.0.0.1:8001": "",
        # the service's group went straight to its backup: NGINX's breaker
        "carve_inventory 127.0.0.1:8000": "breaker_open",
        "carve_inventory 127.0.0.1:8000, carve_inventory": "breaker_open"}


def test_a_service_at_the_monolith_s_own_address_counts_as_the_service() -> None:
    shared = _setup({"monolith": "127.0.0.1:8000", "inventory": "127.0.0.1:8000"})
    names = {"monolith": "carve_monolith", "inventory": "carve_inventory"}
    assert "breaker_open" not in _answers(shared, ["inventory"], names).values()
