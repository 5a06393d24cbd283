"""What long-running ``carve run …`` processes print: rich lines, or JSON log lines.

Under ``CARVE_LOG_FORMAT=json`` every line a process writes is a JSON object
(``migration.runtime.logs``), its own status lines included.
"""

from __future__ import annotations

import logging
from typing import Any

from rich.text import Text

from migration.cli.output import console
from migration.runtime.logs import configure_json_logs, json_logs, log_config

log = logging.getLogger("carve")
log.setLevel(logging.INFO)  # status lines show even where the root logs warnings only


def start_logs(level: str = "INFO") -> None:
    """Switch this process to JSON lines when asked to (before anything logs)."""
    if json_logs():
        configure_json_logs(level)


def announce(markup: str) -> None:
    """A status line: printed with rich, or logged as JSON."""
    if json_logs():
        log.info(Text.from_markup(markup).plain)
    else:
        console.print(markup)


def uvicorn_logging() -> dict[str, Any]:
    """The ``uvicorn.run`` arguments that keep its logs in the chosen format."""
    return {"log_config": log_config()} if json_logs() else {}
