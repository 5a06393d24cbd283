"""Metrics of several gateway workers, added up for one scrape."""

from __future__ import annotations

from pathlib import Path

from migration.gateway.traffic_metrics import GatewayMetrics
from migration.gateway.worker_metrics import WorkerMetrics


def _worker(folder: Path, number: int, answers: int, status: int = 200) -> WorkerMetrics:
    metrics = GatewayMetrics()
    for _ in range(answers):
        metrics.observe("/api", "inventory", status, 0.002)
    metrics.fallbacks[("/api", "status_503")] += 1
    metrics.refused[413] += number
    return WorkerMetrics(str(folder), number, metrics)


def test_a_scrape_adds_every_worker_and_says_each_ones_share(tmp_path: Path) -> None:
    first, second = _worker(tmp_path, 0, 7), _worker(tmp_path, 1, 5, status=502)
    second._file = tmp_path / "worker-1-2.json"  # another process's file  # noqa: SLF001
    second.publish()
    first.own.observe("/api", "inventory", 200, 0.2)  # live: not published yet, still counted
    total, by_worker = first.gathered()
    assert total.requests() == 13
    assert by_worker == {"0": 8, "1": 5}
    text = total.render({})
    assert 'carve_gateway_requests_total{route="/api",upstream="inventory",status="200"} 8' in text
    assert 'carve_gateway_requests_total{route="/api",upstream="inventory",status="502"} 5' in text
    assert 'carve_gateway_request_duration_seconds_count{route="/api",upstream="inventory"} 13' \
        in text
    assert 'carve_gateway_fallbacks_total{route="/api",reason="status_503"} 2' in text
    assert 'carve_gateway_refused_total{status="413"} 1' in text


def test_a_restarted_workers_predecessor_stays_counted(tmp_path: Path) -> None:
    before = _worker(tmp_path, 1, 4)
    before._file = tmp_path / "worker-1-100.json"  # noqa: SLF001
    before.publish()
    after = _worker(tmp_path, 1, 2)
    after._file = tmp_path / "worker-1-101.json"  # noqa: SLF001
    after.publish()
    scraped = _worker(tmp_path, 0, 1)
    total, by_worker = scraped.gathered()
    assert total.requests() == 7
    assert by_worker == {"0": 1, "1": 6}


def test_a_file_being_replaced_is_skipped_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "worker-3-9.json").write_text("{not json")
    total, by_worker = _worker(tmp_path, 0, 2).gathered()
    assert total.requests() == 2 and by_worker == {"0": 2}


def test_counts_never_go_back_from_one_scrape_to_the_next_whichever_worker_answers_it(
        tmp_path: Path) -> None:
    # Prometheus reads a counter that went down as a restart (and counts it all again).
    first, second = _worker(tmp_path, 0, 7), _worker(tmp_path, 1, 5)
    second._file = tmp_path / "worker-1-2.json"  # another process's file  # noqa: SLF001
    first.publish()
    second.publish()
    first.own.observe("/api", "inventory", 200, 0.2)  # since its last publish
    on_first = first.gathered()[0].requests()
    on_second = second.gathered()[0].requests()  # the next scrape, on the other worker
    assert on_first == 13
    assert on_second >= on_first
