"""Each event type's transport, read again from carve.toml whenever the file changes.

``carve events swap`` edits carve.toml while the monolith and the relays run;
both ask this table before every delivery pass, so a swap takes effect
without a restart. Overlap during the switch is absorbed by the inboxes.
"""

from __future__ import annotations

from migration.runtime.live_plan import LivePlan


class LiveTransports(LivePlan):
    """``transport(event_type)`` from the newest accepted version of carve.toml."""

    def transport(self, event_type: str) -> str:
        """``inprocess`` or ``queue`` for this event type, as configured right now."""
        return self.config().transport(event_type)
