"""Which modules the monolith runs itself and which it calls as services.

A module bound ``remote`` is served elsewhere: the monolith calls it through
the client binding, serves none of its routes, runs none of its subscribers
and touches none of its tables. Its events must therefore reach it through the
queue; a plan that still delivers one of them in-process is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from contracts.contract import Contract
from migration.runtime.breaker import BreakerPolicy
from migration.runtime.client import Timeouts, client
from migration.runtime.config import CarveConfig
from migration.runtime.discovery import Discovery, binding_of, env_name
from migration.runtime.errors import ConfigError
from migration.runtime.modules import ModuleSpec
from migration.runtime.project import Project


@dataclass(frozen=True)
class BindingPlan:
    """The modules the monolith runs (local) and those it calls (remote)."""

    local: tuple[str, ...]
    remote: tuple[str, ...]


def binding_plan(project: Project) -> BindingPlan:
    """Each module's binding, refused when a remote module's events stay in-process."""
    remote = _remote_modules(project)
    problems = inprocess_problems([project.module(name) for name in remote], project.config)
    if problems:
        raise ConfigError("; ".join(problems))
    local = tuple(name for name in project.specs if name not in remote)
    return BindingPlan(local=local, remote=remote)


def inprocess_problems(remote: Iterable[ModuleSpec], config: CarveConfig) -> list[str]:
    """Why ``config`` would lose events: a remote module consumes an in-process event.

    In-process delivery reaches only the monolith's own subscribers and then marks
    the outbox row dispatched, so a remote subscriber of that event never gets it.
    """
    return [
        f"module '{spec.name}' is remote but consumes '{event}', which carve.toml "
        f"delivers in-process: set [events.\"{event}\"] transport = \"queue\" "
        f"(carve events swap {event} --to queue) or bind '{spec.name}' local"
        for spec in remote
        for event in inprocess_consumed(spec, config)
    ]


def inprocess_consumed(spec: ModuleSpec, config: CarveConfig) -> list[str]:
    """The events ``spec`` consumes that ``config`` delivers in-process: what keeps it local."""
    return [sub.event.type for sub in spec.subscriptions
            if config.transport(sub.event.type) == "inprocess"]


def transport_guard(project: Project) -> Callable[[CarveConfig], None]:
    """A check of a re-read carve.toml against the modules bound remote right now.

    Bindings are fixed when a process starts, transports are re-read live
    (:class:`~migration.runtime.transports.LiveTransports`): the guard refuses a
    reloaded plan that would deliver a remote module's event in-process.
    """
    remote = [project.module(name) for name in _remote_modules(project)]

    def check(config: CarveConfig) -> None:
        problems = inprocess_problems(remote, config)
        if problems:
            raise ConfigError("; ".join(problems))

    return check


def _remote_modules(project: Project) -> tuple[str, ...]:
    return tuple(name for name in project.specs
                 if binding_of(name, project.config, project.environ) == "remote")


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
