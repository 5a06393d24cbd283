"""Each event type's transport, read again from carve.toml whenever the file changes.

``carve events swap`` edits carve.toml while the monolith and the relays run;
both ask this table before every delivery pass, so a swap takes effect
without a restart. Overlap during the switch is absorbed by the inboxes.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from migration.runtime.config import CarveConfig, load_config
from migration.runtime.errors import CarveError

log = logging.getLogger("carve.events")


class LiveTransports:
    """``transport(event_type)`` from the newest readable version of carve.toml."""

    def __init__(self, config: CarveConfig) -> None:
        self._config = config
        self._path: Path | None = config.path
        self._stamp = self._current_stamp()
        self._lock = threading.Lock()

    def transport(self, event_type: str) -> str:
        """``inprocess`` or ``queue`` for this event type, as configured right now."""
        return self.config().transport(event_type)

    def config(self) -> CarveConfig:
        """The configuration, reloaded when the file changed since the last call."""
        stamp = self._current_stamp()
        if stamp != self._stamp:
            with self._lock:
                self._reload(stamp)
        return self._config

    def _reload(self, stamp: tuple[int, int] | None) -> None:
        try:
            self._config = load_config(self._path)
        except CarveError as exc:
            # A half-written or broken file: keep the last good plan, try again next time.
            log.warning("keeping the previous event transports: %s", exc)
            return
        self._stamp = stamp

    def _current_stamp(self) -> tuple[int, int] | None:
        if self._path is None:
            return None
        try:
            info = self._path.stat()
        except OSError:
            return None
        return (info.st_mtime_ns, info.st_size)
