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


def _map(variable: str) -> list[tuple[re.Pattern[str], str]]:
    """A regex map of _REQUEST_MAPS as (regex, value) pairs, for Python's re."""
    lines = iter(_REQUEST_MAPS)
    next(line for line in lines if line.endswith(f"{variable} {{"))
    pairs = []
    for line in lines:
        if line == "}":
            return pairs
        key, _, value = line.strip().rpartition(" ")
        if key.startswith('"~'):
            # (PCRE's named group is Python's (?P<…>))
            pattern = key.strip('"')[1:].replace("(?<", "(?P<")
            pairs.append((re.compile(pattern), value.rstrip(";")))
    raise AssertionError(f"no end of the map of {variable}")


def _reason(statuses: str, heads: str) -> str:
    for pattern, value in _map("$carve_failed_call"):
        if found := pattern.search(f"{statuses}|{heads}"):
            return value.replace("$carve_failed", found.groupdict().get("carve_failed") or "")
    return ""


@pytest.mark.parametrize(("statuses", "heads", "reason"), [
    ("200", "0.001", ""),  # one call, answered
    ("500, 200", "0.004, 0.001", "status_500"),  # passed on after its 500
    ("503, 502", "0.001, -", "status_503"),
    ("502, 200", "-, 0.001", "gateway.upstream_unavailable"),  # no connection
    ("504, 200", "-, 0.001", "gateway.upstream_timeout"),  # no answer in time
    ("502, 200", "0.002, 0.001", "status_502"),  # the service's own 502
    ("502 : 200", "- : 0.001", "gateway.upstream_unavailable"),  # across an error page
])
def test_why_a_call_was_passed_on_is_said_as_carves_own_data_plane_says_it(
        statuses: str, heads: str, reason: str) -> None:
    assert _reason(statuses, heads) == reason


def test_the_trace_context_is_continued_or_a_new_one_made() -> None:
    request_id = "0123456789abcdef" + "fedcba9876543210"

    def traceparent(header: str) -> str:
        for pattern, value in _map("$carve_traceparent"):
            if found := pattern.search(f"{header} {request_id}"):
                return re.sub(r"\$(\d)", lambda m: found.group(int(m.group(1))),
                              value.strip('"'))
        raise AssertionError("no regex of the map matched")

    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    # continued: the client's trace, the gateway's span (the request id's last 64 bits)
    assert traceparent(f"00-{trace}-00f067aa0ba902b7-01") == f"00-{trace}-fedcba9876543210-01"
    # none, invalid or upper-case hex (invalid per W3C): a new trace, the request id's bits
    for header in ("", "garbage", f"00-{trace.upper()}-00f067aa0ba902b7-01",
                   f"00-{trace}-00f067aa0ba902b7-01 {trace}"):
        assert traceparent(header) == f"00-{request_id}-fedcba9876543210-01", header
