"""How the CLI talks to people (rich) and machines (``--json``)."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.markup import escape

console = Console()
errors = Console(stderr=True)


def print_json(data: Any) -> None:
    """Print one JSON document on stdout, nothing else."""
    print(json.dumps(data, indent=2, default=str, sort_keys=False))


def report_error(message: str) -> None:
    """One clear line on stderr; the message is printed as is (``[events."x"]`` is no markup)."""
    errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
