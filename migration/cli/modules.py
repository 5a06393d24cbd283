"""``carve modules``: what each module owns, offers, publishes and consumes."""

from __future__ import annotations

from rich.table import Table

from migration.analysis.modules import describe_modules
from migration.cli.options import ConfigOption, JsonOption
from migration.cli.output import console, print_json, whole


def list_modules(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """List the modules: tables, operations, events published and consumed."""
    package, modules = describe_modules(config)
    if as_json:
        print_json(modules)
        return
    table = Table(whole("module", [m["name"] for m in modules]), "binding", "tables",
                  "operations", "publishes", "consumes", "uses",
                  title=f"modules of {package}")
    for m in modules:
        table.add_row(
            m["name"], m["binding"], "\n".join(m["tables"]),
            "\n".join(f"{o['method']} {o['path']}" for o in m["operations"]),
            "\n".join(m["publishes"]) or "-",
            "\n".join(f"{c['event']} → {c['handler']}" for c in m["consumes"]) or "-",
            ", ".join(m["uses"]) or "-",
        )
    console.print(table)
