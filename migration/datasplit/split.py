"""``carve db split``: plan, schema, capture, copy and catch-up, resumable at every phase.

The phases are recorded in the split's journal; the copy's progress in the
target, with each chunk. ``--resume`` picks up where a killed split stopped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

from sqlalchemy import Engine

from migration.datasplit import capture, copying, replay, schema
from migration.datasplit.journal import Journal, Journals, Phase
from migration.datasplit.tables import SplitRefused, SplitTable, split_tables
from migration.runtime.db import Database, safe_url
from migration.runtime.discovery import binding_of
from migration.runtime.project import Project

#: The split hands over to the cut-over once at most this many changes wait.
READY_LAG = 1000
DEFAULT_BATCH = 50_000


class Report(Protocol):
    """What a split tells the person or program watching it."""

    def phase(self, journal: Journal) -> None: ...

    def rows(self, copied: int, total: int) -> None: ...


Lint = Callable[[str], list[str]]


def start_split(project: Project, module: str, target: str, *, batch: int = DEFAULT_BATCH,
                force: bool = False, lint: Lint | None = None) -> Journal:
    """Check that the split can start and write its journal; nothing is copied yet."""
    spec = project.module(module)
    journals = Journals(project.config.path)
    journal = journals.read(spec.name)
    if journal is not None and journal.phase is not Phase.ROLLED_BACK:
        raise SplitRefused(_under_way(journal))
    if binding_of(spec.name, project.config, project.environ) == "remote":
        raise SplitRefused(f"module '{spec.name}' is bound remote: its tables live with its "
                           "service, whose database is the service's own")
    problems = (lint or (lambda _m: []))(spec.name)
    if problems:
        raise SplitRefused(f"module '{spec.name}' has {len(problems)} lint violation(s); fix them "
                           f"first (carve lint): {problems[0]}")
    tables = split_tables(spec)
    with opened(project.database_url(spec.name), spec.name) as source, \
            opened(target, spec.name) as database, journals.exclusive(spec.name):
        source.ping()
        database.ping()
        if capture.same_database(source.engine, database.engine):
            raise SplitRefused(f"module '{spec.name}' already uses {safe_url(target)}: "
                               "that URL reaches the database the module is in")
        _refuse_rows(database.engine, tables, force, spec.name)
        # Whatever an earlier split of this module left in the target (its guard, its
        # checkpoints) belongs to that split, never to this one.
        capture.remove(database.engine, spec.name, tables)
        copying.forget_checkpoints(database.engine, spec.name)
        if force:
            schema.empty(database.engine, tables)
    previous = project.config.module(spec.name).database
    journal = Journal(module=spec.name, source=project.database_url(spec.name), target=target,
                      previous_setting=previous, batch=batch)
    journals.write(journal)
    return journal


def run_split(project: Project, journal: Journal, report: Report) -> Journal:
    """Take the split from its journal's phase to ready-for-cut-over."""
    journals = Journals(project.config.path)
    spec = project.module(journal.module)
    tables = split_tables(spec)
    with journals.exclusive(journal.module), opened(journal.source, spec.name) as source, \
            opened(journal.target, spec.name) as target:
        if journal.phase is Phase.SCHEMA:
            project.migrations(spec.name).upgrade(target.engine)
            found = schema.foreign_keys(target.engine, tables)
            known = {tuple(fk[:2]) for fk in journal.foreign_keys}
            journal.foreign_keys += [fk for fk in found if tuple(fk[:2]) not in known]
            journals.write(journal)  # on disk before they are dropped: a kill loses none
            schema.drop_foreign_keys(target.engine, journal.foreign_keys)
            capture.install(source.engine, spec.name, tables)  # before the first row is read
            _advance(journals, journal, Phase.COPYING, report)
        if journal.phase is Phase.COPYING:
            _copy(source.engine, target.engine, journal, tables, report)
            _advance(journals, journal, Phase.CATCHING_UP, report)
        if journal.phase is Phase.CATCHING_UP:
            journal.lag = replay.catch_up(source.engine, target.engine, spec.name, tables,
                                          enough=READY_LAG)
            schema.restore_foreign_keys(target.engine, journal.foreign_keys)
            _advance(journals, journal, Phase.READY, report)
    return journal


def resumable(project: Project, module: str) -> Journal:
    """The journal of a split to resume; refused when there is none to resume."""
    spec = project.module(module)
    journal = Journals(project.config.path).read(spec.name)
    if journal is None or journal.phase is Phase.ROLLED_BACK:
        raise SplitRefused(f"there is no split of '{spec.name}' to resume; start one with "
                           f"carve db split {spec.name} --to URL")
    if journal.phase in (Phase.READY, Phase.CUT_OVER, Phase.FINISHED):
        raise SplitRefused(f"the split of '{spec.name}' is {journal.phase.value}: nothing to "
                           "resume")
    return journal


def _copy(source: Engine, target: Engine, journal: Journal, tables: list[SplitTable],
          report: Report) -> None:
    points = copying.checkpoints(target, journal.module)
    journal.rows_total = sum(copying.count_rows(source, t) for t in tables)
    done_before = sum(p.rows for p in points.values())
    report.rows(done_before, journal.rows_total)
    for table in tables:
        start = points.get(table.name, copying.Checkpoint())
        base = done_before - start.rows

        def on_chunk(rows: int, base: int = base) -> None:
            journal.rows_copied = base + rows
            report.rows(journal.rows_copied, max(journal.rows_total, journal.rows_copied))

        finished = copying.copy_table(source, target, journal.module, table, journal.batch,
                                      start, on_chunk)
        done_before = base + finished.rows
    journal.rows_copied = done_before


def _advance(journals: Journals, journal: Journal, phase: Phase, report: Report) -> None:
    journal.phase = phase
    journals.write(journal)
    report.phase(journal)


def _refuse_rows(target: Engine, tables: list[SplitTable], force: bool, module: str) -> None:
    found = schema.rows_in(target, tables)
    if found and not force:
        held = ", ".join(f"{table} ({n} rows)" for table, n in found.items())
        raise SplitRefused(f"the target already holds rows of module '{module}': {held}; "
                           "pass --force to empty those tables first")


def _under_way(journal: Journal) -> str:
    if journal.phase is Phase.FINISHED:
        return (f"module '{journal.module}' was split to {safe_url(journal.target)} and "
                "finished; it has nothing left to split")
    if journal.phase is Phase.CUT_OVER:
        return (f"module '{journal.module}' was already cut over to {safe_url(journal.target)}; "
                f"carve db rollback {journal.module} takes it back")
    return (f"a split of '{journal.module}' to {safe_url(journal.target)} is under way "
            f"({journal.phase.value}); continue it with carve db split {journal.module} --resume")


@contextmanager
def opened(url: str, module: str) -> Iterator[Database]:
    """A database opened for the length of a ``with`` block, its pool closed after.

    Its SQLite transactions take the write lock only when they write: the freeze
    holds that lock while the drain and checks read.
    """
    database = Database(module, url, immediate=False)
    try:
        yield database
    finally:
        database.dispose()
