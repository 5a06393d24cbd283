"""``carve events swap``: change one event's transport in carve.toml, keeping its comments.

The file is replaced atomically, so a monolith or relay re-reading it never
sees half of it. Rows already in an outbox are picked up under the new
transport by whichever side now owns it; rows both sides touch during the
switch are applied once thanks to the consumers' inboxes.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import tomlkit

from migration.runtime.config import CarveConfig, load_config
from migration.runtime.errors import ConfigError

TRANSPORTS = ("inprocess", "queue")


def swap_transport(config: CarveConfig, event_type: str, to: str) -> str:
    """Set ``[events."EVENT"] transport = TO``; returns the transport it had before."""
    if to not in TRANSPORTS:
        raise ConfigError(f"transport '{to}' is not one of: {', '.join(TRANSPORTS)}")
    if config.path is None:
        raise ConfigError("there is no carve.toml to update (pass --config or create one)")
    previous = config.transport(event_type)
    document = tomlkit.parse(config.path.read_text(encoding="utf-8"))
    events = document.get("events")
    if events is None:
        events = tomlkit.table(is_super_table=True)
        document["events"] = events
    entry = events.get(event_type)
    if entry is None:
        entry = tomlkit.table()
        events[event_type] = entry
    entry["transport"] = to
    _replace(config.path, tomlkit.dumps(document))
    return previous


def _replace(path: Path, text: str) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".carve-", suffix=".toml")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.chmod(temporary, path.stat().st_mode)
        load_config(temporary)  # never install a plan carve could not read back
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
