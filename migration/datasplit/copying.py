"""The copy: a table's rows in primary-key chunks, each committed with its checkpoint.

The checkpoint (``carve_split_copy`` in the target) is written in the same
transaction as the chunk's rows, so a copy killed at any point resumes after
the last committed chunk and copies no chunk twice. PostgreSQL to PostgreSQL
streams each chunk as binary COPY from one server to the other without
decoding a row; other pairs read rows through SQLAlchemy and insert them.
Rows that change while the copy runs are in the change log and replayed after.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Engine,
    MetaData,
    String,
    Table,
    Text,
    func,
    insert,
    select,
)
from sqlalchemy.dialects import postgresql

from migration.datasplit.tables import Key, SplitTable

_PROGRESS = Table(
    "carve_split_copy", MetaData(),
    Column("module", String(100), primary_key=True),
    Column("table_name", String(200), primary_key=True),
    Column("last_key", Text),
    Column("rows", BigInteger, nullable=False),
    Column("done", Boolean, nullable=False),
)
_RELAY_BYTES = 256 * 1024
_CHECKPOINT = (
    "INSERT INTO carve_split_copy (module, table_name, last_key, rows, done) "
    "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (module, table_name) DO UPDATE SET "
    "last_key = EXCLUDED.last_key, rows = EXCLUDED.rows, done = EXCLUDED.done")


@dataclass
class Checkpoint:
    """How far one table's copy got: the last key committed, rows so far, finished or not."""

    last_key: Key | None = None
    rows: int = 0
    done: bool = False


def checkpoints(target: Engine, module: str) -> dict[str, Checkpoint]:
    """Every table's checkpoint of the module's copy, as committed in the target."""
    _PROGRESS.create(target, checkfirst=True)
    with target.connect() as connection:
        rows = connection.execute(select(_PROGRESS).where(_PROGRESS.c.module == module)).all()
    return {r.table_name: Checkpoint(tuple(json.loads(r.last_key)) if r.last_key else None,
                                     r.rows, r.done) for r in rows}


def copied_rows(target: Engine, module: str) -> int:
    """Rows the module's copy has committed in the target so far (nothing is created)."""
    with target.connect() as connection:
        if not target.dialect.has_table(connection, _PROGRESS.name):
            return 0
        total = connection.execute(select(func.coalesce(func.sum(_PROGRESS.c.rows), 0))
                                   .where(_PROGRESS.c.module == module)).scalar_one()
    return int(total)


def forget_checkpoints(target: Engine, module: str) -> None:
    """Start the module's copy from scratch (``--force``)."""
    _PROGRESS.create(target, checkfirst=True)
    with target.begin() as connection:
        connection.execute(_PROGRESS.delete().where(_PROGRESS.c.module == module))


def count_rows(engine: Engine, table: SplitTable) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(table.table)).scalar_one()


def copy_table(source: Engine, target: Engine, module: str, table: SplitTable, batch: int,
               start: Checkpoint, on_chunk: Callable[[int], None]) -> Checkpoint:
    """Copy the rows after ``start`` chunk by chunk; returns the final checkpoint."""
    raw = source.dialect.name == target.dialect.name == "postgresql"
    chunk = _binary_chunk if raw else _row_chunk
    point = start
    while not point.done:
        point = chunk(source, target, module, table, batch, point)
        on_chunk(point.rows)
    return point


def _binary_chunk(source: Engine, target: Engine, module: str, table: SplitTable, batch: int,
                  point: Checkpoint) -> Checkpoint:
    high = _upper_key(source, table, point.last_key, batch)
    # No ORDER BY: the range is the chunk, and sorting it would cost more than copying it.
    query = select(*table.table.columns).where(table.within(point.last_key, high))
    sql = str(query.compile(dialect=postgresql.dialect(),
                            compile_kwargs={"literal_binds": True}))
    columns = ", ".join(f'"{name}"' for name in table.column_names)
    reader, writer = source.raw_connection(), target.raw_connection()
    try:
        with reader.cursor() as out, writer.cursor() as into:
            into_sql = f'COPY "{table.name}" ({columns}) FROM STDIN (FORMAT BINARY)'
            with out.copy(f"COPY ({sql}) TO STDOUT (FORMAT BINARY)") as stream, \
                    into.copy(into_sql) as sink:
                _relay(stream, sink)
            copied = into.rowcount
            done = high is None
            into.execute(_CHECKPOINT, (module, table.name, _dump(high or point.last_key),
                                       point.rows + copied, done))
        writer.commit()
    finally:
        reader.rollback()
        reader.close()
        writer.close()
    return Checkpoint(high or point.last_key, point.rows + copied, done)


def _relay(stream, sink) -> None:  # type: ignore[no-untyped-def]
    """Pass COPY data through in large writes: the server sends a message per row."""
    buffer = bytearray()
    for block in stream:
        buffer += block
        if len(buffer) >= _RELAY_BYTES:
            sink.write(buffer)
            buffer = bytearray()
    if buffer:
        sink.write(buffer)


def _row_chunk(source: Engine, target: Engine, module: str, table: SplitTable, batch: int,
               point: Checkpoint) -> Checkpoint:
    query = (select(table.table).where(table.within(point.last_key, None))
             .order_by(*table.key_columns).limit(batch))
    with source.connect() as connection:
        rows = [dict(r) for r in connection.execute(query).mappings()]
    last = table.key_of(rows[-1]) if rows else point.last_key
    reached = Checkpoint(last, point.rows + len(rows), len(rows) < batch)
    with target.begin() as connection:
        if rows:
            connection.execute(insert(table.table), rows)
        _save(connection, module, table.name, reached)
    return reached


def _save(connection, module: str, table: str, point: Checkpoint) -> None:  # type: ignore[no-untyped-def]
    values = {"last_key": _dump(point.last_key), "rows": point.rows, "done": point.done}
    updated = connection.execute(
        _PROGRESS.update().where(_PROGRESS.c.module == module,
                                 _PROGRESS.c.table_name == table).values(**values))
    if updated.rowcount == 0:
        connection.execute(insert(_PROGRESS).values(module=module, table_name=table, **values))


def _upper_key(engine: Engine, table: SplitTable, low: Key | None, batch: int) -> Key | None:
    """The key ending the next chunk of ``batch`` rows; None when fewer rows are left."""
    query = (select(*table.key_columns).where(table.within(low, None))
             .order_by(*table.key_columns).offset(batch - 1).limit(1))
    with engine.connect() as connection:
        row = connection.execute(query).first()
    return tuple(row) if row else None


def _dump(key: Key | None) -> str | None:
    return json.dumps(list(key)) if key is not None else None
