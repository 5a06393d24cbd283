"""The tables a split moves: a module's own, in foreign-key order, with their keys."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, tuple_

from migration.runtime.errors import CarveError
from migration.runtime.modules import ModuleSpec

Key = tuple[Any, ...]


class SplitRefused(CarveError):
    """A split, verification, cut-over or rollback that cannot run as asked."""

    exit_code = 1


@dataclass(frozen=True)
class SplitTable:
    """One table of the module: its SQLAlchemy table and primary-key columns."""

    table: Table

    @property
    def name(self) -> str:
        return self.table.name

    @property
    def key_columns(self) -> list[Any]:
        return list(self.table.primary_key.columns)

    @property
    def key_names(self) -> list[str]:
        return [c.name for c in self.key_columns]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.table.columns]

    def key(self) -> ColumnElement[Any]:
        """The key as one SQL expression (a tuple when the key has several columns)."""
        columns = self.key_columns
        return columns[0] if len(columns) == 1 else tuple_(*columns)

    def key_value(self, key: Key) -> Any:
        return key[0] if len(key) == 1 else tuple_(*key)

    def key_of(self, row: Any) -> Key:
        return tuple(row[name] for name in self.key_names)

    def within(self, low: Key | None, high: Key | None) -> ColumnElement[bool]:
        """``low < key <= high``; an open end where a bound is None."""
        parts = []
        if low is not None:
            parts.append(self.key() > self.key_value(low))
        if high is not None:
            parts.append(self.key() <= self.key_value(high))
        return and_(True, *parts)

    def from_to(self, low: Key | None, high: Key | None) -> ColumnElement[bool]:
        """``low <= key < high``, the ranges verification compares; open where None."""
        parts = []
        if low is not None:
            parts.append(self.key() >= self.key_value(low))
        if high is not None:
            parts.append(self.key() < self.key_value(high))
        return and_(True, *parts)

    def among(self, keys: Sequence[Key]) -> ColumnElement[bool]:
        """The rows whose key is one of ``keys``."""
        if len(self.key_columns) == 1:
            return self.key_columns[0].in_([k[0] for k in keys])
        return tuple_(*self.key_columns).in_([tuple(k) for k in keys])


def split_tables(spec: ModuleSpec) -> list[SplitTable]:
    """The module's tables, parents before children; each must have a primary key."""
    tables = [SplitTable(t) for t in spec.metadata.sorted_tables]
    keyless = [t.name for t in tables if not t.key_columns]
    if keyless:
        raise SplitRefused(f"module '{spec.name}': tables without a primary key cannot be "
                           f"copied in order or verified: {', '.join(keyless)}")
    odd = [f"{t.name}.{c.name}" for t in tables for c in t.key_columns if not _plain(c)]
    if odd:
        # Keys travel through the change log and the checkpoints as JSON.
        raise SplitRefused(f"module '{spec.name}': carve db split handles primary keys of "
                           f"integers and strings; these are neither: {', '.join(odd)}")
    return tables


def _plain(column: Any) -> bool:
    try:
        return column.type.python_type in (int, str)
    except NotImplementedError:  # SQLAlchemy's answer for a type with no Python equivalent
        return False
