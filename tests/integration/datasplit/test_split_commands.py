"""``carve db split/verify/cutover/rollback`` as a user runs them: resume, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, text

from migration.datasplit.journal import Journals
from migration.runtime.project import Project
from tests.support.datasplit import Split, stock_rows, write_plan
from tests.support.processes import ROOT
from tests.support.waiting import wait_for


def carve(plan: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "migration.cli", *args, "--config", str(plan)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "200", **env})


def copied(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            if not engine.dialect.has_table(connection, "carve_split_copy"):
                return 0
            return connection.execute(text("SELECT coalesce(sum(rows), 0) FROM carve_split_copy")
                                      ).scalar_one()
    finally:
        engine.dispose()


def test_a_split_killed_mid_copy_resumes_after_its_last_chunk(split: Split) -> None:
    stock_rows(split, 200_000)
    command = [sys.executable, "-m", "migration.cli", "db", "split", "inventory", "--to",
               split.target, "--batch", "500", "--config", str(split.plan)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    wait_for(lambda: copied(split.target) >= 2000, 60, 0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    at_kill = copied(split.target)
    assert 2000 <= at_kill < 200_000  # killed part-way through
    status = json.loads(carve(split.plan, "db", "status", "--json").stdout)
    stopped = next(row for row in status if row["module"] == "inventory")["split"]
    assert (stopped["phase"], stopped["rows_copied"]) == ("copying", at_kill)

    resumed = carve(split.plan, "db", "split", "inventory", "--resume", "--json")
    assert resumed.returncode == 0, resumed.stderr
    phases = [json.loads(line)["phase"] for line in resumed.stdout.splitlines()]
    assert phases == ["catching up", "ready for cut-over"]
    # Every row once: a chunk copied twice would have hit the primary key; the
    # checkpoints add up to exactly the rows in the target.
    assert split.scalar(split.target, "SELECT count(*) FROM inventory_stock") == 200_000
    assert copied(split.target) == 200_000
    verified = carve(split.plan, "db", "verify", "inventory", "--json")
    assert verified.returncode == 0 and json.loads(verified.stdout)["equal"] is True


def test_verify_names_the_keys_that_differ_and_ignores_changes_in_flight(split: Split) -> None:
    stock_rows(split, 50_000)
    assert carve(split.plan, "db", "split", "inventory", "--to", split.target).returncode == 0
    split.execute(split.target, "UPDATE inventory_stock SET on_hand = -1 WHERE sku = 'SKU-31337'")
    split.execute(split.target, "DELETE FROM inventory_stock WHERE sku = 'SKU-7'")
    split.execute(split.target, "INSERT INTO inventory_stock VALUES ('ONLY-THERE', 1, 0, now())")
    split.execute(split.source, "UPDATE inventory_stock SET on_hand = 0 WHERE sku = 'SKU-9'")

    result = carve(split.plan, "db", "verify", "inventory", "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    stock = next(t for t in report["tables"] if t["table"] == "inventory_stock")
    assert sorted((d["key"], d["kind"]) for d in stock["differences"]) == [
        (["ONLY-THERE"], "extra"), (["SKU-31337"], "changed"), (["SKU-7"], "missing")]
    assert stock["in_flight"] == 1  # SKU-9 changed on the source, waiting to be replayed
    human = carve(split.plan, "db", "verify", "inventory")
    assert "SKU-31337" in human.stdout and "different" in human.stdout


def test_bad_input_is_one_line_and_changes_nothing(split: Split) -> None:
    def refused(*args: str, **env: str) -> str:
        result = carve(split.plan, *args, **env)
        assert result.returncode != 0, result.stdout
        assert "Traceback" not in result.stderr
        return result.stderr.strip()

    plan_before = split.plan.read_text()
    assert "unknown module 'nope'" in refused("db", "split", "nope", "--to", split.target)
    assert "not a valid SQLAlchemy URL" in refused("db", "split", "inventory", "--to", "::nope")
    assert "cannot reach database" in refused(
        "db", "split", "inventory", "--to", "postgresql://postgres@127.0.0.1:1/x")
    assert "--to URL" in refused("db", "split", "inventory")
    assert "bound remote" in refused("db", "split", "inventory", "--to", split.target,
                                     CARVE_INVENTORY_BINDING="remote")
    assert "has no split" in refused("db", "cutover", "inventory")
    assert "has no split" in refused("db", "rollback", "inventory")
    assert "no split of 'inventory' to resume" in refused("db", "split", "inventory", "--resume")
    assert not (split.plan.parent / ".carve" / "splits" / "inventory.json").exists()

    stock_rows(split, 10)
    with Project.load(split.plan, {"DATABASE_URL_INVENTORY": split.target}) as there:
        there.upgrade(["inventory"])  # a target that already has the module, and a row
    split.execute(split.target, "INSERT INTO inventory_stock VALUES ('X', 1, 0, now())")
    assert "already holds rows" in refused("db", "split", "inventory", "--to", split.target)
    assert carve(split.plan, "db", "split", "inventory", "--to", split.target,
                 "--force").returncode == 0
    assert split.scalar(split.target, "SELECT count(*) FROM inventory_stock") == 10
    assert "nothing to roll back" in refused("db", "rollback", "inventory")
    assert "under way" in refused("db", "split", "inventory", "--to", split.target)
    with Journals(split.plan).exclusive("inventory"):
        assert "another carve db command" in refused("db", "cutover", "inventory")
    assert split.plan.read_text() == plan_before


def test_sqlite_to_postgresql_split_and_cutover(tmp_path: Path, split: Split) -> None:
    plan = write_plan(tmp_path / "lite", f"sqlite:///{tmp_path / 'lite' / 'carve.db'}") \
        if (tmp_path / "lite").mkdir() is None else None
    assert plan is not None
    assert carve(plan, "db", "upgrade").returncode == 0
    lite = f"sqlite:///{tmp_path / 'lite' / 'carve.db'}"
    split.execute(lite, "INSERT INTO inventory_stock VALUES ('A', 3, 1, '2026-12-06 10:00:00')")
    split.execute(lite, "INSERT INTO inventory_stock VALUES ('B', 5, 0, '2026-12-06 11:00:00')")
    assert carve(plan, "db", "split", "inventory", "--to", split.target).returncode == 0
    split.execute(lite, "UPDATE inventory_stock SET on_hand = 4 WHERE sku = 'A'")
    moved = carve(plan, "db", "cutover", "inventory", "--json")
    assert moved.returncode == 0, moved.stderr
    outcome = json.loads(moved.stdout)
    assert outcome["drained"] >= 1 and outcome["verification"]["equal"] is True
    assert split.scalar(split.target, "SELECT on_hand FROM inventory_stock WHERE sku = 'A'") == 4
    status = json.loads(carve(plan, "db", "status", "--json").stdout)
    inventory = next(row for row in status if row["module"] == "inventory")
    assert inventory["split"]["phase"] == "cut over"
    assert inventory["database"].startswith("postgresql")
    steps = json.loads(carve(plan, "status", "--json").stdout)
    step = next(m for m in steps["modules"] if m["module"] == "inventory")["steps"][1]
    assert step["state"] == "done"
    assert "cut over" in step["evidence"] and "last verify equal" in step["evidence"]
