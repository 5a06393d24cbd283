"""Support for step-2 tests: two real PostgreSQL databases, a plan on the first, all migrated."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text

from migration.runtime.project import Project
from tests.support.processes import ROOT
from tests.support.services import fresh_postgres_database, scalar


@dataclass
class Split:
    """A test's plan: the module's databases before (source) and after (target) the split."""

    plan: Path
    source: str
    target: str

    def project(self) -> Project:
        return Project.load(self.plan, environ={})

    def scalar(self, url: str, sql: str) -> object:
        return scalar(url, sql)

    def execute(self, url: str, sql: str) -> None:
        engine = create_engine(url)
        try:
            with engine.begin() as connection:
                connection.execute(text(sql))
        finally:
            engine.dispose()


def write_plan(folder: Path, database_url: str) -> Path:
    plan = folder / "carve.toml"
    plan.write_text(
        "# a test's plan: the split switches [modules.inventory] database\n"
        f'[project]\nmodules = "monolith.modules"\nsource = "{ROOT}"\n\n'
        f'[database]\nurl = "{database_url}"\n\n'
        '[modules.inventory]\nbinding = "local"   # stays local\n',
        encoding="utf-8")
    return plan


@contextmanager
def split_databases(folder: Path) -> Iterator[Split]:
    """A source and a target database of the test's own, the plan on the source, migrated."""
    with fresh_postgres_database() as source, fresh_postgres_database() as target:
        plan = write_plan(folder, source)
        with Project.load(plan, environ={}) as project:
            project.upgrade()
        yield Split(plan, source, target)


def stock_rows(split: Split, count: int) -> None:
    """``count`` SKUs in the source's inventory, written straight in SQL."""
    split.execute(split.source,
                  "INSERT INTO inventory_stock (sku, on_hand, reserved, updated_at) "
                  f"SELECT 'SKU-' || g, g, 0, now() FROM generate_series(1, {count}) g")
