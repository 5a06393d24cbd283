"""The processes ``carve up`` starts for a plan, each a ``carve run …`` command.

Stages order the start: the HTTP servers first (they migrate their databases), then
the relays and workers, then the gateway; a stage starts once every server of the
stages before it is ready. They stop in the reverse order: the front door first,
the workers last.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from migration.deploy.plan import RemoteModule, SystemPlan
from migration.runtime.discovery import env_name

HOST = "127.0.0.1"


@dataclass(frozen=True)
class LocalProcess:
    """One process to run: its ``carve`` arguments, environment and readiness URL."""

    name: str
    kind: str  # monolith | service | relay | worker | gateway
    args: tuple[str, ...]
    stage: int
    env: dict[str, str] = field(default_factory=dict)
    url: str | None = None
    ready_path: str | None = None

    @property
    def ready_url(self) -> str | None:
        """Where readiness is asked (None: alive is ready)."""
        return f"{self.url}{self.ready_path}" if self.url and self.ready_path else None


def local_processes(plan: SystemPlan, monolith_port: int = 8000) -> list[LocalProcess]:
    """Every process the plan needs on this machine, in start order."""
    ports = service_ports(plan, monolith_port)
    monolith = f"http://{HOST}:{monolith_port}"
    urls = {m.name: f"http://{HOST}:{ports[m.name]}" for m in plan.remote}
    config = _config_env(plan)
    processes = [LocalProcess(
        "monolith", "monolith", ("run", "monolith", "--host", HOST, "--port", str(monolith_port)),
        stage=0, env={**config, **{env_name(n, "URL"): u for n, u in urls.items()}},
        url=monolith, ready_path="/readyz")]
    for module in plan.remote:
        processes += _service_processes(plan, module, urls, monolith, ports[module.name])
    if plan.uses_queue and plan.local:
        processes += [LocalProcess("relay", "relay", ("run", "relay"), 1, config),
                      LocalProcess("worker", "worker", ("run", "worker"), 1, config)]
    if plan.routes:
        processes.append(_gateway(plan, monolith, urls))
    return processes


def service_ports(plan: SystemPlan, monolith_port: int) -> dict[str, int]:
    """Each remote module's port: the one in its ``url`` in the plan, else the next free."""
    explicit = {m.name: urlsplit(m.url).port for m in plan.remote if m.url}
    taken = {monolith_port, plan.gateway_port, *filter(None, explicit.values())}
    ports, candidate = {}, monolith_port + 1
    for module in plan.remote:
        if explicit.get(module.name):
            ports[module.name] = explicit[module.name]
            continue
        while candidate in taken:
            candidate += 1
        ports[module.name] = candidate
        taken.add(candidate)
    return ports


def _service_processes(plan: SystemPlan, module: RemoteModule, urls: dict[str, str],
                       monolith: str, port: int) -> list[LocalProcess]:
    folder = str(module.folder)
    env = {**_config_env(plan), **_service_env(plan, module, urls, monolith)}
    name = module.service
    processes = [LocalProcess(
        name, "service", ("run", "service", module.name, "--path", folder, "--host", HOST,
                          "--port", str(port)), 0, env, url=urls[module.name],
        ready_path="/readyz")]
    if module.subscribes:
        processes.append(LocalProcess(f"{module.name}-worker", "worker",
                                      ("run", "worker", "--path", folder), 1, env))
    if module.publishes:
        processes.append(LocalProcess(f"{module.name}-relay", "relay",
                                      ("run", "relay", "--path", folder), 1, env))
    return processes


def _service_env(plan: SystemPlan, module: RemoteModule, urls: dict[str, str],
                 monolith: str) -> dict[str, str]:
    """The service's database and where the contracts it calls are served."""
    database = module.database or f"sqlite:///{plan.folder / (module.name + '-service.db')}"
    env = {f"DATABASE_URL_{module.name.upper()}": database}
    for used in module.uses:  # a module still in the monolith is served by the monolith
        env[env_name(used, "URL")] = urls.get(used, monolith)
    return env


def _gateway(plan: SystemPlan, monolith: str, urls: dict[str, str]) -> LocalProcess:
    args = ["run", "gateway", "--host", HOST, "--port", str(plan.gateway_port),
            "--monolith", monolith, "--routes", _routes(plan), *plan.engine_args]
    for name, url in urls.items():
        args += ["--service", f"{name}={url}"]
    return LocalProcess("gateway", "gateway", tuple(args), 2, _config_env(plan),
                        url=f"http://{HOST}:{plan.gateway_port}", ready_path="/_carve/healthz")


def _routes(plan: SystemPlan) -> str:
    routes = plan.routes or ""
    if "://" in routes or Path(routes).is_absolute():
        return routes
    return str(plan.folder / routes)  # relative to carve.toml, as its SQLite files are


def _config_env(plan: SystemPlan) -> dict[str, str]:
    return {"CARVE_CONFIG": str(plan.config_path)} if plan.config_path else {}
