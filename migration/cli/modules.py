"""``carve modules``: what each module owns, offers, publishes and consumes."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from migration.cli.options import ConfigOption, JsonOption
from migration.cli.output import console, print_json, whole
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


def list_modules(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """List the modules: tables, operations, events published and consumed."""
    project = Project.load(config)
    # as the monolith binds them: CARVE_<MODULE>_BINDING first, then carve.toml
    modules = [describe(s, binding_of(s.name, project.config, project.environ))
               for s in project.specs.values()]
    if as_json:
        print_json(modules)
        return
    table = Table(whole("module", [m["name"] for m in modules]), "binding", "tables",
                  "operations", "publishes", "consumes", "uses",
                  title=f"modules of {project.config.project.modules}")
    for m in modules:
        table.add_row(
            m["name"], m["binding"], "\n".join(m["tables"]),
            "\n".join(f"{o['method']} {o['path']}" for o in m["operations"]),
            "\n".join(m["publishes"]) or "-",
            "\n".join(f"{c['event']} → {c['handler']}" for c in m["consumes"]) or "-",
            ", ".join(m["uses"]) or "-",
        )
    console.print(table)
