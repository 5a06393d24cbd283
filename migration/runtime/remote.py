"""Which modules the monolith runs itself and which it calls as services.

A module bound ``remote`` is served elsewhere: the monolith calls it through
the client binding, serves none of its routes, runs none of its subscribers
and touches none of its tables. Its events must therefore reach it through the
queue; a plan that still delivers one of them in-process is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from contracts.contract import Contract
from migration.runtime.breaker import BreakerPolicy
from migration.runtime.client import Timeouts, client
from migration.runtime.discovery import Discovery, binding_of, env_name
from migration.runtime.errors import ConfigError
from migration.runtime.project import Project


@dataclass(frozen=True)
class BindingPlan:
    """The modules the monolith runs (local) and those it calls (remote)."""

    local: tuple[str, ...]
    remote: tuple[str, ...]


def binding_plan(project: Project) -> BindingPlan:
    """Each module's binding, refused when a remote module's events stay in-process."""
    bindings = {name: binding_of(name, project.config, project.environ) for name in project.specs}
    remote = tuple(name for name, binding in bindings.items() if binding == "remote")
    problems = [
        f"module '{name}' is remote but consumes '{sub.event.type}', which carve.toml still "
        f"delivers in-process: set [events.\"{sub.event.type}\"] transport = \"queue\" "
        f"(carve events swap {sub.event.type} --to queue) or bind '{name}' local"
        for name in remote
        for sub in project.module(name).subscriptions
        if project.config.transport(sub.event.type) == "inprocess"
    ]
    if problems:
        raise ConfigError("; ".join(problems))
    local = tuple(name for name in project.specs if name not in remote)
    return BindingPlan(local=local, remote=remote)


def remote_bindings(project: Project, names: tuple[str, ...]) -> dict[str, Contract]:
    """A client binding for each named module, found through discovery."""
    discovery = Discovery(project.config, project.environ)
    return {
        name: client(
            project.module(name).contract,
            discovery=discovery,
            timeout=Timeouts(read=_seconds(project.environ, name, "TIMEOUT", 5.0)),
            breaker=BreakerPolicy(open_seconds=_seconds(project.environ, name, "BREAKER_WAIT",
                                                        5.0)),
        )
        for name in names
    }


def _seconds(environ: Mapping[str, str], module: str, setting: str, default: float) -> float:
    variable = env_name(module, setting)
    raw = environ.get(variable)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise ConfigError(f"{variable}='{raw}': expected a positive number of seconds")
    return value
