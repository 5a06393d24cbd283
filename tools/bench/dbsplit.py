"""Benchmark: ``carve db split`` + ``verify`` against a binary COPY pipe; the cut-over's freeze.

PostgreSQL only (``CARVE_TEST_POSTGRES``, the ``postgres`` database of a local
server by default). Fresh databases are created for the run and dropped after:
a source migrated with every module whose ``inventory_stock`` holds 1,000,000
rows (100,000 with ``--quick``), the pipe's target, and a new split target per
round. Each round, in the same run and one after the other:

- the pipe: ``psql … COPY inventory_stock TO STDOUT (FORMAT binary) | psql …
  COPY inventory_stock FROM STDIN (FORMAT binary)`` through a shell, into a
  table made by the inventory migrations (truncated before each round);
- carve: ``start_split`` + ``run_split`` (schema, capture triggers, chunked
  copy, catch-up) timed as the split, then ``check`` (``carve db verify``);
  carve's rows/s is rows / (split s + verify s), the ratio carve's rows/s over
  the pipe's (goal at least 0.5);
- the cut-over: a writer thread sets stock levels through the monolith's
  inventory use case at 200 writes/s while ``cutover`` runs; the freeze it
  reports (goal at most 500 ms), the writer's worst write latency (retries
  included), its retries (``ModuleMoving``) and errors. A ``rollback`` (not
  timed) puts the module back for the next round.

Medians of the rounds are printed. The numbers are wall times on whatever else
the machine is doing: on a small shared machine they are noisy.

    python tools/bench/dbsplit.py [--quick] [--json] [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from contracts.inventory import StockLevel  # noqa: E402
from migration.datasplit.cutover import check, cutover, rollback  # noqa: E402
from migration.datasplit.split import run_split, start_split  # noqa: E402
from migration.runtime.project import Project  # noqa: E402
from migration.runtime.routing import ModuleMoving  # noqa: E402
from migration.runtime.settings import Settings  # noqa: E402
from monolith.bootstrap import bootstrap  # noqa: E402

ADMIN_URL = os.environ.get("CARVE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
MODULE = "inventory"
TABLE = "inventory_stock"
RATIO_GOAL = 0.5
FREEZE_GOAL_MS = 500.0
WRITE_RATE = 200
MAX_FREEZE_MS = 2000
WRITER_THREADS = 8


class Databases:
    """Fresh databases on the server of ``ADMIN_URL``, every one dropped at the end."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.base = admin_url.rsplit("/", 1)[0]
        self.prefix = f"carve_bench_{uuid.uuid4().hex[:8]}"
        self.names: list[str] = []

    def create(self, role: str) -> str:
        name = f"{self.prefix}_{role}"
        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        self.names.append(name)
        return name

    def drop(self, name: str) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self.names:
            self.names.remove(name)

    def libpq(self, name: str) -> str:
        """The database's libpq URI (psql, psycopg)."""
        return f"{self.base}/{name}"

    def sqlalchemy(self, name: str) -> str:
        """The database's SQLAlchemy URL (carve.toml, the journal)."""
        return self.libpq(name).replace("postgresql://", "postgresql+psycopg://", 1)

    def sql(self, name: str, statement: str) -> object:
        with psycopg.connect(self.libpq(name), autocommit=True) as connection:
            cursor = connection.execute(statement)
            return cursor.fetchone()[0] if cursor.description else None

    def checkpoint(self) -> None:
        """Flush dirty pages now, so no measurement pays for the previous one's."""
        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            admin.execute("CHECKPOINT")

    def __enter__(self) -> Databases:
        return self

    def __exit__(self, *exc_info: object) -> None:
        for name in list(self.names):
            self.drop(name)


def write_plan(folder: Path, database_url: str) -> Path:
    plan = folder / "carve.toml"
    plan.write_text(
        f'[project]\nmodules = "monolith.modules"\nsource = "{ROOT}"\n\n'
        f'[database]\nurl = "{database_url}"\n\n[modules.inventory]\nbinding = "local"\n',
        encoding="utf-8")
    return plan


class Timeline:
    """The split's report: remembers when each phase began, shows nothing."""

    def __init__(self) -> None:
        self.marks: dict[str, float] = {}

    def phase(self, journal) -> None:  # type: ignore[no-untyped-def]
        self.marks[journal.phase.value] = time.perf_counter()

    def rows(self, copied: int, total: int) -> None:
        pass


class Writer:
    """Sets stock levels through the inventory use case on a steady schedule of ``rate``/s.

    One write takes several milliseconds on a busy machine (two statements, a
    commit, a read back), more than 1/200 s, so a few threads share the
    schedule as concurrent requests would; each write waits for its slot.
    """

    def __init__(self, inventory, rate: int, threads: int) -> None:  # type: ignore[no-untyped-def]
        self.inventory = inventory
        self.rate = rate
        self.latencies: list[float] = []
        self.retries = 0
        self.errors: list[str] = []
        self.seconds = 0.0
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._next = 0
        self._started = 0.0
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def start(self) -> None:
        self._started = time.perf_counter()
        for thread in self._threads:
            thread.start()

    def finish(self) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        self.seconds = time.perf_counter() - self._started

    def _run(self) -> None:
        while not self.stop.is_set():
            with self._lock:
                self._next += 1
                i = self._next
            pause = self._started + i / self.rate - time.perf_counter()
            if pause > 0 and self.stop.wait(pause):
                return
            begun = time.perf_counter()
            if self._write(f"W-{i % 50}", i):
                with self._lock:
                    self.latencies.append((time.perf_counter() - begun) * 1000)

    def _write(self, sku: str, quantity: int) -> bool:
        while not self.stop.is_set():
            try:
                self.inventory.set_stock(sku, StockLevel(quantity=quantity))
                return True
            except ModuleMoving:
                with self._lock:
                    self.retries += 1
                time.sleep(0.01)
            except Exception as exc:  # noqa: BLE001 - counted and reported
                with self._lock:
                    self.errors.append(f"{type(exc).__name__}: {exc}"[:300])
                time.sleep(0.05)
                return False
        return False


def pipe_round(dbs: Databases, source: str, target: str, rows: int) -> float:
    """Seconds of the psql | psql binary COPY of the table into the (emptied) target."""
    dbs.sql(target, f"TRUNCATE {TABLE}")
    dbs.checkpoint()
    psql = "psql -X -q -v ON_ERROR_STOP=1 -d"
    command = (f"{psql} {shlex.quote(dbs.libpq(source))} "
               f"-c 'COPY {TABLE} TO STDOUT (FORMAT binary)' | "
               f"{psql} {shlex.quote(dbs.libpq(target))} "
               f"-c 'COPY {TABLE} FROM STDIN (FORMAT binary)'")
    started = time.perf_counter()
    done = subprocess.run(command, shell=True, capture_output=True, check=False)
    seconds = time.perf_counter() - started
    copied = dbs.sql(target, f"SELECT count(*) FROM {TABLE}")
    if done.returncode != 0 or copied != rows:
        raise RuntimeError(f"the COPY pipe copied {copied} of {rows} rows: "
                           f"{done.stderr.decode(errors='replace').strip()}")
    return seconds


def carve_round(dbs: Databases, plan: Path, target: str, rows: int) -> dict[str, float]:
    """Split the inventory module into ``target`` and verify it; seconds of each part."""
    shutil.rmtree(plan.parent / ".carve", ignore_errors=True)
    dbs.checkpoint()
    timeline = Timeline()
    with Project.load(plan, environ={}) as project:
        started = time.perf_counter()
        journal = start_split(project, MODULE, dbs.sqlalchemy(target))
        run_split(project, journal, timeline)
        split_done = time.perf_counter()
        verification = check(project, MODULE)
        verify_done = time.perf_counter()
    if not verification.equal or verification.rows != rows:
        raise RuntimeError(f"carve db verify: {verification.as_dict()}")
    marks = timeline.marks
    return {"split_s": split_done - started, "verify_s": verify_done - split_done,
            "schema_s": marks["copying"] - started,
            "copy_s": marks["catching up"] - marks["copying"],
            "catch_up_s": marks["ready for cut-over"] - marks["catching up"]}


def freeze_round(dbs: Databases, plan: Path, source: str, before_s: float,
                 after_s: float) -> dict[str, float | int | str | None]:
    """Cut over while the monolith writes steadily; roll back afterwards (not timed)."""
    system = bootstrap(Settings.from_env(plan, {}))
    writer = Writer(system.services[MODULE], WRITE_RATE, WRITER_THREADS)
    try:
        with ThreadPoolExecutor(WRITER_THREADS) as pool:  # every writer's connection open
            list(pool.map(lambda n: system.services[MODULE].set_stock(
                f"W-{n}", StockLevel(quantity=0)), range(WRITER_THREADS)))
        writer.start()
        time.sleep(before_s)
        with Project.load(plan, environ={}) as project:
            started = time.perf_counter()
            move = cutover(project, MODULE, max_freeze_ms=MAX_FREEZE_MS)
            cutover_s = time.perf_counter() - started
        time.sleep(after_s)
    finally:
        writer.finish()
        system.close()
    with Project.load(plan, environ={}) as project:
        rollback(project, MODULE, max_freeze_ms=MAX_FREEZE_MS)
    dbs.sql(source, f"DELETE FROM {TABLE} WHERE sku LIKE 'W-%'")  # the next round copies N rows
    latencies = sorted(writer.latencies)
    return {"freeze_ms": move.freeze_ms, "cutover_s": cutover_s, "drained": move.drained,
            "cutover_equal": bool(move.verification and move.verification.equal),
            "writer_max_latency_ms": latencies[-1] if latencies else 0.0,
            "writer_p99_latency_ms": latencies[min(int(len(latencies) * 0.99),
                                                   len(latencies) - 1)] if latencies else 0.0,
            "writes": len(latencies), "writes_per_s": len(latencies) / writer.seconds,
            "retries": writer.retries, "errors": len(writer.errors),
            "first_error": writer.errors[0] if writer.errors else None}


def run(rows: int, rounds: int, before_s: float, after_s: float) -> dict[str, object]:
    samples: list[dict[str, object]] = []
    with Databases(ADMIN_URL) as dbs, \
            tempfile.TemporaryDirectory(prefix="carve-bench-dbsplit-") as folder:
        source, piped = dbs.create("source"), dbs.create("pipe")
        plan = write_plan(Path(folder), dbs.sqlalchemy(source))
        with Project.load(plan, environ={}) as project:
            project.upgrade()
        with Project.load(plan, environ={"DATABASE_URL_INVENTORY": dbs.sqlalchemy(piped)}) as p:
            p.upgrade([MODULE])
        dbs.sql(source, f"INSERT INTO {TABLE} (sku, on_hand, reserved, updated_at) "
                        f"SELECT 'SKU-' || g, g, 0, now() FROM generate_series(1, {rows}) g")
        dbs.sql(source, f"VACUUM ANALYZE {TABLE}")
        for number in range(rounds):
            pipe_s = pipe_round(dbs, source, piped, rows)
            target = dbs.create(f"split{number}")
            carve = carve_round(dbs, plan, target, rows)
            freeze = freeze_round(dbs, plan, source, before_s, after_s)
            dbs.drop(target)
            samples.append({"pipe_s": pipe_s, **carve, **freeze})
    return summarize(rows, rounds, samples)


def summarize(rows: int, rounds: int, samples: list[dict[str, object]]) -> dict[str, object]:
    def median(key: str) -> float:
        return statistics.median(float(s[key]) for s in samples)  # type: ignore[arg-type]

    pipe_s, split_s, verify_s = median("pipe_s"), median("split_s"), median("verify_s")
    pipe_rate, carve_rate = rows / pipe_s, rows / (split_s + verify_s)
    ratio, freeze_ms = carve_rate / pipe_rate, median("freeze_ms")
    errors = [s["first_error"] for s in samples if s["first_error"]]
    return {
        "benchmark": "dbsplit", "rows": rows, "rounds": rounds,
        "pipe_s": round(pipe_s, 3), "pipe_rows_per_s": round(pipe_rate),
        "split_s": round(split_s, 3), "verify_s": round(verify_s, 3),
        "schema_s": round(median("schema_s"), 3), "copy_s": round(median("copy_s"), 3),
        "catch_up_s": round(median("catch_up_s"), 3),
        "copy_rows_per_s": round(rows / median("copy_s")),
        "verify_rows_per_s": round(rows / verify_s),
        "carve_rows_per_s": round(carve_rate), "ratio": round(ratio, 3),
        "ratio_goal": RATIO_GOAL, "ratio_met": ratio >= RATIO_GOAL,
        "freeze_ms": round(freeze_ms, 1), "freeze_goal_ms": FREEZE_GOAL_MS,
        "freeze_met": freeze_ms <= FREEZE_GOAL_MS, "write_rate_goal": WRITE_RATE,
        "writer_threads": WRITER_THREADS,
        "writes_per_s": round(median("writes_per_s"), 1),
        "writer_max_latency_ms": round(max(float(s["writer_max_latency_ms"])  # type: ignore[arg-type]
                                           for s in samples), 1),
        "writer_p99_latency_ms": round(median("writer_p99_latency_ms"), 1),
        "retries": sum(int(s["retries"]) for s in samples),  # type: ignore[call-overload]
        "errors": sum(int(s["errors"]) for s in samples),  # type: ignore[call-overload]
        "first_error": errors[0] if errors else None,
        "cutover_s": round(median("cutover_s"), 3),
        "cutover_verified": all(s["cutover_equal"] for s in samples),
        "samples": [{k: round(v, 3) if isinstance(v, float) else v for k, v in s.items()}
                    for s in samples],
    }


def render(result: dict[str, object], quick: bool) -> None:
    r = result
    rows = int(r["rows"])  # type: ignore[call-overload]
    print(f"carve db split of {rows:,} rows of {TABLE}, PostgreSQL to PostgreSQL, "
          f"median of {r['rounds']} round(s){' (quick)' if quick else ''}")
    print(f"  {'':28} {'seconds':>8} {'rows/s':>11}")
    lines = [("psql | psql binary COPY", r["pipe_s"], r["pipe_rows_per_s"]),
             ("carve split", r["split_s"], None),
             ("  schema + capture", r["schema_s"], None),
             ("  copy", r["copy_s"], r["copy_rows_per_s"]),
             ("  catch-up", r["catch_up_s"], None),
             ("carve verify", r["verify_s"], r["verify_rows_per_s"]),
             ("carve split + verify", float(r["split_s"]) + float(r["verify_s"]),  # type: ignore[arg-type]
              r["carve_rows_per_s"])]
    for name, seconds, rate in lines:
        shown = f"{rate:>11,}" if rate is not None else f"{'':>11}"
        print(f"  {name:28} {seconds:>8.2f} {shown}")
    ok = {True: "met", False: "MISSED"}
    print(f"  ratio carve/pipe: {r['ratio']:.2f} (goal >= {RATIO_GOAL}: {ok[r['ratio_met']]})")  # type: ignore[index]
    print(f"cut-over under {r['writes_per_s']} writes/s: freeze {r['freeze_ms']} ms "
          f"(goal <= {FREEZE_GOAL_MS:.0f} ms: {ok[r['freeze_met']]}), cut-over "  # type: ignore[index]
          f"{r['cutover_s']} s with its verify")
    print(f"  writer: worst write {r['writer_max_latency_ms']} ms, p99 "
          f"{r['writer_p99_latency_ms']} ms, {r['retries']} retries, {r['errors']} errors"
          + (f" (first: {r['first_error']})" if r["first_error"] else ""))
    print("  (wall times on a shared machine: expect noise between runs)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="100,000 rows, one round, under a minute")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 3, quick 1)")
    args = parser.parse_args()
    rows = 100_000 if args.quick else 1_000_000
    rounds = args.rounds or (1 if args.quick else 3)
    before_s, after_s = (1.5, 1.0) if args.quick else (3.0, 2.0)
    result = {"quick": args.quick, **run(rows, rounds, before_s, after_s)}
    if args.json:
        print(json.dumps(result))
        return
    render(result, args.quick)


if __name__ == "__main__":
    main()
