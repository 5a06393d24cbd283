"""Shadow diffs with ignored fields; the canary SLO window."""

from bisect import bisect_left

from migration.gateway.routes import Slo
from migration.gateway.shadow_diff import ShadowRecorder, compare
from migration.gateway.slo_window import _BOUNDS, SloWindow, _Slot


def test_equal_json_bodies_do_not_differ_whatever_their_key_order():
    assert compare(200, b'{"a": 1, "b": [1, 2]}', 200, b'{"b": [1, 2], "a": 1}', ()) == []


def test_differences_name_the_fields_and_the_status():
    found = compare(200, b'{"a": 1, "b": {"c": 2}}', 201, b'{"a": 1, "b": {"c": 3}}', ())
    assert found == ["status (200 != 201)", "b.c"]


def test_ignored_fields_may_use_a_wildcard():
    monolith = b'{"generated_at": 1, "items": [{"id": 1, "etag": "x"}]}'
    service = b'{"generated_at": 2, "items": [{"id": 1, "etag": "y"}]}'
    assert compare(200, monolith, 200, service, ("generated_at", "items.*.etag")) == []


def test_non_json_bodies_compare_as_bytes():
    assert compare(200, b"<html>", 200, b"<html>", ()) == []
    assert compare(200, b"<html>", 200, b"<body>", ()) == ["body (bytes differ)"]


def test_the_recorder_keeps_a_rate_and_samples_of_what_differed():
    recorder = ShadowRecorder()
    recorder.record("/api", "GET", "/api/a", 200, 200, [])
    recorder.record("/api", "GET", "/api/b", 200, 500, ["status (200 != 500)"])
    report = recorder.stats("/api").as_json()
    assert report["diff_rate"] == 0.5
    assert report["samples"][0]["path"] == "/api/b"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_an_error_rate_over_the_slo_is_a_breach_once_there_are_enough_requests():
    clock = Clock()
    window = SloWindow(clock)
    slo = Slo(max_error_rate=0.1, min_requests=10, window_seconds=30)
    for n in range(9):
        window.record(n % 2 == 0, 0.01)
    assert window.verdict(slo).breach is None
    window.record(True, 0.01)
    assert "error rate" in window.verdict(slo).breach


def test_a_slow_p99_is_a_breach_and_old_calls_leave_the_window():
    clock = Clock()
    window = SloWindow(clock)
    slo = Slo(max_p99_ms=100, min_requests=5, window_seconds=10)
    for _ in range(5):
        window.record(False, 0.5)
    assert "p99" in window.verdict(slo).breach
    clock.now = 11
    assert window.verdict(slo).requests == 0


def test_the_p99_is_a_latency_seen_within_two_percent_of_the_exact_one():
    clock = Clock()
    window = SloWindow(clock)
    latencies = [0.001 + 0.0007 * ((n * 7919) % 1000) for n in range(5000)]  # 1 to 700 ms
    for n, seconds in enumerate(latencies):
        clock.now = n / 1000  # five seconds of traffic, in five slots
        window.record(False, seconds)
    exact = sorted(latencies)[int(len(latencies) * 0.99)] * 1000
    p99 = window.verdict(Slo(window_seconds=30)).p99_ms
    assert exact <= p99 <= exact * 1.02
    assert p99 / 1000 in latencies  # one that was seen, not a bucket's bound


def test_a_busy_window_keeps_one_slot_a_second_however_many_answers():
    clock = Clock()
    window = SloWindow(clock)
    for n in range(100_000):
        clock.now = n / 10_000  # 10,000 answers a second for ten seconds
        window.record(n % 100 == 0, 0.002)
    verdict = window.verdict(Slo(window_seconds=30, max_error_rate=0.05))
    assert len(window._slots) == 10  # noqa: SLF001
    assert verdict.requests == 100_000 and verdict.error_rate == 0.01
    clock.now = 15.5  # a window of 10 s now covers the last half of second 5 on
    assert window.verdict(Slo(window_seconds=10)).requests == 50_000


def test_a_second_sorted_into_its_slot_has_the_histogram_of_its_answers_one_by_one():
    # Latencies on bucket bounds, just past them, past the last bound, and repeated.
    latencies = [_BOUNDS[0], _BOUNDS[0] * 0.5, _BOUNDS[5], _BOUNDS[5] * 1.0001, _BOUNDS[-1],
                 _BOUNDS[-1] * 2, 7200.0, 0.0, 0.0]
    latencies += [0.0003 + 0.00011 * ((n * 7919) % 997) for n in range(3000)]
    counts: dict[int, int] = {}
    slowest: dict[int, float] = {}
    for seconds in latencies:
        at = bisect_left(_BOUNDS, seconds)
        counts[at] = counts.get(at, 0) + 1
        slowest[at] = max(slowest.get(at, -1.0), seconds)
    slot = _Slot.of(7, list(latencies), errors=4)
    assert (slot.second, slot.total, slot.errors) == (7, len(latencies), 4)
    assert slot.counts == counts
    assert slot.slowest == slowest


def test_a_reading_in_the_middle_of_a_second_loses_none_of_its_answers():
    clock = Clock()
    window = SloWindow(clock)
    slo = Slo(window_seconds=10, max_error_rate=0.5)
    for n in range(10):
        window.record(n < 2, 0.01)
        if n == 4:
            assert window.verdict(slo).requests == 5
    verdict = window.verdict(slo)
    assert (verdict.requests, verdict.error_rate) == (10, 0.2)
    clock.now = 11  # the second both readings were in is wholly out of the window
    assert window.verdict(slo).requests == 0
