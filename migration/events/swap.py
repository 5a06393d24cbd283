"""``carve events swap``: change one event's transport in carve.toml, keeping its comments.

The file is replaced atomically, so a monolith or relay re-reading it never
sees half of it. Rows already in an outbox are picked up under the new
transport by whichever side now owns it; rows both sides touch during the
switch are applied once thanks to the consumers' inboxes. A plan that would
lose events (``check`` refuses it, e.g. a remote module's event in-process) is
never installed.
"""

from __future__ import annotations

import tomlkit

from migration.runtime.config import CarveConfig
from migration.runtime.errors import ConfigError
from migration.runtime.plan_file import PlanCheck, replace_plan

TRANSPORTS = ("inprocess", "queue")


def swap_transport(config: CarveConfig, event_type: str, to: str,
                   check: PlanCheck | None = None) -> str:
    """Set ``[events."EVENT"] transport = TO``; returns the transport it had before.

    ``check`` sees the new plan as carve will read it back and raises to refuse it;
    carve.toml is then left as it was.
    """
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
    replace_plan(config.path, tomlkit.dumps(document), check)
    return previous
