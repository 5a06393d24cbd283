"""What ``carve modules`` lists: each module's binding, tables, operations and events."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from migration.runtime.discovery import binding_of
from migration.runtime.modules import ModuleSpec
from migration.runtime.project import Project


def describe(spec: ModuleSpec, binding: str) -> dict[str, Any]:
    """A module as data: the shape ``carve modules --json`` prints."""
    return {
        "name": spec.name,
        "binding": binding,
        "contract": f"{spec.contract.__module__}.{spec.contract.__qualname__}",
        "prefix": spec.contract.prefix(),
        "tables": list(spec.owned_tables),
        "operations": [
            {"name": op.name, "method": op.method, "path": spec.contract.prefix() + op.path}
            for op in spec.contract.operations()
        ],
        "publishes": [event.type for event in spec.publishes],
        "consumes": [
            {"event": sub.event.type, "handler": sub.name} for sub in spec.subscriptions
        ],
        "uses": [contract.name for contract in spec.uses],
    }


def describe_modules(config: Path | None) -> tuple[str, list[dict[str, Any]]]:
    """The project's modules package and each module described, bound as the monolith
    binds them: ``CARVE_<MODULE>_BINDING`` first, then ``carve.toml``."""
    with Project.load(config) as project:
        modules = [describe(s, binding_of(s.name, project.config, project.environ))
                   for s in project.specs.values()]
        return project.config.project.modules, modules
