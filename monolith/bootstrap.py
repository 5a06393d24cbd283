"""The composition root: databases, event delivery and every module's binding.

Nothing here runs at import time; ``bootstrap`` is called by ``create_app``,
by the CLI and by tests (with fakes through ``bindings``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from contracts.contract import Contract
from migration.runtime.delivery import Consumer, InProcessDelivery
from migration.runtime.errors import ConfigError
from migration.runtime.modules import ModuleContext, ModuleSpec
from migration.runtime.outbox import OutboxStore
from migration.runtime.remote import binding_plan, remote_bindings, transport_guard
from migration.runtime.settings import Settings
from migration.runtime.transports import LiveTransports
from migration.runtime.unit_of_work import UnitOfWork


@dataclass
class System:
    """Everything the monolith runs: module implementations and event delivery."""

    settings: Settings
    services: dict[str, Contract]
    contracts: dict[type[Contract], Contract]
    delivery: InProcessDelivery
    local: list[str] = field(default_factory=list)
    remote: dict[str, Contract] = field(default_factory=dict)
    consumers: list[Consumer] = field(default_factory=list)

    def close(self) -> None:
        for proxy in self.remote.values():
            proxy.close()  # type: ignore[attr-defined]
        self.settings.project.close()


def bootstrap(
    settings: Settings,
    bindings: Mapping[str, Contract] | None = None,
    adapters: Mapping[str, Any] | None = None,
) -> System:
    """Build every module: a given binding (a fake, a remote client) or the local code.

    ``adapters`` replaces a module's outside-world adapters by name (``sender``).
    Modules bound ``remote`` get the client binding and are not run here.
    """
    project = settings.project
    remote = remote_bindings(project, binding_plan(project).remote)
    given = {**remote, **dict(bindings or {})}
    contracts: dict[type[Contract], Contract] = {
        project.module(name).contract: impl for name, impl in given.items()
    }
    services: dict[str, Contract] = {}
    delivery_ref: list[InProcessDelivery] = []

    def unit_of_work(spec: ModuleSpec):  # type: ignore[no-untyped-def]
        database = project.database(spec.name)
        return lambda: UnitOfWork(
            spec.name, database.sessions, spec.outbox, spec.inbox,
            on_commit=lambda module, ids: delivery_ref[0].after_commit(module, ids),
        )

    local_specs = [s for s in project.specs.values() if s.name not in given]
    for spec in _in_dependency_order(local_specs, set(contracts)):
        context = ModuleContext(spec.name, unit_of_work(spec), contracts, settings.environ,
                                dict(adapters or {}))
        services[spec.name] = contracts[spec.contract] = spec.factory(context)

    consumers = [
        Consumer(spec.name, sub, unit_of_work(spec), services[spec.name])
        for spec in local_specs for sub in spec.subscriptions
    ]
    outboxes = {s.name: OutboxStore(project.database(s.name).sessions, s.outbox)
                for s in local_specs}
    # Transports are re-read from carve.toml on change: `carve events swap` needs no restart.
    transports = LiveTransports(project.config, transport_guard(project))
    delivery_ref.append(InProcessDelivery(outboxes, consumers, transports.transport))
    return System(settings, services, contracts, delivery_ref[0], [s.name for s in local_specs],
                  remote, consumers)


def _in_dependency_order(specs: list[ModuleSpec], ready: set[type[Contract]]) -> list[ModuleSpec]:
    """Order modules so that each comes after the modules whose contracts it uses."""
    ordered, pending, provided = [], list(specs), set(ready)
    while pending:
        progress = [s for s in pending if set(s.uses) <= provided | {s.contract}]
        if not progress:
            missing = {c.name for s in pending for c in s.uses} - {c.name for c in provided}
            names = ", ".join(s.name for s in pending)
            raise ConfigError(
                f"modules {names} use contracts no module provides or that form a cycle: "
                f"{', '.join(sorted(missing)) or 'cycle'}"
            )
        for spec in progress:
            ordered.append(spec)
            provided.add(spec.contract)
            pending.remove(spec)
    return ordered
