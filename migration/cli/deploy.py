"""``carve export compose`` and ``carve export k8s``: the plan as deployment files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from migration.cli.options import ConfigOption, JsonOption
from migration.cli.output import console, print_json

ExtractedOption = Annotated[Path | None, typer.Option(
    metavar="DIR", help="Where the extracted services are (default: extracted/ beside "
                        "carve.toml).")]
CheckOption = Annotated[bool, typer.Option(
    "--check", help="Write nothing; exit 1 listing the files that differ.")]


def export_compose(
    config: ConfigOption = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", metavar="FILE",
        help="The compose file (default: docker-compose.yml beside carve.toml).")] = None,
    extracted: ExtractedOption = None,
    check: CheckOption = False,
    json: JsonOption = False,
) -> None:
    """docker-compose.yml for the plan, with Prometheus, Grafana dashboards and Jaeger.

    The dashboards are written beside it, in deploy/grafana/dashboards/.
    """
    from migration.deploy.exports import compose_files, load_plan, write_files

    plan = load_plan(config, extracted)
    _report(write_files(compose_files(plan, output), check), check, json)


def export_k8s(
    config: ConfigOption = None,
    output: Annotated[Path, typer.Option(
        "--output", "-o", metavar="DIR", help="The folder to write the manifests to.")
    ] = Path("k8s"),
    extracted: ExtractedOption = None,
    check: CheckOption = False,
    json: JsonOption = False,
) -> None:
    """Kubernetes manifests for the plan: ConfigMap, Deployment, Service per component.

    Probes on /readyz and /healthz; the gateway's HTTPRoute when routes are configured.
    """
    from migration.deploy.exports import load_plan, write_files
    from migration.deploy.kubernetes import manifest_files

    plan = load_plan(config, extracted)
    _report(write_files(manifest_files(plan, output), check), check, json)


def _report(written, check: bool, json: bool) -> None:  # type: ignore[no-untyped-def]
    if json:
        print_json({"files": [str(p) for p in written.files],
                    "changed": [str(p) for p in written.changed], "check": check})
    elif check and written.changed:
        for path in written.changed:
            console.print(f"[red]differs[/] {path}")
    elif check:
        console.print(f"[green]up to date[/] {len(written.files)} files")
    else:
        console.print(f"[green]wrote[/] {len(written.changed)} of {len(written.files)} files "
                      f"({len(written.files) - len(written.changed)} unchanged)")
    if check and written.changed:
        raise typer.Exit(1)
