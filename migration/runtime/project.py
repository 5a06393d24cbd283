"""A project: its ``carve.toml``, its modules and their databases.

Everything that reads the structure of a monolith (the composition root, the
CLI, every carve tool) starts from a :class:`Project`.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from migration.runtime.config import CarveConfig, load_config
from migration.runtime.db import Database, module_database_url
from migration.runtime.live_plan import LivePlan
from migration.runtime.migrations import ModuleMigrations
from migration.runtime.modules import ModuleSpec, discover_modules, select_module
from migration.runtime.routing import (
    DEFAULT_FREEZE_WAIT_S,
    FreezeGate,
    RoutedSessions,
    freeze_file,
)


@dataclass
class Project:
    """The modules of a monolith and where their data lives."""

    config: CarveConfig
    specs: dict[str, ModuleSpec]
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    _databases: dict[str, Database] = field(default_factory=dict, init=False, repr=False)
    _moved: dict[tuple[str, str], Database] = field(default_factory=dict, init=False, repr=False)
    _plan: LivePlan | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @classmethod
    def load(
        cls, config_path: Path | str | None = None, environ: Mapping[str, str] | None = None
    ) -> Project:
        """Read ``carve.toml`` and discover the modules it points at."""
        config = load_config(config_path)
        _put_source_on_path(config)
        env = dict(os.environ if environ is None else environ)
        return cls(config=config, specs=discover_modules(config.project.modules), environ=env)

    def module(self, name: str) -> ModuleSpec:
        """One module's spec; an unknown name is an error listing the known ones."""
        return select_module(self.specs, name)

    def select(self, names: Iterable[str] | None) -> list[ModuleSpec]:
        """The named modules (all when ``names`` is empty or None)."""
        chosen = list(names or [])
        return [self.module(n) for n in chosen] if chosen else list(self.specs.values())

    def database_url(self, name: str) -> str:
        """Where a module's tables live."""
        return module_database_url(name, self.config, self.environ)

    def database(self, name: str) -> Database:
        """The module's database, created on first use."""
        if name not in self._databases:
            self._databases[name] = Database(name, self.database_url(name))
        return self._databases[name]

    def follow(self, plan: LivePlan) -> LivePlan:
        """Make :meth:`sessions` follow this live plan (one watcher per process)."""
        self._plan = plan
        return plan

    def sessions(self, name: str) -> RoutedSessions:
        """Sessions on the module's database as the live plan names it *now*.

        Running processes use these: ``carve db cutover`` switches a module's
        database in carve.toml and the next unit of work follows, no restart.
        """
        if self._plan is None:
            self._plan = LivePlan(self.config)
        plan = self._plan
        wait_ms = self.environ.get("CARVE_FREEZE_WAIT_MS")
        gate = FreezeGate(name, freeze_file(self.config.path, name),
                          float(wait_ms) / 1000 if wait_ms else DEFAULT_FREEZE_WAIT_S)
        return RoutedSessions(lambda: self._current_database(name, plan), gate)

    def _current_database(self, name: str, plan: LivePlan) -> Database:
        url = module_database_url(name, plan.config(), self.environ)
        if url == self.database_url(name):
            return self.database(name)
        with self._lock:
            if (name, url) not in self._moved:
                self._moved[name, url] = Database(name, url)
            return self._moved[name, url]

    def migrations(self, name: str) -> ModuleMigrations:
        """The module's migration history."""
        spec = self.module(name)
        return ModuleMigrations(spec.name, spec.migrations, spec.metadata)

    def upgrade(self, names: Iterable[str] | None = None, revision: str = "head") -> list[str]:
        """Apply migrations to the named modules (all by default); returns their names."""
        done = []
        for spec in self.select(names):
            database = self.database(spec.name)
            database.ping()
            self.migrations(spec.name).upgrade(database.engine, revision)
            done.append(spec.name)
        return done

    def downgrade(self, name: str, revision: str = "base") -> str:
        """Take one module's schema down to ``revision``; returns the module's name."""
        spec = self.module(name)
        database = self.database(spec.name)
        database.ping()
        self.migrations(spec.name).downgrade(database.engine, revision)
        return spec.name

    def close(self) -> None:
        """Release every database connection."""
        for database in [*self._databases.values(), *self._moved.values()]:
            database.dispose()
        self._databases.clear()
        self._moved.clear()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc_info: object) -> None:
        # Connections are released whatever happened inside the block; an
        # exception raised there still propagates (nothing is swallowed).
        self.close()


def _put_source_on_path(config: CarveConfig) -> None:
    """Make the project's source folder importable, relative to ``carve.toml``."""
    base = config.path.parent if config.path else Path.cwd()
    source = str((base / config.project.source).resolve())
    if source not in sys.path:
        sys.path.insert(0, source)
