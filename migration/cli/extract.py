"""``carve extract MODULE`` and ``carve run service MODULE``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from migration.cli.options import ConfigOption, JsonOption, PortOption
from migration.cli.output import console, print_json
from migration.cli.process_logs import announce, start_logs, uvicorn_logging
from migration.extraction.extract import DEFAULT_OUT, Extraction, check, extract, service_folder
from migration.extraction.running import load_service
from migration.runtime.project import Project
from migration.runtime.serving import check_can_listen

ModuleArgument = Annotated[str, typer.Argument(help="The module to extract, e.g. inventory.")]
ServiceArgument = Annotated[str, typer.Argument(help="The extracted module to serve.")]


def extract_module(
    module: ModuleArgument,
    out: Annotated[Path, typer.Option(help="Folder that receives <module>-service/.")] = Path(
        DEFAULT_OUT),
    check_only: Annotated[bool, typer.Option(
        "--check", help="Write nothing; exit 1 listing files that differ from a fresh extract.",
    )] = False,
    force: Annotated[bool, typer.Option(help="Regenerate an existing service folder.")] = False,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Generate a service from a module: its code, app, database history, tests, Dockerfile."""
    with Project.load(config) as project:
        result = (check(project, module, out) if check_only
                  else extract(project, module, out, force=force))
    if check_only:
        _report_check(result, as_json)
        if result.drifted:
            raise typer.Exit(1)
        return
    if as_json:
        print_json(_as_data(result))
        return
    console.print(f"[green]extracted[/] {module} into {result.folder} "
                  f"({len(result.files)} files)")
    console.print("[bold]next steps[/]")
    for number, step in enumerate(result.next_steps, 1):
        console.print(f"  {number}. {step}", highlight=False, markup=False, soft_wrap=True)


def _as_data(result: Extraction) -> dict[str, object]:
    return {"module": result.module, "folder": str(result.folder), "files": result.files,
            "drifted": result.drifted, "next_steps": result.next_steps}


def _report_check(result: Extraction, as_json: bool) -> None:
    if as_json:
        print_json(_as_data(result))
    elif result.drifted:
        console.print(f"[red]{result.folder} has drifted from module {result.module}:[/]")
        for line in result.drifted:
            console.print(f"  {line}", highlight=False, markup=False, soft_wrap=True)
    else:
        console.print(f"[green]{result.folder} matches module {result.module}[/]")


def run_service(
    module: ServiceArgument,
    path: Annotated[Path | None, typer.Option(
        help="The service folder (default: extracted/<module>-service).")] = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: PortOption = 8000,
    migrate: Annotated[bool, typer.Option(help="Apply migrations before serving.")] = True,
) -> None:
    """Serve an extracted service: its contract, /healthz, /readyz and /metrics."""
    start_logs()
    service = load_service(module, path or service_folder(Path(DEFAULT_OUT), module))
    check_can_listen(host, port)  # before migrating: a busy port is one line, not a log
    if migrate:
        service.migrate()
        announce(f"[green]migrated[/] {module}")
    uvicorn.run(service.create_app(), host=host, port=port, log_level="info",
                **uvicorn_logging())
