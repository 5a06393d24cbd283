"""The monolith's HTTP application: every local module's contract, health and readiness."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from contracts.contract import Contract
from migration import __version__
from migration.runtime.delivery import RetryLoop
from migration.runtime.errors import DatabaseUnreachable
from migration.runtime.logs import RequestIdMiddleware
from migration.runtime.metrics import install_metrics
from migration.runtime.problems import install_problem_handlers, problem, problem_response
from migration.runtime.server import router_for
from migration.runtime.settings import Settings
from migration.runtime.tracing import configure_tracing, instrument_app
from monolith.bootstrap import System, bootstrap


def create_app(
    settings: Settings,
    bindings: Mapping[str, Contract] | None = None,
    adapters: Mapping[str, Any] | None = None,
) -> FastAPI:
    """Build the monolith for these settings; nothing connects until it serves."""
    system = bootstrap(settings, bindings, adapters)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        retry = RetryLoop(system.delivery, settings.retry_interval)
        retry.start()
        try:
            yield
        finally:
            retry.stop()
            system.close()

    app = FastAPI(title="carve reference monolith", version=__version__, lifespan=lifespan)
    app.state.system = system
    configure_tracing("monolith", settings.project.environ)
    instrument_app(app)
    install_metrics(app, "monolith")  # the same names as every extracted service's
    app.add_middleware(RequestIdMiddleware)
    install_problem_handlers(app)
    for name in system.local:
        spec = settings.project.module(name)
        service = system.services[name]
        app.include_router(router_for(spec.contract, lambda service=service: service))
    for name, client in system.remote.items():
        # Still served here, through the client binding (ADR 0007): the monolith's side of a
        # gateway route answers from the service's data, as the service's side does.
        spec = settings.project.module(name)
        app.include_router(router_for(spec.contract, lambda client=client: client))
    _add_health(app, system)
    return app


def create_app_from_env() -> FastAPI:
    """The app for ``uvicorn --factory``: settings from ``carve.toml`` and the environment."""
    return create_app(Settings.from_env())


def _add_health(app: FastAPI, system: System) -> None:
    @app.get("/healthz", tags=["health"], operation_id="healthz")
    def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], operation_id="readyz")
    def readyz() -> JSONResponse:
        """Every local module's database answers."""
        project, checks, failures = system.settings.project, {}, []
        for name in system.local:
            try:
                project.database(name).ping()
                checks[name] = "ok"
            except DatabaseUnreachable as exc:
                checks[name] = "unreachable"
                failures.append(str(exc))
        if failures:
            body = problem(503, "service.not_ready", "Not ready", "; ".join(failures),
                           modules=checks)
            return problem_response(body)
        return JSONResponse({"status": "ready", "modules": checks})
