"""The composition root: databases, event delivery and every module's binding.

Nothing here runs at import time; ``bootstrap`` is called by ``create_app``,
by the CLI and by tests (with fakes through ``bindings``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from contracts.contract import Contract
from migration.runtime.delivery import Consumer, InProcessDelivery
from migration.runtime.errors import ConfigError
from migration.runtime.modules import ModuleContext, ModuleSpec
from migration.runtime.outbox import OutboxStore
from migration.runtime.project import Project
from migration.runtime.remote import binding_plan, remote_bindings, transport_guard
from migration.runtime.settings import Settings
from migration.runtime.tracing import trace_headers
from migration.runtime.transports import LiveTransports
from migration.runtime.unit_of_work import CommitHook, UnitOfWork


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
    contracts = {project.module(name).contract: impl for name, impl in given.items()}
    local = [spec for spec in project.specs.values() if spec.name not in given]
    # carve.toml is re-read on change: `carve events swap` and `carve db cutover` need no restart.
    transports = project.follow(LiveTransports(project.config, transport_guard(project)))
    outboxes = {s.name: OutboxStore(project.sessions(s.name), s.outbox) for s in local}
    delivery = InProcessDelivery(outboxes, (), transports.transport)
    units = {spec.name: _units(project, spec, delivery.after_commit) for spec in local}
    services: dict[str, Contract] = {}
    for spec in _in_dependency_order(local, set(contracts)):
        context = ModuleContext(spec.name, units[spec.name], contracts, settings.environ,
                                dict(adapters or {}))
        services[spec.name] = contracts[spec.contract] = spec.factory(context)
    consumers = [Consumer(spec.name, subscription, units[spec.name], services[spec.name])
                 for spec in local for subscription in spec.subscriptions]
    for consumer in consumers:
        delivery.subscribe(consumer)
    return System(settings, services, contracts, delivery, [s.name for s in local], remote,
                  consumers)


def _units(project: Project, spec: ModuleSpec, on_commit: CommitHook) -> Callable[[], UnitOfWork]:
    """A factory of units of work on the module's database, announcing what they publish."""
    sessions = project.sessions(spec.name)
    return lambda: UnitOfWork(spec.name, sessions, spec.outbox, spec.inbox, on_commit=on_commit,
                              headers=trace_headers)  # the request's trace, into the outbox


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
