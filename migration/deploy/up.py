"""``carve up``: every process the plan needs, on this machine, until stopped."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from migration.deploy.local import LocalProcess, local_processes
from migration.deploy.plan import read_plan
from migration.deploy.supervisor import Notify, Supervisor
from migration.gateway.nginx_engine import find_nginx
from migration.runtime.errors import ConfigError
from migration.runtime.project import Project
from migration.runtime.serving import check_can_listen


def plan_processes(config: Path | None, monolith_port: int,
                   extracted: Path | None) -> tuple[list[LocalProcess], Path]:
    """The processes of the plan at ``config`` and the folder they run in.

    Refuses, in one line, a plan the monolith cannot run, a remote module not
    extracted, a gateway on NGINX without NGINX, and a port already taken (before anything
    starts).
    """
    project = Project.load(config)
    try:
        plan = read_plan(project, extracted)
    finally:
        project.close()
    processes = local_processes(plan, monolith_port)
    if plan.gateway_engine == "nginx" and any(p.kind == "gateway" for p in processes):
        find_nginx()  # the gateway would exit at once, and be started again and again
    ports = [int(p.url.rsplit(":", 1)[1]) for p in processes if p.url]
    if len(set(ports)) != len(ports):
        raise ConfigError(f"two processes of the plan share a port: {sorted(ports)}")
    for port in ports:
        check_can_listen("127.0.0.1", port)
    return processes, plan.folder


def up(processes: list[LocalProcess], folder: Path, notify: Notify,
       stop: threading.Event, on_tick: Callable[[Supervisor], None]) -> None:
    """Start the processes and keep them running until ``stop`` is set, then stop them."""
    supervisor = Supervisor(processes, folder, notify)
    supervisor.run(stop, lambda: on_tick(supervisor))
