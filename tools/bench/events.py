"""Events from commit to applied effect: carve (outbox, relay, dramatiq, inbox) vs raw dramatiq.

Both sides apply the same effect (one INSERT) with one worker process of 8
threads, on the same Redis and PostgreSQL, in the same run:
- raw: messages sent straight to a dramatiq actor, no outbox, no inbox;
- carve: events committed to an outbox, moved by `carve run relay`'s code,
  applied through Consumer.apply (inbox row in the same transaction).

Throughput: N events are committed (raw: enqueued) while the pipeline is
stopped, then the pipeline starts and the time to apply all N gives events/s.
Latency: events are produced at a steady rate and commit-to-effect is measured.

    python tools/bench/events.py [--quick] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tools.bench.events_sides import (  # noqa: E402
    BenchDatabase,
    produce_carve,
    produce_raw,
    wait_applied,
)

ADMIN_URL = os.environ.get("CARVE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(len(ordered) * share), len(ordered) - 1)] if ordered else 0.0


def _start(role: str, db: BenchDatabase, namespace: str, gate: Path) -> subprocess.Popen[bytes]:
    script = ROOT / "tools" / "bench" / "events_sides.py"
    return subprocess.Popen(
        [sys.executable, str(script), role, db.url, REDIS_URL, namespace, str(gate)], cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def _open_gate(gate: Path, processes: list[subprocess.Popen[bytes]]) -> None:
    """Wait until every process is set up, then let them all start at once."""
    deadline = time.monotonic() + 60
    while len(list(gate.parent.glob(f"{gate.name}.*.ready"))) < len(processes):
        if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
            raise RuntimeError("a benchmark process did not start")
        time.sleep(0.01)
    gate.touch()


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(timeout=20)


def _measure(side: str, db: BenchDatabase, count: int, rate: int, latency_count: int) -> dict:
    namespace = f"carve-bench-{uuid.uuid4().hex[:8]}"
    roles = ["carve-worker", "relay"] if side == "carve" else ["raw-worker"]
    produce = produce_carve if side == "carve" else produce_raw
    db.reset()
    gate = Path(tempfile.mkdtemp(prefix="carve-bench-")) / "go"
    processes = [_start(role, db, namespace, gate) for role in roles]
    try:
        produce(db, REDIS_URL, namespace, count, rate=None)  # a backlog, pipeline waiting
        _open_gate(gate, processes)
        started = time.perf_counter()
        wait_applied(db, count, timeout=300)
        elapsed = time.perf_counter() - started
        db.reset()
        commits = produce(db, REDIS_URL, namespace, latency_count, rate=rate)
        wait_applied(db, latency_count, timeout=120)
        latencies = [(applied - commits[key]) * 1000 for key, applied in db.applied().items()]
    finally:
        _stop(processes)
        shutil.rmtree(gate.parent, ignore_errors=True)
        db.forget_namespace(REDIS_URL, namespace)
    return {"events": count, "seconds": round(elapsed, 2), "rate": round(count / elapsed, 1),
            "p50_ms": round(_percentile(latencies, 0.5), 1),
            "p99_ms": round(_percentile(latencies, 0.99), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run, under a minute")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    count, latency_count, rate = (2_000, 300, 150) if args.quick else (10_000, 1_500, 300)
    with BenchDatabase.create(ADMIN_URL) as db:
        raw = _measure("raw", db, count, rate, latency_count)
        carve = _measure("carve", db, count, rate, latency_count)
    result = {"benchmark": "events", "quick": args.quick, "latency_rate_per_s": rate,
              "raw": raw, "carve": carve, "ratio": round(carve["rate"] / raw["rate"], 3)}
    if args.json:
        print(json.dumps(result))
        return
    print(f"events from commit to effect ({count} events, 1 worker process x 8 threads)")
    for name, row in (("raw dramatiq", raw), ("carve", carve)):
        print(f"  {name:13} {row['rate']:8.1f} events/s   p50 {row['p50_ms']:6.1f} ms   "
              f"p99 {row['p99_ms']:6.1f} ms  (at {rate}/s)")
    print(f"  ratio carve/raw: {result['ratio']:.2f}")


if __name__ == "__main__":
    main()
