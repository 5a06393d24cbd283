"""How the CLI talks to people (rich) and machines (``--json``)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Column

console = Console()
errors = Console(stderr=True)


def whole(header: str, values: Iterable[str]) -> Column:
    """A column that never cuts its values: the names a user types next (a module, a prefix).

    The other columns wrap around it in a narrow terminal.
    """
    return Column(header, no_wrap=True, min_width=max(map(len, values), default=len(header)))


def print_json(data: Any) -> None:
    """Print one JSON document on stdout, nothing else."""
    print(json.dumps(data, indent=2, default=str, sort_keys=False))


def report_error(message: str) -> None:
    """One clear line on stderr; the message is printed as is (``[events."x"]`` is no markup)."""
    errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
