"""A runtime guard: a module's session may only touch the tables that module owns.

``carve lint`` finds cross-module table access in the source; this guard finds
what the source hides (a query built at run time). The unit of work marks its
session with ``session.info["carve_module"]``; the guard checks every statement
that session executes, and every flush, against the owners of the tables.
Sessions without a module (migrations, tools) are not checked. The test suite
turns it on; production leaves it off.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, object_mapper
from sqlalchemy.sql import visitors
from sqlalchemy.sql.expression import TableClause

MODULE_KEY = "carve_module"


class ForeignTableAccess(RuntimeError):
    """A module's session ran a statement against a table another module owns."""


class TableGuard:
    """Fails statements that cross table ownership; install it on sessions or ``Session``."""

    def __init__(self, owners: Mapping[str, str]) -> None:
        self.owners = dict(owners)

    def check(self, module: str, tables: Iterable[str]) -> None:
        """Raise :class:`ForeignTableAccess` if ``module`` does not own one of ``tables``."""
        for table in sorted(set(tables)):
            owner = self.owners.get(table)
            if owner is not None and owner != module:
                raise ForeignTableAccess(
                    f"module '{module}' ran a statement on table '{table}', owned by "
                    f"'{owner}': ask {owner} through its contract instead"
                )

    def install(self, target: Any = Session) -> None:
        """Listen on a session, a sessionmaker or the ``Session`` class (all sessions)."""
        event.listen(target, "do_orm_execute", self._on_execute)
        event.listen(target, "before_flush", self._on_flush)

    def remove(self, target: Any = Session) -> None:
        """Stop checking."""
        event.remove(target, "do_orm_execute", self._on_execute)
        event.remove(target, "before_flush", self._on_flush)

    def _on_execute(self, state: ORMExecuteState) -> None:
        module = state.session.info.get(MODULE_KEY)
        if module is not None:
            self.check(module, tables_in(state.statement))

    def _on_flush(self, session: Session, _context: Any, _instances: Any) -> None:
        module = session.info.get(MODULE_KEY)
        if module is not None:
            changed = [*session.new, *session.dirty, *session.deleted]
            self.check(module, (object_mapper(o).persist_selectable.name for o in changed))


def tables_in(statement: Any) -> set[str]:
    """The names of every table a statement reads or writes, subqueries included."""
    return {
        element.name for element in visitors.iterate(statement)
        if isinstance(element, TableClause)
    }


def table_owners(specs: Iterable[Any]) -> dict[str, str]:
    """Table -> module, from module specs (anything with ``name`` and ``owned_tables``)."""
    return {table: spec.name for spec in specs for table in spec.owned_tables}
