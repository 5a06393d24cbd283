"""Row hashes two engines can compare: equal values hash equal however each engine returns them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from migration.datasplit.checksums import value_hash

COLUMNS = ["sku", "on_hand", "active", "price", "updated_at"]


def test_the_same_row_hashes_the_same_from_sqlite_and_from_postgresql() -> None:
    # SQLite hands back naive UTC times, integers for booleans, unnormalised decimals;
    # PostgreSQL aware times (in the session's zone), booleans, Decimals as stored.
    from_sqlite = {"sku": "MUG", "on_hand": 3, "active": 1, "price": Decimal("2.50"),
                   "updated_at": datetime(2026, 12, 6, 10, 0)}
    from_postgres = {"sku": "MUG", "on_hand": 3, "active": True, "price": Decimal("2.5"),
                     "updated_at": datetime(2026, 12, 6, 11, 0,
                                            tzinfo=timezone(timedelta(hours=1)))}
    assert value_hash(from_sqlite, COLUMNS) == value_hash(from_postgres, COLUMNS)


def test_any_changed_value_changes_the_hash() -> None:
    row = {"sku": "MUG", "on_hand": 3, "active": True, "price": Decimal("2.5"),
           "updated_at": datetime(2026, 12, 6, 10, 0, tzinfo=UTC)}
    changed = [{**row, "on_hand": 4}, {**row, "active": False}, {**row, "price": None},
               {**row, "sku": "MUG "}, {**row, "updated_at": row["updated_at"]
                                        + timedelta(microseconds=1)}]
    hashes = {value_hash(r, COLUMNS) for r in [row, *changed]}
    assert len(hashes) == 1 + len(changed)


def test_values_do_not_run_into_each_other() -> None:
    first = {"a": "ab", "b": "c"}
    second = {"a": "a", "b": "bc"}
    assert value_hash(first, ["a", "b"]) != value_hash(second, ["a", "b"])
