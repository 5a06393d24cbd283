"""Catch-up: the change log replayed onto the other database by re-reading each changed row.

A logged key says only *which* row changed. Replaying reads that row's current
state from the source and writes it to the target (upsert), or deletes it there
when the source no longer has it; so replaying a change twice, or out of order,
or after the row changed again, leaves the target equal to the source. Rows are
written parents first and deleted children first, keeping foreign keys whole.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from sqlalchemy import Engine, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from migration.datasplit import capture
from migration.datasplit.tables import Key, SplitRefused, SplitTable

_UPSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
_KEYS_PER_QUERY = 1000


def replay(source: Engine, target: Engine, tables: Sequence[SplitTable],
           changes: Sequence[capture.Change]) -> None:
    """Make the target's rows of these changes' keys equal to the source's, in one transaction.

    Rows gone from the source are deleted first (children before parents), then the
    others are written (parents first) in the order they were changed, so a unique
    value that moved from one row to another is free when the second row takes it.
    """
    keys: dict[str, dict[Key, None]] = {}
    for change in changes:
        keys.setdefault(change.table, {})[change.key] = None
    chosen = [t for t in tables if t.name in keys]
    current = {t.name: _read(source, t, list(keys[t.name])) for t in chosen}
    try:
        with target.begin() as connection:
            for table in reversed(chosen):
                gone = [k for k in keys[table.name] if k not in current[table.name]]
                for start in range(0, len(gone), _KEYS_PER_QUERY):
                    connection.execute(delete(table.table)
                                       .where(table.among(gone[start:start + _KEYS_PER_QUERY])))
            for table in chosen:
                rows = [current[table.name][k] for k in keys[table.name]
                        if k in current[table.name]]
                if rows:
                    connection.execute(_upsert(target, table), rows)
    except IntegrityError as exc:
        first = str(exc.orig).strip().splitlines()[0]
        raise SplitRefused(f"replaying {len(changes)} changes broke a constraint of the target "
                           f"({first}); the source changed in a way a row-by-row replay cannot "
                           "follow. Run the command again once those rows are settled") from None


def catch_up(source: Engine, target: Engine, module: str, tables: Sequence[SplitTable], *,
             batch: int = 5000, enough: int = 0, deadline: float | None = None,
             on_batch: Callable[[int], None] | None = None) -> int:
    """Replay and forget logged changes until at most ``enough`` are left; returns the lag.

    Stops early (returning the lag then) when ``deadline`` (monotonic) has passed.
    """
    while True:
        changes = capture.pending(source, module, batch)
        if len(changes) <= enough or (deadline is not None and time.monotonic() > deadline):
            return capture.lag(source, module)
        replay(source, target, tables, changes)
        capture.forget(source, (c.id for c in changes))
        if on_batch is not None:
            on_batch(len(changes))


def drain_frozen(source: Engine, target: Engine, module: str, tables: Sequence[SplitTable],
                 batch: int = 5000) -> list[capture.Change]:
    """Replay every logged change while no write can commit (the freeze); returns them.

    Nothing is deleted from the log here: on SQLite the freeze holds the only write
    lock. The module's log is obsolete once the cut-over has switched.
    """
    drained: list[capture.Change] = []
    after = 0
    while changes := capture.pending(source, module, batch, after=after):
        replay(source, target, tables, changes)
        drained.extend(changes)
        after = changes[-1].id
    return drained


def _read(engine: Engine, table: SplitTable, keys: list[Key]) -> dict[Key, dict]:
    found: dict[Key, dict] = {}
    with engine.connect() as connection:
        for start in range(0, len(keys), _KEYS_PER_QUERY):
            query = select(table.table).where(table.among(keys[start:start + _KEYS_PER_QUERY]))
            for row in connection.execute(query).mappings():
                found[table.key_of(row)] = dict(row)
    return found


def _upsert(engine: Engine, table: SplitTable):  # type: ignore[no-untyped-def]
    statement = _UPSERTS[engine.dialect.name](table.table)
    others = [c for c in table.column_names if c not in table.key_names]
    if not others:
        return statement.on_conflict_do_nothing(index_elements=table.key_names)
    return statement.on_conflict_do_update(
        index_elements=table.key_names, set_={c: statement.excluded[c] for c in others})
