"""Options shared by many commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", envvar="CARVE_CONFIG",
        help="The migration plan to use (default: ./carve.toml, else built-in defaults).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]
PortOption = Annotated[int, typer.Option(min=1, max=65535, metavar="PORT",
                                         help="Port to listen on.")]
