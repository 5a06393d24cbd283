"""The plan as containers: one list of components that compose and Kubernetes both render.

Every component listens on the same port in its own container and is found by
its name (``monolith``, ``<module>-service``, ``gateway``), as the client
binding's default discovery expects. A database of the plan becomes a PostgreSQL
of its own: ``postgres`` for the shared one, ``postgres-<module>`` for a module's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from migration.deploy.plan import RemoteModule, SystemPlan
from migration.runtime.discovery import env_name

HTTP_PORT = 8000
GATEWAY_PORT = 8080
METRICS_PORT = 9100  # relays and workers serve /metrics here
MONOLITH_IMAGE = "carve-monolith"
APP_ROOT = "/app"  # where the monolith's image holds the project and carve.toml
POSTGRES_PASSWORD = "carve"
REDIS_URL = "redis://redis:6379/0"
RABBITMQ_URL = "amqp://guest:guest@rabbitmq:5672/"
OTLP_ENDPOINT = "http://jaeger:4318"
# Compose refuses to start without it, rather than run an admin API with a known token.
ADMIN_TOKEN = "${CARVE_ADMIN_TOKEN:?set CARVE_ADMIN_TOKEN, the gateway's admin token}"


@dataclass(frozen=True)
class Database:
    """A PostgreSQL server of the deployment, with its one database."""

    host: str
    name: str

    @property
    def url(self) -> str:
        """The URL processes reach it at."""
        return f"postgresql://postgres:{POSTGRES_PASSWORD}@{self.host}:5432/{self.name}"


@dataclass(frozen=True)
class Component:
    """One process of the system as a container."""

    name: str
    kind: str  # monolith | service | relay | worker | gateway
    command: tuple[str, ...]
    env: dict[str, str]
    build: str  # the folder whose Dockerfile builds its image, relative to carve.toml
    image: str
    port: int | None = None  # its HTTP port, when it serves HTTP
    ready_path: str | None = None
    live_path: str | None = None
    databases: tuple[str, ...] = ()  # hosts of the PostgreSQL servers it needs
    needs: tuple[str, ...] = field(default_factory=tuple)  # components ready before it
    files: tuple[tuple[str, str], ...] = ()  # (folder beside carve.toml, path in the container)


def databases(plan: SystemPlan) -> dict[str, Database]:
    """The PostgreSQL servers the plan needs, by host name."""
    found = {"postgres": Database("postgres", "carve")}
    for name in [*plan.module_databases, *(m.name for m in plan.remote)]:
        found[f"postgres-{name}"] = Database(f"postgres-{name}", name.replace("-", "_"))
    return found


def components(plan: SystemPlan) -> list[Component]:
    """Every process of the plan, as the containers that run it."""
    base = _monolith_env(plan)
    local_dbs = ("postgres", *(f"postgres-{m}" for m in plan.module_databases))
    result = [Component(
        "monolith", "monolith", _carve("run", "monolith", "--host", "0.0.0.0", "--port",
                                       str(HTTP_PORT)), _named(base, "monolith"), ".",
        MONOLITH_IMAGE, HTTP_PORT, "/readyz", "/healthz", local_dbs)]
    for module in plan.remote:
        result += _service_components(plan, module)
    if plan.uses_queue and plan.local:
        for kind in ("relay", "worker"):
            result.append(Component(
                kind, kind, _carve("run", kind, "--metrics-port", str(METRICS_PORT)),
                _named(base, kind), ".", MONOLITH_IMAGE, databases=local_dbs,
                needs=("monolith",)))
    if plan.routes:
        result.append(_gateway(plan, base))
    return result


def _service_components(plan: SystemPlan, module: RemoteModule) -> list[Component]:
    folder, image = f"extracted/{module.service}", f"carve-{module.service}"
    env = {"DATABASE_URL": databases(plan)[f"postgres-{module.name}"].url,
           "CARVE_BROKER_URL": broker_url(plan), "CARVE_LOG_FORMAT": "json",
           "OTEL_EXPORTER_OTLP_ENDPOINT": OTLP_ENDPOINT}
    for used in module.uses:  # a module still in the monolith is served by the monolith
        remote = plan.remote_module(used)
        env[env_name(used, "URL")] = _url(remote.service if remote else "monolith")
    path, db = "/service", (f"postgres-{module.name}",)
    result = [Component(
        module.service, "service", _carve("run", "service", module.name, "--path", path,
                                          "--host", "0.0.0.0", "--port", str(HTTP_PORT)),
        _named(env, module.service), folder, image, HTTP_PORT, "/readyz", "/healthz", db)]
    for kind, present in (("worker", module.subscribes), ("relay", module.publishes)):
        if present:
            name = f"{module.name}-{kind}"
            result.append(Component(
                name, kind, _carve("run", kind, "--path", path, "--metrics-port",
                                   str(METRICS_PORT)),
                _named(env, name), folder, image, databases=db, needs=(module.service,)))
    return result


def _gateway(plan: SystemPlan, base: dict[str, str]) -> Component:
    command = ["run", "gateway", "--host", "0.0.0.0", "--port", str(GATEWAY_PORT),
               "--monolith", _url("monolith"), "--routes", gateway_routes(plan),
               *plan.engine_args]
    for module in plan.remote:
        command += ["--service", f"{module.name}={_url(module.service)}"]
    env = {**_named(base, "gateway"), "CARVE_ADMIN_TOKEN": ADMIN_TOKEN}
    routes = plan.routes or ""
    # The file store writes beside the file (lock, audit, atomic rename): mount its folder.
    folder = routes.rpartition("/")[0] or "."
    files = () if routes.startswith("redis") else ((folder, f"{APP_ROOT}/routes"),)
    return Component("gateway", "gateway", _carve(*command), env, ".", MONOLITH_IMAGE,
                     GATEWAY_PORT, "/_carve/healthz", "/_carve/healthz",
                     needs=("monolith", *(m.service for m in plan.remote)), files=files)


def gateway_routes(plan: SystemPlan) -> str:
    """The gateway's route store inside the deployment: the file in the image, or Redis."""
    routes = plan.routes or ""
    if routes.startswith("redis"):
        query = routes.partition("?")[2]
        return REDIS_URL + (f"?{query}" if query else "")
    return f"{APP_ROOT}/routes/{routes.rsplit('/', 1)[-1]}"


def broker_url(plan: SystemPlan) -> str:
    """The broker inside the deployment: RabbitMQ when the plan's is AMQP, else Redis."""
    return RABBITMQ_URL if plan.broker_url.startswith("amqp") else REDIS_URL


def _monolith_env(plan: SystemPlan) -> dict[str, str]:
    env = {"CARVE_CONFIG": f"{APP_ROOT}/carve.toml",
           "DATABASE_URL": databases(plan)["postgres"].url,
           "CARVE_BROKER_URL": broker_url(plan), "CARVE_LOG_FORMAT": "json",
           "OTEL_EXPORTER_OTLP_ENDPOINT": OTLP_ENDPOINT}
    for name in plan.module_databases:
        env[f"DATABASE_URL_{name.upper()}"] = databases(plan)[f"postgres-{name}"].url
    for module in plan.remote:
        env[env_name(module.name, "URL")] = _url(module.service)
    return env


def _named(env: dict[str, str], name: str) -> dict[str, str]:
    return {**env, "OTEL_SERVICE_NAME": name}


def _carve(*args: str) -> tuple[str, ...]:
    return ("carve", *args)


def _url(host: str) -> str:
    return f"http://{host}:{HTTP_PORT}"
