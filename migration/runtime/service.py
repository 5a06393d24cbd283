"""An extracted module run as a service: its database, its contract over HTTP, its events.

The generated ``<module>_service/app.py`` of ``carve extract`` is a few lines
calling into this file, so every extracted service shares one tested runtime.
The service publishes through its own outbox, which its relay (``carve run relay
--path``) reads as a :class:`ServiceOutbox`, and hands its subscribers to a queue
worker as a :class:`ServiceWorker`, whose dead letters stay in the service's own
database.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from contracts.contract import Contract
from migration import __version__
from migration.runtime.client import client
from migration.runtime.config import CarveConfig
from migration.runtime.db import Database
from migration.runtime.dead_letters import DeadLetterStore
from migration.runtime.delivery import Consumer
from migration.runtime.discovery import Discovery
from migration.runtime.errors import DatabaseUnreachable
from migration.runtime.logs import RequestIdMiddleware
from migration.runtime.metrics import install_metrics
from migration.runtime.migrations import ModuleMigrations
from migration.runtime.modules import ModuleContext, ModuleSpec
from migration.runtime.outbox import OutboxStore
from migration.runtime.problems import install_problem_handlers, problem, problem_response
from migration.runtime.server import router_for
from migration.runtime.tracing import configure_tracing, instrument_app, trace_headers
from migration.runtime.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class ServiceSettings:
    """What a service reads from its environment."""

    module: str
    database_url: str
    environ: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, module: str, environ: Mapping[str, str] | None = None) -> ServiceSettings:
        """``DATABASE_URL_<MODULE>``, then ``DATABASE_URL``, then ``sqlite:///<module>.db``."""
        env = dict(os.environ if environ is None else environ)
        url = (env.get(f"DATABASE_URL_{module.upper()}") or env.get("DATABASE_URL")
               or f"sqlite:///{module}.db")
        return cls(module=module, database_url=url, environ=env)


class ServiceRuntime:
    """One module with its own database; the contracts it uses are called remotely.

    ``collaborators`` replaces some of those remote contracts (fakes in tests).
    """

    def __init__(
        self, spec: ModuleSpec, settings: ServiceSettings,
        collaborators: Mapping[type[Contract], Contract] | None = None,
    ) -> None:
        self.spec, self.settings = spec, settings
        self.database = Database(spec.name, settings.database_url)
        given, discovery = dict(collaborators or {}), Discovery(CarveConfig(), settings.environ)
        self._clients = {contract: client(contract, discovery=discovery)
                         for contract in spec.uses if contract not in given}
        contracts = {**self._clients, **given}
        context = ModuleContext(spec.name, self.unit_of_work, contracts, settings.environ)
        self.service = spec.factory(context)

    def unit_of_work(self) -> UnitOfWork:
        """A unit of work on the service's database; its events wait in the outbox."""
        return UnitOfWork(self.spec.name, self.database.sessions, self.spec.outbox,
                          self.spec.inbox, headers=trace_headers)

    def migrate(self) -> None:
        """Apply the service's migrations (version table ``alembic_version_<module>``)."""
        self.database.ping()
        ModuleMigrations(self.spec.name, self.spec.migrations, self.spec.metadata).upgrade(
            self.database.engine)

    def consumers(self) -> list[Consumer]:
        """The service's subscribers, ready for a queue worker to apply events with."""
        return [Consumer(self.spec.name, sub, self.unit_of_work, self.service)
                for sub in self.spec.subscriptions]

    def dead_letters(self) -> dict[str, DeadLetterStore]:
        """Where the worker keeps messages it gave up on: the service's own database."""
        return {self.spec.name: DeadLetterStore(self.database.sessions, self.spec.dead_letters)}

    def outbox(self) -> OutboxStore:
        """The service's outbox, where the relay picks up what it published."""
        return OutboxStore(self.database.sessions, self.spec.outbox)

    def close(self) -> None:
        """Release database connections and the clients of collaborators."""
        for proxy in self._clients.values():
            proxy.close()  # type: ignore[attr-defined]
        self.database.dispose()


@dataclass
class ServiceWorker:
    """What ``carve run worker`` runs for a service: its subscribers and their dead letters.

    The composition root of an extracted service's worker (``<module>_service.app.worker``);
    the same shape as the monolith's (``consumers``, ``close``), plus ``dead_letters`` so a
    message the service gives up on is kept in the service's database, not the monolith's.
    """

    runtime: ServiceRuntime
    consumers: list[Consumer]
    dead_letters: dict[str, DeadLetterStore]

    @classmethod
    def of(cls, runtime: ServiceRuntime) -> ServiceWorker:
        """The worker side of a service runtime."""
        return cls(runtime, runtime.consumers(), runtime.dead_letters())

    def close(self) -> None:
        """Release the service's database connections and clients."""
        self.runtime.close()


@dataclass
class ServiceOutbox:
    """What ``carve run relay --path`` relays for a service: its outbox and the subscribers.

    The composition root of an extracted service's relay (``<module>_service.app.relay``).
    An extracted service delivers nothing in-process, so every event it publishes goes to
    the broker: one message per subscriber (``<module>.<handler>``) in ``subscribers``.
    """

    runtime: ServiceRuntime
    outbox: OutboxStore
    subscribers: dict[str, list[str]]

    @classmethod
    def of(cls, runtime: ServiceRuntime,
           subscribers: Mapping[str, Sequence[str]]) -> ServiceOutbox:
        """The relay side of a service runtime, with who consumes each event it publishes."""
        return cls(runtime, runtime.outbox(),
                   {event: list(names) for event, names in subscribers.items()})

    def close(self) -> None:
        """Release the service's database connections and clients."""
        self.runtime.close()


def create_service_app(runtime: ServiceRuntime) -> FastAPI:
    """The service's HTTP app: its contract at the monolith's paths, health and metrics."""
    spec = runtime.spec

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            runtime.close()

    app = FastAPI(title=f"{spec.name} service", version=__version__, lifespan=lifespan,
                  description=spec.description)
    app.state.runtime = runtime
    install_problem_handlers(app)
    app.include_router(router_for(spec.contract, lambda: runtime.service))
    _add_health(app, runtime)
    install_metrics(app, f"{spec.name}-service")
    configure_tracing(f"{spec.name}-service", runtime.settings.environ)
    instrument_app(app)
    app.add_middleware(RequestIdMiddleware)
    return app


def _add_health(app: FastAPI, runtime: ServiceRuntime) -> None:
    @app.get("/healthz", tags=["health"], operation_id="healthz")
    def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], operation_id="readyz")
    def readyz() -> JSONResponse:
        """The service's database answers."""
        try:
            runtime.database.ping()
        except DatabaseUnreachable as exc:
            return problem_response(problem(503, "service.not_ready", "Not ready", str(exc)))
        return JSONResponse({"status": "ready", "module": runtime.spec.name})
