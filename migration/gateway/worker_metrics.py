"""The metrics of a gateway run as several worker processes, added up for every scrape.

Each worker counts what it answers in its own :class:`GatewayMetrics` and, once a second,
writes them to a file of its own in a folder the workers share. A scrape reaches one worker
(the kernel spreads connections over them, ``SO_REUSEPORT``); that worker adds its live
counts to the others' last files, so every scrape sees the whole gateway, at most about a
second behind for the other workers. Counters only grow: a worker that restarts begins a
new file, and its predecessor's stays counted.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from migration.gateway.traffic_metrics import GatewayMetrics, requests_in

log = logging.getLogger("carve.gateway")
PUBLISH_SECONDS = 1.0


class WorkerMetrics:
    """One worker's place among its siblings: where it writes, what it reads."""

    def __init__(self, folder: str, worker: int, own: GatewayMetrics) -> None:
        self.folder = Path(folder)
        self.worker = worker
        self.own = own
        # Named by worker and process: a restarted worker keeps its predecessor's counts.
        self._file = self.folder / f"worker-{worker}-{os.getpid()}.json"

    def publish(self) -> dict:
        """Write this worker's counts (atomically: a scrape never reads half a file); the
        snapshot written. A failure to write is logged: the next second tries again."""
        snapshot = self.own.snapshot()
        part = self._file.with_suffix(".part")
        try:
            part.write_text(json.dumps({"worker": self.worker, **snapshot}))
            part.replace(self._file)
        except OSError as exc:
            log.warning("cannot write this worker's metrics: %s", exc)
        return snapshot

    def gathered(self) -> tuple[GatewayMetrics, dict[str, int]]:
        """Every worker's counts added up (this one's live), and requests by worker.

        This worker's counts are published first: the next scrape, whichever worker it
        reaches, then sees at least what this one shows (a counter never goes back).
        """
        own = self.publish()
        total = GatewayMetrics()
        total.add(own)
        by_worker = {str(self.worker): requests_in(own)}
        for path in sorted(self.folder.glob("worker-*.json")):
            if path == self._file:
                continue
            try:
                snapshot = json.loads(path.read_text())
            except (OSError, ValueError):  # removed or replaced while read: next scrape
                log.debug("skipped metrics file %s", path)
                continue
            total.add(snapshot)
            key = str(snapshot["worker"])
            by_worker[key] = by_worker.get(key, 0) + requests_in(snapshot)
        return total, by_worker
