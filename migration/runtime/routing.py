"""A module's sessions follow its database in the live plan, and its writes wait out a freeze.

``carve db cutover`` moves a module to another database while the monolith,
its relays and workers run. Two things make that safe without a restart:

- :class:`RoutedSessions` is a drop-in for a ``sessionmaker``: every session it
  makes is bound to the database the module resolves to *now* (carve.toml is
  re-read when it changes), so units of work begun after the switch use the new one.
- :class:`FreezeGate` holds a unit of work at its first write while the module is
  frozen (a freeze file beside carve.toml, written by the cut-over). When the
  freeze ends, a unit of work that has not touched the old database yet writes
  to the new one; one that has read there is refused with :class:`ModuleMoving`
  (its reads, and row locks, belong to the database the module left). Reads
  never wait.

The source database is the last line of defence: its capture triggers refuse a
write once the module has moved, and the unit of work turns that refusal into
:class:`ModuleMoving`, a 503 with ``Retry-After``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

from contracts.errors import ServiceUnavailable
from migration.runtime.db import Database

#: A write that finds its module frozen waits this long before it is answered 503.
DEFAULT_FREEZE_WAIT_S = 5.0
_WROTE = "carve_wrote"
_READ = "carve_read"
_POLL_S = 0.002


class ModuleMoving(ServiceUnavailable):
    """The module's database is being switched: try again in a moment."""

    code = "module.moving"
    title = "Module is moving to another database"
    retry_after = 1


def freeze_file(config_path: Path | None, module: str) -> Path | None:
    """Where ``carve db cutover`` announces a module's freeze (beside carve.toml)."""
    if config_path is None:
        return None
    return config_path.parent / ".carve" / "freeze" / module


class FreezeGate:
    """Makes a module's writes wait while its freeze file is in place (and not expired)."""

    def __init__(self, module: str, path: Path | None,
                 wait_s: float = DEFAULT_FREEZE_WAIT_S) -> None:
        self.module = module
        self.path = path
        self.wait_s = wait_s

    def wait(self) -> None:
        """Return once the module is not frozen; :class:`ModuleMoving` after ``wait_s``."""
        if self.path is None:
            return
        give_up = time.monotonic() + self.wait_s
        while self._frozen():
            if time.monotonic() >= give_up:
                raise ModuleMoving(f"module '{self.module}' is frozen while its database "
                                   "is switched; retry in a moment")
            time.sleep(_POLL_S)

    def _frozen(self) -> bool:
        assert self.path is not None
        try:
            until = json.loads(self.path.read_text(encoding="utf-8"))["until"]
        except (OSError, ValueError, KeyError, TypeError):
            return False  # no freeze, or one being written: the triggers still guard
        # A freeze whose cut-over died is over: the cut-over's own lock died with it.
        return time.time() < float(until)


class RoutedSessions:
    """A ``sessionmaker`` look-alike whose sessions use the module's current database."""

    def __init__(self, resolve: Callable[[], Database], gate: FreezeGate) -> None:
        self._resolve = resolve
        self._gate = gate
        self._factories: dict[int, sessionmaker[Session]] = {}
        self._lock = threading.Lock()

    def current(self) -> sessionmaker[Session]:
        """The session factory of the database the module resolves to right now."""
        database = self._resolve()
        factory = self._factories.get(id(database))
        if factory is None:
            factory = self._watched(database)
        return factory

    def _watched(self, database: Database) -> sessionmaker[Session]:
        # A factory of our own, its listener attached before any thread can use it:
        # adding one to a factory other threads dispatch on is not thread-safe.
        with self._lock:
            if id(database) not in self._factories:
                template = database.sessions
                factory = sessionmaker(class_=template.class_, **template.kw)
                event.listen(factory, "do_orm_execute", self._before_statement)
                self._factories[id(database)] = factory
            return self._factories[id(database)]

    def __call__(self, **kw: Any) -> Session:
        return self.current()(**kw)

    def begin(self) -> Any:
        """A session in a transaction, as ``sessionmaker.begin()``."""
        return self.current().begin()

    @property
    def kw(self) -> dict[str, Any]:
        """The current factory's keyword arguments (``bind`` among them)."""
        return self.current().kw

    def _before_statement(self, state: ORMExecuteState) -> None:
        session = state.session
        if not (state.is_insert or state.is_update or state.is_delete):
            session.info[_READ] = True
            return
        if session.info.get(_WROTE):
            return
        session.info[_WROTE] = True
        has_read = session.info.get(_READ, False)
        bound = session.get_bind()
        if not (has_read and bound.dialect.name == "sqlite"):
            # A SQLite unit of work that has read already holds the file's write lock
            # (BEGIN IMMEDIATE): the freeze cannot start before it commits, so it must
            # not wait for the freeze either.
            self._gate.wait()
        engine = self._resolve().engine
        if getattr(bound, "engine", bound) is engine:
            return
        if has_read:
            # What it read (and any row it locked) is on the database the module left:
            # writing on the new one could undo another transaction's write. Start over.
            raise ModuleMoving(f"module '{self._gate.module}' moved to another database "
                               "while this request ran; retry it")
        session.bind = engine  # nothing read yet: the write goes where the module lives now
