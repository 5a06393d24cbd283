"""The migration plan as it is right now: carve.toml read again whenever the file changes.

``carve events swap`` and ``carve db cutover`` edit carve.toml while the monolith,
relays and workers run; these processes ask a :class:`LivePlan` before each
delivery pass and each unit of work, so a change takes effect without a
restart. A re-read plan that fails the process's ``check`` (a remote module's
event delivered in-process would be lost) is refused: the last good plan stays.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from migration.runtime.config import CarveConfig, load_config
from migration.runtime.errors import CarveError

log = logging.getLogger("carve.events")


class LivePlan:
    """The newest readable and accepted version of carve.toml.

    ``check`` raises :class:`CarveError` for a plan this process must not run
    (see :func:`migration.runtime.remote.transport_guard`).
    """

    def __init__(self, config: CarveConfig,
                 check: Callable[[CarveConfig], None] | None = None) -> None:
        self._config = config
        self._check = check
        self._path: Path | None = config.path
        self._stamp = self._current_stamp()
        self._refused: tuple[int, int] | None = None
        self._lock = threading.Lock()

    def config(self) -> CarveConfig:
        """The configuration, reloaded when the file changed since the last call."""
        stamp = self._current_stamp()
        if stamp != self._stamp and stamp != self._refused:
            with self._lock:
                self._reload(stamp)
        return self._config

    def _reload(self, stamp: tuple[int, int] | None) -> None:
        try:
            config = load_config(self._path)
            if self._check is not None:
                self._check(config)
        except CarveError as exc:
            # A broken file or a plan that would lose events: keep the last good plan,
            # say why once, and read the file again when it changes.
            self._refused = stamp
            log.warning("keeping the previous event transports and databases: %s", exc)
            return
        self._config, self._stamp, self._refused = config, stamp, None

    def _current_stamp(self) -> tuple[int, int] | None:
        if self._path is None:
            return None
        try:
            info = self._path.stat()
        except OSError:
            return None
        return (info.st_mtime_ns, info.st_size)
