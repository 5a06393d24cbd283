"""Row checksums that two databases can compare: in SQL on PostgreSQL, in Python otherwise.

Two PostgreSQL databases with the same schema render a row as the same text
(``ROW(...)::text`` with the session pinned to UTC and ISO dates), so both hash
it on the server and only counts and sums cross the wire. Any other pair reads
the rows and hashes a canonical form of the values SQLAlchemy returns, which
does not depend on how each engine stores a timestamp or a boolean.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, bindparam, func, literal_column, select

from migration.datasplit.tables import Key, SplitTable

_PINNED = ("SET LOCAL TIME ZONE 'UTC'; SET LOCAL DateStyle = 'ISO, YMD'; "
           "SET LOCAL extra_float_digits = 1")


class Checksums(Protocol):
    """Counts and sums of row hashes over key ranges, and hashes of single rows."""

    def summary(self, engine: Engine, table: SplitTable, low: Key | None,
                high: Key | None) -> tuple[int, int]: ...

    def hashes(self, engine: Engine, table: SplitTable, low: Key | None, high: Key | None,
               keys: Sequence[Key] | None = None) -> dict[Key, int]: ...

    def summaries(self, engine: Engine, table: SplitTable,
                  bounds: Sequence[Key]) -> list[tuple[int, int]]: ...


def checksums_for(first: Engine, second: Engine) -> Checksums:
    """Server-side hashing when both are PostgreSQL, else hashing of canonical values."""
    if first.dialect.name == second.dialect.name == "postgresql":
        return ServerChecksums()
    return ValueChecksums()


class ServerChecksums:
    """``hashtextextended(ROW(...)::text)`` summed on the PostgreSQL server."""

    def summary(self, engine: Engine, table: SplitTable, low: Key | None,
                high: Key | None) -> tuple[int, int]:
        query = (select(func.count(), func.coalesce(func.sum(_row_hash(table)), 0))
                 .select_from(table.table).where(table.from_to(low, high)))
        with _pinned(engine) as connection:
            count, total = connection.execute(query).one()
        return int(count), int(total)

    def summaries(self, engine: Engine, table: SplitTable,
                  bounds: Sequence[Key]) -> list[tuple[int, int]]:
        """Every range's count and sum in one scan: ``width_bucket`` over the bounds."""
        if len(table.key_columns) > 1 or not bounds:
            return _one_by_one(self, engine, table, bounds)
        bucket = func.width_bucket(table.key_columns[0],
                                   bindparam("bounds", [b[0] for b in bounds]))
        query = (select(bucket, func.count(), func.sum(_row_hash(table)))
                 .select_from(table.table).group_by(bucket))
        found = [(0, 0)] * (len(bounds) + 1)
        with _pinned(engine) as connection:
            for number, count, total in connection.execute(query):
                found[number] = (int(count), int(total))
        return found

    def hashes(self, engine: Engine, table: SplitTable, low: Key | None, high: Key | None,
               keys: Sequence[Key] | None = None) -> dict[Key, int]:
        where = table.among(keys) if keys is not None else table.from_to(low, high)
        query = select(*table.key_columns, _row_hash(table)).where(where)
        with _pinned(engine) as connection:
            return {tuple(row[:-1]): int(row[-1]) for row in connection.execute(query)}


class ValueChecksums:
    """Rows read through SQLAlchemy and hashed from a canonical rendering of their values."""

    def summary(self, engine: Engine, table: SplitTable, low: Key | None,
                high: Key | None) -> tuple[int, int]:
        hashes = self.hashes(engine, table, low, high)
        return len(hashes), sum(hashes.values())

    def summaries(self, engine: Engine, table: SplitTable,
                  bounds: Sequence[Key]) -> list[tuple[int, int]]:
        return _one_by_one(self, engine, table, bounds)

    def hashes(self, engine: Engine, table: SplitTable, low: Key | None, high: Key | None,
               keys: Sequence[Key] | None = None) -> dict[Key, int]:
        where = table.among(keys) if keys is not None else table.from_to(low, high)
        with engine.connect() as connection:
            rows = connection.execute(select(table.table).where(where)).mappings()
            return {table.key_of(row): value_hash(row, table.column_names) for row in rows}


def ranges(bounds: Sequence[Key]) -> list[tuple[Key | None, Key | None]]:
    """The ranges ``bounds`` cut the keys into: ``[None, b1)``, ``[b1, b2)`` … ``[bn, None)``."""
    edges: list[Key | None] = [None, *bounds, None]
    return list(zip(edges[:-1], edges[1:], strict=True))


def _one_by_one(sums: Checksums, engine: Engine, table: SplitTable,
                bounds: Sequence[Key]) -> list[tuple[int, int]]:
    return [sums.summary(engine, table, low, high) for low, high in ranges(bounds)]


def value_hash(row: Any, columns: Sequence[str]) -> int:
    """A signed 64-bit hash of a row's values, equal for equal values on any engine."""
    hasher = hashlib.blake2b(digest_size=8)
    for column in columns:
        value = row[column]
        # A tag for NULL and a length before each value: no two rows run into one text.
        encoded = b"N" if value is None else b"V" + _canonical(value).encode("utf-8")
        hasher.update(len(encoded).to_bytes(4, "big") + encoded)
    digest = hasher.digest()
    return int.from_bytes(digest, "big", signed=True)


def _canonical(value: Any) -> str:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat()
    if isinstance(value, Decimal):
        return str(value.normalize())
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    return str(value)


def _row_hash(table: SplitTable) -> Any:
    columns = ", ".join(f'"{name}"' for name in table.column_names)
    return func.hashtextextended(literal_column(f"ROW({columns})::text"), 0)


@contextmanager
def _pinned(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as connection:
        connection.exec_driver_sql(_PINNED)
        yield connection
        connection.rollback()
