"""What a migration plan needs running: read once from ``carve.toml`` and the modules.

``carve up``, ``carve export compose`` and ``carve export k8s`` all start from a
:class:`SystemPlan`; each renders it its own way (local processes, containers,
manifests). Everything is read from the plan generically: the remote modules, the
events on the queue, the databases, the gateway's routes; no module or event is
named here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from migration.runtime.errors import ConfigError
from migration.runtime.modules import ModuleSpec
from migration.runtime.project import Project
from migration.runtime.remote import binding_plan

DEFAULT_EXTRACTED = "extracted"


@dataclass(frozen=True)
class RemoteModule:
    """A module served by its extracted service: where it is, what it runs besides."""

    name: str
    folder: Path
    database: str | None  # [modules.<name>] database: the service's own; None for a default
    url: str | None  # [modules.<name>] url
    publishes: bool  # has an outbox, so a relay of its own
    subscribes: bool  # has subscribers, so a worker of its own
    uses: tuple[str, ...]  # the modules whose contracts it calls

    @property
    def service(self) -> str:
        """The component's name, which is also its DNS name in compose and Kubernetes."""
        return f"{self.name}-service"


@dataclass(frozen=True)
class SystemPlan:
    """The components a plan needs: the monolith, services, event processes, a gateway."""

    config_path: Path | None
    local: tuple[str, ...]
    remote: tuple[RemoteModule, ...]
    queue_events: tuple[str, ...]
    database_url: str
    module_databases: dict[str, str]  # local modules with a database of their own
    routes: str | None
    gateway_port: int
    broker_url: str = "redis://127.0.0.1:6379/0"
    gateway_engine: str = "carve"  # carve run gateway --engine

    @property
    def folder(self) -> Path:
        """The folder holding ``carve.toml`` (the current one without a file)."""
        return self.config_path.parent if self.config_path else Path.cwd()

    @property
    def engine_args(self) -> tuple[str, ...]:
        """What ``carve run gateway`` is told of its data plane (nothing for the default)."""
        return () if self.gateway_engine == "carve" else ("--engine", self.gateway_engine)

    @property
    def uses_queue(self) -> bool:
        """Whether any event travels through the broker (so relays and workers run)."""
        return bool(self.queue_events)

    def remote_module(self, name: str) -> RemoteModule | None:
        """The remote module of that name, if it is remote."""
        return next((m for m in self.remote if m.name == name), None)


def read_plan(project: Project, extracted: Path | None = None) -> SystemPlan:
    """The system ``project``'s plan describes; a remote module must be extracted."""
    config = project.config
    bindings = binding_plan(project)  # refuses a plan the monolith cannot run
    base = config.path.parent if config.path else Path.cwd()
    folder = extracted if extracted is not None else base / DEFAULT_EXTRACTED
    remote = tuple(_remote(project.module(name), project, folder) for name in bindings.remote)
    own = {name: config.module(name).database for name in bindings.local
           if config.module(name).database}
    return SystemPlan(
        config_path=config.path, local=bindings.local, remote=remote,
        queue_events=tuple(sorted(e for e, c in config.events.items() if c.transport == "queue")),
        database_url=config.database.url, module_databases=own,  # type: ignore[arg-type]
        routes=config.gateway.routes, gateway_port=config.gateway.port,
        broker_url=config.broker.url, gateway_engine=config.gateway.engine,
    )


def _remote(spec: ModuleSpec, project: Project, extracted: Path) -> RemoteModule:
    folder = extracted / f"{spec.name}-service"
    app = folder / "src" / f"{spec.name.replace('-', '_')}_service" / "app.py"
    if not app.is_file():
        raise ConfigError(f"module '{spec.name}' is bound remote but {folder} holds no "
                          f"extracted service: run carve extract {spec.name}")
    # What runs is the service as extracted, which may predate the module's latest events
    # (carve extract --check reports that): its entry points say what it has.
    source = app.read_text(encoding="utf-8")
    module = project.config.module(spec.name)
    return RemoteModule(
        name=spec.name, folder=folder, database=module.database, url=module.url,
        publishes="\ndef relay(" in source, subscribes="\ndef worker(" in source,
        uses=tuple(sorted(c.name for c in spec.uses)),
    )
