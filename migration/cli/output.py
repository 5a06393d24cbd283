"""How the CLI talks to people (rich) and machines (``--json``).

``console`` (stdout) and ``errors`` (stderr) are rich consoles made on first use: printing
JSON, as ``carve lint --format json`` does, never imports rich.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Column

    console: Console
    errors: Console


@cache
def _consoles() -> dict[str, Console]:
    from rich.console import Console

    return {"console": Console(), "errors": Console(stderr=True)}


def __getattr__(name: str) -> Any:
    """``console`` and ``errors``, made when a command first prints to them."""
    if name in ("console", "errors"):
        return _consoles()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def whole(header: str, values: Iterable[str]) -> Column:
    """A column that never cuts its values: the names a user types next (a module, a prefix).

    The other columns wrap around it in a narrow terminal.
    """
    from rich.table import Column

    return Column(header, no_wrap=True, min_width=max(map(len, values), default=len(header)))


def print_json(data: Any) -> None:
    """Print one JSON document on stdout, nothing else."""
    print(json.dumps(data, indent=2, default=str, sort_keys=False))


def report_error(message: str) -> None:
    """One clear line on stderr; the message is printed as is (``[events."x"]`` is no markup)."""
    from rich.markup import escape

    _consoles()["errors"].print(f"[bold red]error:[/] {escape(message)}", highlight=False,
                                soft_wrap=True)
