"""The freeze: one module's writes held while its change log is drained and the plan switched.

Running processes see the freeze file beside carve.toml and hold a unit of
work at its first write (``migration.runtime.routing``). The database enforces
it for everyone else: on PostgreSQL the cut-over takes the module's advisory
lock exclusively, which waits for the writes in flight (each capture trigger
holds it shared until its transaction ends) and holds new ones; on SQLite it
takes the file's write lock (``BEGIN IMMEDIATE``), so every module sharing that
file waits too. If the cut-over dies, the lock dies with its connection and the
freeze file expires: writes resume on the old database, nothing switched.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine

from migration.datasplit.tables import SplitRefused


class Freeze:
    """A held freeze: :meth:`move` marks the module moved in the frozen database."""

    def __init__(self, module: str, connection, dialect: str) -> None:  # type: ignore[no-untyped-def]
        self.module = module
        self._connection = connection
        self._dialect = dialect
        self.started = time.monotonic()

    @property
    def elapsed_ms(self) -> float:
        return (time.monotonic() - self.started) * 1000

    def move(self) -> None:
        """Mark the module moved and empty its change log, in one commit.

        From then on the old database refuses the module's writes, and its log,
        drained under this freeze, can never be replayed again over newer rows.
        """
        cursor = self._connection.cursor()
        mark = "%s" if self._dialect == "postgresql" else "?"
        cursor.execute(f"UPDATE carve_split_guard SET state = 'moved' WHERE module = {mark}",
                       (self.module,))
        cursor.execute(f"DELETE FROM carve_changes WHERE module = {mark}", (self.module,))
        self._connection.commit()


@contextmanager
def frozen(engine: Engine, module: str, budget_ms: int, announce: Path | None) -> Iterator[Freeze]:
    """Hold the module's writes on ``engine`` for the length of the block."""
    if announce is not None:
        announce.parent.mkdir(parents=True, exist_ok=True)
        until = time.time() + budget_ms / 1000 + 1.0
        announce.write_text(json.dumps({"until": until}), encoding="utf-8")
    raw = engine.raw_connection()
    try:
        connection = raw.driver_connection
        if engine.dialect.name == "postgresql":
            _lock_postgres(connection, module, budget_ms)
        else:
            _lock_sqlite(connection, module, budget_ms)
        yield Freeze(module, connection, engine.dialect.name)
    finally:
        _release(raw, engine.dialect.name, module)
        if announce is not None:
            announce.unlink(missing_ok=True)


def _lock_postgres(connection, module: str, budget_ms: int) -> None:  # type: ignore[no-untyped-def]
    connection.autocommit = True
    cursor = connection.cursor()
    cursor.execute(f"SET lock_timeout = {int(budget_ms)}")
    try:
        cursor.execute("SELECT pg_advisory_lock(hashtext('carve.split'), hashtext(%s))",
                       (module,))
    except Exception as exc:  # psycopg's LockNotAvailable, named by its message
        raise SplitRefused(f"the writes in flight on '{module}' did not finish within "
                           f"{budget_ms} ms; nothing was switched ({str(exc).strip()})") from None
    cursor.execute("SET lock_timeout = 0")
    connection.autocommit = False


def _lock_sqlite(connection, module: str, budget_ms: int) -> None:  # type: ignore[no-untyped-def]
    connection.execute(f"PRAGMA busy_timeout = {int(budget_ms)}")
    connection.isolation_level = None
    try:
        connection.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        raise SplitRefused(f"the writes in flight on '{module}' (and the other modules sharing "
                           f"its SQLite file) did not finish within {budget_ms} ms; nothing was "
                           f"switched ({exc})") from None


def _release(raw, dialect: str, module: str) -> None:  # type: ignore[no-untyped-def]
    connection = raw.driver_connection
    try:
        if dialect == "postgresql":
            connection.rollback()
            connection.autocommit = True
            connection.cursor().execute(
                "SELECT pg_advisory_unlock(hashtext('carve.split'), hashtext(%s))", (module,))
        elif connection.in_transaction:
            connection.rollback()
    finally:
        raw.invalidate()  # never hand a connection with changed settings back to the pool
