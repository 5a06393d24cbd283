"""What the NGINX engine did, read from its access log: carve's metrics and SLO windows.

NGINX writes one tab-separated line per request it proxied (``nginx_config.LOG_FORMAT``),
buffered and flushed at least every quarter second; carve reads what is new a few times a
second, counts each request in its metrics as its own data plane would, and gives each
canary's SLO window the service's answers, so that the SLO guard rolls a failing canary
back whichever data plane carried it.

The log is read by file descriptor: after a rotation (the file renamed, NGINX told to
reopen it) the old file is read to its end before the new one is taken up.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from migration.gateway.current_table import CurrentTable
from migration.gateway.gateway_settings import GATEWAY, MONOLITH
from migration.gateway.routes import RouteMode, RouteTable
from migration.gateway.slo_window import SloTracker, SloWindow
from migration.gateway.traffic_metrics import UNROUTED, GatewayMetrics

log = logging.getLogger("carve.gateway")
# Past this size the log is rotated (renamed, reopened by NGINX, the old one deleted once
# read): at 20k requests/s, about every two minutes.
ROTATE_BYTES = 64 * 1024 * 1024
_READ_BYTES = 1024 * 1024
# How long NGINX is given to reopen a rotated log (its workers flush their buffers to the
# old file first).
REOPEN_SECONDS = 2.0


class AccessLog:
    """Reads the engine's log from where it stopped; feeds metrics and canary windows."""

    def __init__(self, path: Path, metrics: GatewayMetrics, tracker: SloTracker,
                 current: CurrentTable, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self.metrics = metrics
        self.tracker = tracker
        self.current = current
        self._clock = clock
        self._fd: int | None = None
        self._rest = b""  # the start of a line not yet complete
        self._old: tuple[int, float] | None = None  # a rotated file still read, and since when
        self._table: RouteTable | None = None
        self._windows: dict[bytes, SloWindow | None] = {}
        self.lines = 0
        self.malformed = 0

    def read(self) -> int:
        """Take every complete line written since the last read; how many were taken."""
        if self._old is not None:
            # Rotated: the old file to its end first. NGINX flushes its buffers to it as it
            # reopens the log; the new one is taken up, from its start, once that is done.
            fd, since = self._old
            taken = self._drain(fd)
            if self._clock() - since <= REOPEN_SECONDS or not self.path.exists():
                return taken
            os.close(fd)
            self._old = None
            return taken + self.read()
        if self._fd is None:
            try:
                self._fd = os.open(self.path, os.O_RDONLY)
            except FileNotFoundError:
                return 0
        return self._drain(self._fd)

    def rotate_if_large(self, reopen: Callable[[], None]) -> bool:
        """Rename a log past ``ROTATE_BYTES`` and have NGINX reopen it (``reopen``)."""
        if self._fd is None or self._old is not None:
            return False
        if os.fstat(self._fd).st_size < ROTATE_BYTES:
            return False
        old = self.path.with_name(self.path.name + ".old")
        os.replace(self.path, old)
        old.unlink()  # the open descriptor still reads it; its space goes with the descriptor
        self._old = (self._fd, self._clock())
        self._fd = None
        reopen()
        return True

    def close(self) -> None:
        """Read what is left, and let go of the file."""
        self.read()
        for fd in (self._fd, self._old[0] if self._old else None):
            if fd is not None:
                os.close(fd)
        self._fd, self._old = None, None

    def _drain(self, fd: int) -> int:
        taken = 0
        while True:
            chunk = os.read(fd, _READ_BYTES)
            if not chunk:
                return taken
            lines = (self._rest + chunk).split(b"\n")
            self._rest = lines.pop()
            # Latencies in milliseconds make most lines one of a few: each is read once,
            # with its count (a Counter counts in C).
            for line, count in Counter(lines).items():
                self._take(line, count)
            taken += len(lines)
            if len(chunk) < _READ_BYTES:
                return taken

    def _take(self, line: bytes, count: int) -> None:
        self.lines += count
        fields = line.split(b"\t")
        try:
            route, declared, status, took, reason, statuses, times = fields
            code, seconds = int(status), float(took)
        except ValueError:
            self.malformed += count
            if self.malformed == count:
                log.warning("nginx access log: a line carve cannot read: %r", line[:200])
            return
        # (A request NGINX refused before routing it has no route; escape=none writes an
        # empty variable as nothing, not "-".)
        label = route.decode() or UNROUTED
        if statuses in (b"", b"-"):  # NGINX answered itself
            self.metrics.observe(label, GATEWAY, code, seconds, count)
            return
        answered = declared.decode() or MONOLITH
        if answered == MONOLITH:
            self.metrics.observe(label, answered, code, seconds, count)
            return
        # The route's service was to answer; NGINX says why the monolith did instead, if it
        # did (nginx_config._answers): the service's call is the first of each list.
        window = self._window(route)
        if reason:
            # Its call failed and the next server, the monolith, answered; or the service
            # was marked down after its failures (NGINX's breaker) and its group went
            # straight to the monolith, no call made: a canary user so answered was failed
            # by the service, as carve's own data plane counts an open breaker.
            self.metrics.fallbacks[(label, reason.decode())] += count
            failed, answered = True, MONOLITH
            took = 0.0 if reason == b"breaker_open" else _seconds(_first(times))
        else:
            first = _first(statuses)
            failed, took = not first.isdigit() or int(first) >= 500, _seconds(_first(times))
        if window is not None:
            window.record(failed, took, count)
        self.metrics.observe(label, answered, code, seconds, count)

    def _window(self, route: bytes) -> SloWindow | None:
        table = self.current.table
        if table is not self._table:
            self._table, self._windows = table, {}
        if route in self._windows:
            return self._windows[route]
        found = table.get(route.decode())
        window = self.tracker.window(found) \
            if found is not None and found.mode is RouteMode.CANARY else None
        self._windows[route] = window
        return window


def _first(field: bytes) -> bytes:
    """The first of a field's values, one per server tried: "a, b" when a call was passed
    on to the next server, "a : b" across an error page."""
    return field.split(b",", 1)[0].split(b" ", 1)[0]


def _seconds(text: bytes) -> float:
    try:
        return float(text)
    except ValueError:  # "-": no answer at all
        return 0.0
