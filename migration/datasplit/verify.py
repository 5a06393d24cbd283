"""``carve db verify``: count and checksum per key range on both sides, bisected to the keys.

The primary's keys are cut into ranges; each range's row count and sum of row
hashes are computed on both databases at once. A range that differs is halved
at its median key until it is small, then its rows are compared one by one. A
key whose change is still in the primary's change log is in flight, not a
difference; a key that differs is read again once, so a row replayed between
the two reads is not reported.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from migration.datasplit import capture
from migration.datasplit.checksums import Checksums, checksums_for, ranges
from migration.datasplit.tables import Key, SplitTable

LEAF_ROWS = 256
ROWS_PER_RANGE = 20_000
MAX_RANGES = 64


@dataclass
class Difference:
    """One row that is not the same on both sides."""

    table: str
    key: list[Any]
    kind: str  # "missing" on the replica, "extra" on the replica, or "changed"


@dataclass
class TableCheck:
    """One table compared: rows on each side, ranges compared, what differs, what is in flight."""

    table: str
    primary_rows: int = 0
    replica_rows: int = 0
    ranges: int = 0
    in_flight: int = 0
    differences: list[Difference] = field(default_factory=list)


@dataclass
class Verification:
    """The outcome of one ``carve db verify``."""

    module: str
    primary: str
    replica: str
    tables: list[TableCheck]
    seconds: float
    at: float = field(default_factory=time.time)

    @property
    def equal(self) -> bool:
        return all(not t.differences for t in self.tables)

    @property
    def rows(self) -> int:
        return sum(t.primary_rows for t in self.tables)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "equal": self.equal, "rows": self.rows,
                "differences": sum(len(t.differences) for t in self.tables)}


def verify(module: str, primary: Engine, replica: Engine, tables: Sequence[SplitTable],
           names: tuple[str, str]) -> Verification:
    """Compare every table of the module between the primary and the replica."""
    started = time.monotonic()
    sums = checksums_for(primary, replica)
    in_flight = capture.pending_keys(primary, module)
    with ThreadPoolExecutor(max_workers=2) as pool:
        checks = [_check(pool, sums, primary, replica, t, in_flight.get(t.name, set()))
                  for t in tables]
    fresh = capture.pending_keys(primary, module)
    for check, table in zip(checks, tables, strict=True):
        check.differences = _confirmed(sums, primary, replica, table, check.differences,
                                       fresh.get(table.name, set()))
    return Verification(module, names[0], names[1], checks, time.monotonic() - started)


def verify_keys(primary: Engine, replica: Engine, table: SplitTable,
                keys: Sequence[Key]) -> list[Difference]:
    """Compare just these rows (the tail a cut-over drained)."""
    sums = checksums_for(primary, replica)
    found: list[Difference] = []
    for start in range(0, len(keys), 1000):
        batch = keys[start:start + 1000]
        found += _diff(table, sums.hashes(primary, table, None, None, batch),
                       sums.hashes(replica, table, None, None, batch))
    return found


def _check(pool: ThreadPoolExecutor, sums: Checksums, primary: Engine, replica: Engine,
           table: SplitTable, in_flight: set[Key]) -> TableCheck:
    bounds = _bounds(primary, table)
    mine = pool.submit(sums.summaries, primary, table, bounds)
    theirs = pool.submit(sums.summaries, replica, table, bounds)
    check = TableCheck(table.name, ranges=len(bounds) + 1)
    for (low, high), ours, other in zip(ranges(bounds), mine.result(), theirs.result(),
                                         strict=True):
        check.primary_rows += ours[0]
        check.replica_rows += other[0]
        if ours != other:
            check.differences += _bisect(sums, primary, replica, table, low, high, ours, other)
    check.in_flight = sum(1 for d in check.differences if tuple(d.key) in in_flight)
    check.differences = [d for d in check.differences if tuple(d.key) not in in_flight]
    return check


def _bisect(sums: Checksums, primary: Engine, replica: Engine, table: SplitTable,
            low: Key | None, high: Key | None, ours: tuple[int, int],
            other: tuple[int, int]) -> list[Difference]:
    if max(ours[0], other[0]) <= LEAF_ROWS:
        return _diff(table, sums.hashes(primary, table, low, high),
                     sums.hashes(replica, table, low, high))
    fuller = primary if ours[0] >= other[0] else replica
    middle = _key_at(fuller, table, low, high, max(ours[0], other[0]) // 2)
    found: list[Difference] = []
    for part_low, part_high in ((low, middle), (middle, high)):
        mine = sums.summary(primary, table, part_low, part_high)
        theirs = sums.summary(replica, table, part_low, part_high)
        if mine != theirs:
            found += _bisect(sums, primary, replica, table, part_low, part_high, mine, theirs)
    return found


def _diff(table: SplitTable, ours: dict[Key, int], theirs: dict[Key, int]) -> list[Difference]:
    found = []
    for key in sorted(set(ours) | set(theirs), key=repr):
        if key not in theirs:
            found.append(Difference(table.name, list(key), "missing"))
        elif key not in ours:
            found.append(Difference(table.name, list(key), "extra"))
        elif ours[key] != theirs[key]:
            found.append(Difference(table.name, list(key), "changed"))
    return found


def _confirmed(sums: Checksums, primary: Engine, replica: Engine, table: SplitTable,
               seen: list[Difference], in_flight: set[Key]) -> list[Difference]:
    """Differences still there on a second read, and not in flight by then."""
    keys = [tuple(d.key) for d in seen if tuple(d.key) not in in_flight]
    if not keys:
        return []
    return verify_keys(primary, replica, table, keys)


def _bounds(engine: Engine, table: SplitTable) -> list[Key]:
    """Keys that cut the table into ranges of about :data:`ROWS_PER_RANGE` rows.

    On PostgreSQL a block sample (``TABLESAMPLE SYSTEM``) finds them without reading
    the table; elsewhere, or when the sample is too thin, every key is numbered.
    The ranges need not be equal: they only bound the work of a bisection.
    """
    with engine.connect() as connection:
        total = connection.execute(select(func.count()).select_from(table.table)).scalar_one()
        parts = max(1, min(MAX_RANGES, total // ROWS_PER_RANGE))
        if parts == 1:
            return []
        keys = _sampled(connection, table, total, parts)
        if not keys:
            return _numbered(connection, table, total // parts)
    step = max(1, len(keys) // parts)
    return [keys[i] for i in range(step, len(keys), step)][:parts - 1]


def _sampled(connection: Connection, table: SplitTable, total: int, parts: int) -> list[Key]:
    if connection.dialect.name != "postgresql":
        return []
    percent = min(100.0, 100.0 * parts * 50 / total)
    sampled = table.table.tablesample(func.system(percent))
    columns = [sampled.c[name] for name in table.key_names]
    sample = select(*columns).order_by(*columns)
    keys = [tuple(row) for row in connection.execute(sample)]
    return keys if len(keys) >= parts * 10 else []


def _numbered(connection: Connection, table: SplitTable, step: int) -> list[Key]:
    numbered = select(*table.key_columns,
                      func.row_number().over(order_by=table.key_columns).label("n")).subquery()
    columns = [numbered.c[name] for name in table.key_names]
    query = select(*columns).where(numbered.c.n % step == 0).order_by(*columns)
    return [tuple(row) for row in connection.execute(query)]


def _key_at(engine: Engine, table: SplitTable, low: Key | None, high: Key | None,
            offset: int) -> Key:
    query = (select(*table.key_columns).where(table.from_to(low, high))
             .order_by(*table.key_columns).offset(offset).limit(1))
    with engine.connect() as connection:
        return tuple(connection.execute(query).one())
