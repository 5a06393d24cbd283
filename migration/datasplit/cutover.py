"""``carve db cutover`` and ``carve db rollback``: switch a module's database under a short freeze.

Both are the same move in opposite directions: catch up while writes run,
freeze the module's writes on the database it leaves, drain the change log,
check the drained rows on both sides, make the database it goes to capture its
own changes (so the move can be undone), mark the old one moved, switch
carve.toml, release. The freeze is bounded: past ``max_freeze_ms`` the move is
abandoned and nothing is switched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from migration.datasplit import capture, replay, schema
from migration.datasplit.copying import copied_rows
from migration.datasplit.freeze import Freeze, frozen
from migration.datasplit.journal import Journal, Journals, Phase
from migration.datasplit.split import opened
from migration.datasplit.tables import SplitRefused, SplitTable, split_tables
from migration.datasplit.verify import Verification, verify, verify_keys
from migration.runtime.db import Database, safe_url
from migration.runtime.plan_file import set_module_database
from migration.runtime.project import Project
from migration.runtime.routing import freeze_file

DEFAULT_MAX_FREEZE_MS = 2000
#: Changes left to drain under the freeze; the rest is replayed while writes run.
FREEZE_LAG = 200


@dataclass
class Move:
    """What a cut-over or rollback did: how long writes were held, what was drained and checked."""

    module: str
    to: str
    freeze_ms: float
    drained: int
    verification: Verification | None


def cutover(project: Project, module: str, max_freeze_ms: int = DEFAULT_MAX_FREEZE_MS) -> Move:
    """Move the module to its split's target database."""
    journal, journals = _journal(project, module)
    if journal.phase is not Phase.READY:
        raise SplitRefused(_not_ready(journal))
    tables = split_tables(project.module(journal.module))
    with journals.exclusive(journal.module), opened(journal.source, module) as old, \
            opened(journal.target, module) as new:
        move = _move(project, journal, journals, tables, old, new, Phase.CUT_OVER,
                     max_freeze_ms)
        schema.restore_foreign_keys(new.engine, journal.foreign_keys)
        move.verification = verify(journal.module, new.engine, old.engine, tables,
                                   (safe_url(journal.target), safe_url(journal.source)))
        journals.record_verification(journal.module, move.verification.as_dict(),
                                     journal.target)
    return move


def rollback(project: Project, module: str, max_freeze_ms: int = DEFAULT_MAX_FREEZE_MS) -> Move:
    """Move the module back to the database it had before its cut-over."""
    journal, journals = _journal(project, module)
    if journal.phase is not Phase.CUT_OVER:
        raise SplitRefused(f"module '{journal.module}' is not cut over "
                           f"({journal.phase.value}): there is nothing to roll back")
    tables = split_tables(project.module(journal.module))
    with journals.exclusive(journal.module), opened(journal.target, module) as new, \
            opened(journal.source, module) as old:
        # The old database becomes the replica: its guard would refuse the replayed rows.
        capture.remove(old.engine, journal.module, tables)
        return _move(project, journal, journals, tables, new, old, Phase.ROLLED_BACK,
                     max_freeze_ms)


def finish(project: Project, module: str) -> Journal:
    """Accept a cut-over: the new database stops capturing its changes; no rollback after."""
    journal, journals = _journal(project, module)
    if journal.phase is not Phase.CUT_OVER:
        raise SplitRefused(f"module '{journal.module}' is not cut over "
                           f"({journal.phase.value}): there is nothing to finish")
    tables = split_tables(project.module(journal.module))
    with journals.exclusive(journal.module), opened(journal.target, module) as new:
        capture.remove(new.engine, journal.module, tables)
        journal.phase = Phase.FINISHED
        journals.write(journal)
    return journal


def _move(project: Project, journal: Journal, journals: Journals,
          tables: Sequence[SplitTable], leaving: Database, going: Database, reached: Phase,
          max_freeze_ms: int) -> Move:
    """Catch up, freeze ``leaving``, drain into ``going``, switch carve.toml, release."""
    module = journal.module
    back = reached is Phase.ROLLED_BACK
    replay.catch_up(leaving.engine, going.engine, module, tables, enough=FREEZE_LAG)
    announce = freeze_file(project.config.path, module)
    with frozen(leaving.engine, module, max_freeze_ms, announce) as freeze:
        drained = replay.drain_frozen(leaving.engine, going.engine, module, tables)
        _check_tail(leaving, going, tables, drained, freeze, max_freeze_ms)
        schema.advance_sequences(going.engine, tables)
        if not back:
            capture.install(going.engine, module, tables)  # so that it can be rolled back
        freeze.move()
        set_module_database(project.config.path, module,
                            journal.previous_setting if back else journal.target)
        # Recorded before the freeze ends: the journal never lags carve.toml.
        journal.phase, journal.freeze_ms = reached, freeze.elapsed_ms
        journals.write(journal)
    return Move(module, safe_url(going.url), journal.freeze_ms, len(drained), None)


def _check_tail(leaving: Database, going: Database, tables: Sequence[SplitTable],
                drained: Sequence[capture.Change], freeze: Freeze, budget_ms: int) -> None:
    if freeze.elapsed_ms > budget_ms:
        raise SplitRefused(f"draining {len(drained)} changes took {freeze.elapsed_ms:.0f} ms, "
                           f"over --max-freeze-ms {budget_ms}; nothing was switched. Run it again "
                           "when writes are calmer, or allow a longer freeze")
    for table in tables:
        keys = sorted({c.key for c in drained if c.table == table.name}, key=repr)
        differences = verify_keys(leaving.engine, going.engine, table, keys) if keys else []
        if differences:
            first = differences[0]
            raise SplitRefused(f"after draining, {len(differences)} row(s) of {table.name} still "
                               f"differ (first: key {first.key}, {first.kind}); nothing was "
                               "switched")


def _journal(project: Project, module: str) -> tuple[Journal, Journals]:
    spec = project.module(module)
    journals = Journals(project.config.path)
    journal = journals.read(spec.name)
    if journal is None:
        raise SplitRefused(f"module '{spec.name}' has no split; start one with "
                           f"carve db split {spec.name} --to URL")
    return journal, journals


def _not_ready(journal: Journal) -> str:
    if journal.phase is Phase.CUT_OVER:
        return f"module '{journal.module}' is already cut over to {safe_url(journal.target)}"
    if journal.phase is Phase.ROLLED_BACK:
        return (f"the split of '{journal.module}' was rolled back; start a new one with "
                f"carve db split {journal.module} --to URL --force")
    return (f"the split of '{journal.module}' is not ready for cut-over ({journal.phase.value}); "
            f"finish it with carve db split {journal.module} --resume")


def check(project: Project, module: str) -> Verification:
    """``carve db verify``: compare the module's primary database with its replica, now."""
    journal, journals = _journal(project, module)
    tables = split_tables(project.module(journal.module))
    with opened(journal.primary, module) as primary, opened(journal.replica, module) as replica:
        result = verify(journal.module, primary.engine, replica.engine, tables,
                        (safe_url(journal.primary), safe_url(journal.replica)))
    journals.record_verification(journal.module, result.as_dict(), journal.primary)
    return result


def splits(project: Project) -> list[dict[str, object]]:
    """Every split of the project: phase, rows, the primary's change-log lag, last verification."""
    rows: list[dict[str, object]] = []
    for journal in Journals(project.config.path).all():
        with opened(journal.primary, journal.module) as primary:
            lag = capture.lag(primary.engine, journal.module) if journal.phase in (
                Phase.COPYING, Phase.CATCHING_UP, Phase.READY, Phase.CUT_OVER) else 0
        if journal.phase is Phase.COPYING:  # the copy commits its progress in the target
            with opened(journal.target, journal.module) as target:
                journal.rows_copied = copied_rows(target.engine, journal.module)
        rows.append({"module": journal.module, "phase": journal.phase.value,
                     "source": safe_url(journal.source), "target": safe_url(journal.target),
                     "rows_copied": journal.rows_copied, "rows_total": journal.rows_total,
                     "lag": lag, "freeze_ms": journal.freeze_ms,
                     "verification": journal.verification})
    return rows
