"""The target's schema: the module's Alembic history, with foreign keys held back during the copy.

Chunks of a child table can reach the target before the parent rows they point
to (a parent inserted after its table was copied comes through the change
log), so a PostgreSQL target's foreign keys are dropped before the copy and
added back once the copy has caught up: ``NOT VALID`` first, then validated,
which checks every row without blocking writes.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine, text

from migration.datasplit.tables import SplitTable

_FOREIGN_KEYS = """
SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
FROM pg_constraint c WHERE c.contype = 'f' AND c.conrelid::regclass::text = ANY(:tables)
ORDER BY 1, 2
"""


def foreign_keys(target: Engine, tables: Sequence[SplitTable]) -> list[list[str]]:
    """The foreign keys among the module's tables on a PostgreSQL target.

    Each is ``[table, name, definition]``.
    """
    if target.dialect.name != "postgresql":
        return []
    with target.connect() as connection:
        rows = connection.execute(text(_FOREIGN_KEYS), {"tables": [t.name for t in tables]})
        return [list(row) for row in rows]


def drop_foreign_keys(target: Engine, foreign_keys: Sequence[Sequence[str]]) -> None:
    """Drop them for the copy (recorded first, so that a kill cannot lose them)."""
    with target.begin() as connection:
        for table, name, _definition in foreign_keys:
            connection.exec_driver_sql(f'ALTER TABLE "{table}" DROP CONSTRAINT IF EXISTS "{name}"')


def advance_sequences(engine: Engine, tables: Sequence[SplitTable]) -> None:
    """Move each serial or identity column's sequence past the rows copied into ``engine``.

    Copied rows bring their keys along but not the sequence that made them: the
    first insert after a cut-over would otherwise collide with a copied key.
    """
    if engine.dialect.name != "postgresql":
        return  # SQLite takes the next key from the rows themselves
    with engine.begin() as connection:
        for table in tables:
            for column in table.column_names:
                sequence = connection.execute(text("SELECT pg_get_serial_sequence(:t, :c)"),
                                              {"t": f'"{table.name}"', "c": column}).scalar()
                if sequence:
                    connection.execute(text(
                        f'SELECT setval(:s, coalesce(max("{column}"), 1), max("{column}") '
                        f'IS NOT NULL) FROM "{table.name}"'), {"s": sequence})


def restore_foreign_keys(target: Engine, foreign_keys: Sequence[Sequence[str]]) -> None:
    """Add the held-back foreign keys again (without a full check), then validate them."""
    if not foreign_keys:
        return
    with target.begin() as connection:
        present = {tuple(row[:2]) for row in connection.execute(
            text(_FOREIGN_KEYS), {"tables": [fk[0] for fk in foreign_keys]})}
        for table, name, definition in foreign_keys:
            if (table, name) not in present:
                connection.exec_driver_sql(
                    f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition} NOT VALID')
    for table, name, _definition in foreign_keys:
        with target.begin() as connection:
            connection.exec_driver_sql(f'ALTER TABLE "{table}" VALIDATE CONSTRAINT "{name}"')


def rows_in(target: Engine, tables: Sequence[SplitTable]) -> dict[str, int]:
    """Tables of the module that already hold rows in the target, with their counts."""
    counts = {}
    with target.connect() as connection:
        for table in tables:
            if target.dialect.has_table(connection, table.name):
                n = connection.execute(text(f'SELECT count(*) FROM "{table.name}"')).scalar_one()
                if n:
                    counts[table.name] = n
    return counts


def empty(target: Engine, tables: Sequence[SplitTable]) -> None:
    """Delete every row of the module's tables in the target, children first (``--force``)."""
    with target.begin() as connection:
        for table in reversed(tables):
            if target.dialect.has_table(connection, table.name):
                connection.exec_driver_sql(f'DELETE FROM "{table.name}"')
