"""``ModuleSpec``: what a module declares about itself, the one thing carve reads.

The monolith's composition root builds modules from their specs, and every
carve tool (lint, analyze, extract, events) reads the same specs.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, Table

from contracts.contract import Contract
from contracts.events import Event
from migration.runtime.errors import ConfigError, UnknownModule
from migration.runtime.messaging_tables import dead_letters_table, inbox_table, outbox_table
from migration.runtime.unit_of_work import UnitOfWork

Handler = Callable[[Any, UnitOfWork, Any], None]


@dataclass(frozen=True)
class Subscription:
    """A module's handler for one event type."""

    event: type[Event]
    handler: Handler

    @property
    def name(self) -> str:
        return self.handler.__name__


@dataclass
class ModuleContext:
    """What a module's factory receives to build its implementation."""

    name: str
    unit_of_work: Callable[[], UnitOfWork]
    contracts: Mapping[type[Contract], Contract]
    settings: Mapping[str, str] = field(default_factory=dict)
    adapters: Mapping[str, Any] = field(default_factory=dict)

    def adapter(self, name: str, default: Callable[[], Any]) -> Any:
        """An adapter given to the composition root (a fake in tests), else the default."""
        return self.adapters[name] if name in self.adapters else default()

    def require(self, contract: type[Contract]) -> Any:
        """The binding (local or remote) of another module's contract."""
        try:
            return self.contracts[contract]
        except KeyError:
            raise ConfigError(
                f"module '{self.name}' needs the '{contract.name}' contract, "
                "but no module provides it"
            ) from None


@dataclass(frozen=True)
class ModuleSpec:
    """Everything carve needs to know about one module."""

    name: str
    contract: type[Contract]
    factory: Callable[[ModuleContext], Contract]
    metadata: MetaData
    migrations: Path
    subscriptions: tuple[Subscription, ...] = ()
    publishes: tuple[type[Event], ...] = ()
    uses: tuple[type[Contract], ...] = ()
    description: str = ""

    @property
    def outbox(self) -> Table:
        return self.metadata.tables[f"{self.name}_outbox"]

    @property
    def inbox(self) -> Table:
        return self.metadata.tables[f"{self.name}_inbox"]

    @property
    def dead_letters(self) -> Table:
        return self.metadata.tables[f"{self.name}_dead_letters"]

    @property
    def owned_tables(self) -> tuple[str, ...]:
        """The names of the tables this module owns (all prefixed ``<name>_``)."""
        return tuple(sorted(self.metadata.tables))


def module_metadata(name: str) -> MetaData:
    """A fresh MetaData for a module, with its outbox, inbox and dead letters declared."""
    metadata = MetaData()
    outbox_table(metadata, name)
    inbox_table(metadata, name)
    dead_letters_table(metadata, name)
    return metadata


def discover_modules(package: str) -> dict[str, ModuleSpec]:
    """Import every sub-package of ``package`` that declares ``module = ModuleSpec(...)``."""
    try:
        root = importlib.import_module(package)
    except ImportError as exc:
        raise ConfigError(f"modules package '{package}' cannot be imported: {exc}") from None
    specs: dict[str, ModuleSpec] = {}
    for info in pkgutil.iter_modules(root.__path__, prefix=f"{package}."):
        spec = getattr(importlib.import_module(info.name), "module", None)
        if isinstance(spec, ModuleSpec):
            specs[spec.name] = spec
    return dict(sorted(specs.items()))


def select_module(specs: Mapping[str, ModuleSpec], name: str) -> ModuleSpec:
    """The spec named ``name``, or an error listing the modules that exist."""
    if name not in specs:
        known = ", ".join(specs) or "none"
        raise UnknownModule(f"unknown module '{name}' (modules: {known})")
    return specs[name]
