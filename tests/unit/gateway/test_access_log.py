"""The NGINX engine's access log, read into carve's metrics and canary windows."""

from pathlib import Path

from migration.gateway.access_log import AccessLog
from migration.gateway.current_table import CurrentTable
from migration.gateway.routes import Route, RouteMode, RouteTable, Slo
from migration.gateway.slo_window import SloTracker
from migration.gateway.traffic_metrics import GatewayMetrics
from tests.fakes import FakeClock

CANARY = Route(prefix="/api/v1/inventory", mode=RouteMode.CANARY, service="inventory",
               percent=50, slo=Slo(min_requests=1))
SERVICE = Route(prefix="/api/v1/orders", mode=RouteMode.SERVICE, service="orders")
UPSTREAMS = ("monolith", "inventory", "orders")


def line(route: str, declared: str, status: int, took: str, statuses: str, times: str,
         reason: str = "") -> bytes:
    """A line as NGINX writes it (nginx_config.LOG_FORMAT; escape=none writes an empty
    variable as nothing): ``reason`` is why the monolith answered for the service, as the
    engine's maps say it (nginx_config._answers)."""
    return "\t".join([route, declared, str(status), took, reason, statuses, times]).encode()


def reader(tmp_path: Path) -> tuple[AccessLog, GatewayMetrics, SloTracker, FakeClock]:
    clock = FakeClock()
    tracker = SloTracker(clock)
    metrics = GatewayMetrics()
    current = CurrentTable(dict.fromkeys(UPSTREAMS), RouteTable([CANARY, SERVICE]))
    log = AccessLog(tmp_path / "access.log", metrics, tracker, current, clock)
    return log, metrics, tracker, clock


def write(path: Path, *lines: bytes, end: bytes = b"\n") -> None:
    with path.open("ab") as out:
        out.write(b"\n".join(lines) + end)


def counts(metrics: GatewayMetrics) -> dict[tuple[str, str, str], int]:
    found = {}
    for route, upstream, statuses, _ in metrics.snapshot()["series"]:
        for status, n in statuses.items():
            found[(route, upstream, status)] = n
    return found


def test_each_request_is_counted_by_who_answered_it(tmp_path: Path) -> None:
    log, metrics, tracker, _ = reader(tmp_path)
    assert log.read() == 0  # no log yet: nothing, no error
    ok = line("/api/v1/inventory", "inventory", 200, "0.002", "200", "0.002")
    write(log.path, ok, ok, ok,
          # the service failed, the monolith answered (NGINX passed the call on)
          line("/api/v1/inventory", "inventory", 200, "0.010", "500, 200", "0.004, 0.005",
               "status_500"),
          # no connection to the service: the monolith answered
          line("/api/v1/inventory", "inventory", 200, "0.002", "502, 200", "0.000, 0.001",
               "gateway.upstream_unavailable"),
          # the service marked down: its group went straight to the backup
          line("/api/v1/inventory", "inventory", 200, "0.001", "200", "0.001",
               "breaker_open"),
          line("/api/v1/inventory", "monolith", 404, "0.001", "404", "0.001"),
          line("unrouted", "monolith", 200, "0.001", "200", "0.001"),
          line("/api/v1/orders", "orders", 503, "0.001", "503", "0.001"),
          # passed over, and the monolith failed too: no server left in the group
          line("/api/v1/orders", "orders", 502, "0.001", "503, 502", "0.001, 0.000",
               "breaker_open"),
          # answered by NGINX itself: a body too large, a request it could not parse
          line("unrouted", "monolith", 413, "0.000", "", ""),
          line("", "", 400, "0.000", "", ""))
    assert log.read() == 12
    assert counts(metrics) == {
        ("/api/v1/inventory", "inventory", "200"): 3,
        ("/api/v1/inventory", "monolith", "200"): 3,
        ("/api/v1/inventory", "monolith", "404"): 1,
        ("unrouted", "monolith", "200"): 1,
        ("/api/v1/orders", "orders", "503"): 1,
        ("/api/v1/orders", "monolith", "502"): 1,
        ("unrouted", "gateway", "413"): 1,
        ("unrouted", "gateway", "400"): 1,
    }
    assert dict(metrics.fallbacks) == {
        ("/api/v1/inventory", "status_500"): 1,
        ("/api/v1/inventory", "gateway.upstream_unavailable"): 1,
        ("/api/v1/inventory", "breaker_open"): 1,
        ("/api/v1/orders", "breaker_open"): 1}
    # The canary's window saw the service's six answers, three of them failures; a monolith
    # answer on the canary's other side is not the service's.
    verdict = tracker.window(CANARY).verdict(CANARY.slo)
    assert (verdict.requests, verdict.error_rate) == (6, 0.5)
    assert verdict.breach is not None


def test_a_line_is_taken_once_it_is_whole(tmp_path: Path) -> None:
    log, metrics, _, _ = reader(tmp_path)
    whole = line("unrouted", "monolith", 200, "0.001", "200", "0.001")
    write(log.path, whole, whole[:10], end=b"")
    assert log.read() == 1
    with log.path.open("ab") as out:
        out.write(whole[10:] + b"\n")
    assert log.read() == 1
    assert counts(metrics) == {("unrouted", "monolith", "200"): 2}


def test_a_line_carve_cannot_read_is_counted_and_skipped(tmp_path: Path) -> None:
    log, metrics, _, _ = reader(tmp_path)
    write(log.path, b"garbage", line("unrouted", "monolith", 200, "x", "200", "0.1"),
          b"\t".join([b"unrouted", b"monolith", b"200"]),
          line("unrouted", "monolith", 200, "0.001", "200", "0.001"))
    assert log.read() == 4
    assert log.malformed == 3
    assert counts(metrics) == {("unrouted", "monolith", "200"): 1}


def test_a_rotated_log_is_read_to_its_end_then_the_new_one(tmp_path: Path,
                                                             monkeypatch) -> None:
    import migration.gateway.access_log as access_log

    monkeypatch.setattr(access_log, "ROTATE_BYTES", 100)  # three lines, not two
    log, metrics, _, clock = reader(tmp_path)
    one = line("unrouted", "monolith", 200, "0.001", "200", "0.001")
    write(log.path, *[one] * 3)
    assert log.read() == 3
    reopened = []
    kept = log.path.open("ab")  # NGINX's descriptor of the old file, kept until it reopens
    assert log.rotate_if_large(lambda: reopened.append(True))
    assert reopened == [True] and not log.path.exists()
    kept.write(one + b"\n")  # written before NGINX reopened: still read
    kept.close()
    write(log.path, one, one)  # NGINX's new file
    assert log.read() == 1  # the old file only, until it has had time to be flushed
    clock.now += 3
    assert log.read() == 2
    assert counts(metrics) == {("unrouted", "monolith", "200"): 6}
    assert not log.rotate_if_large(lambda: reopened.append(True))  # small again
    log.close()
