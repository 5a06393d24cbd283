"""Keep a set of processes running: start by stages, restart with backoff, stop in order.

Each child runs in a session of its own, so a Ctrl-C in the terminal reaches
``carve up`` alone and the children are stopped one kind after another (the
front door first), not all at once; on Linux a child is also told to stop if
``carve up`` itself is killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from migration.deploy.local import LocalProcess

STOP_TIMEOUT = 10.0
STABLE_AFTER = 30.0  # a process up this long has its backoff reset
MAX_BACKOFF = 30.0
PROBE_EVERY = 5.0  # once ready; twice a second while starting

Notify = Callable[[dict[str, Any]], None]


@dataclass
class Running:
    """One supervised process and what the table shows of it."""

    spec: LocalProcess
    process: subprocess.Popen[bytes] | None = None
    health: str = "waiting"  # waiting | starting | ready | not ready | running | backing off
    restarts: int = 0
    failures: int = 0  # consecutive early exits, for the backoff
    started_at: float = 0.0
    probed_at: float = 0.0
    start_at: float | None = 0.0  # when to (re)start; None once stopping
    pumps: list[threading.Thread] = field(default_factory=list)

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        return self.process.pid if self.process and self.process.poll() is None else None

    def row(self) -> dict[str, Any]:
        """What a table or ``--json`` shows of this process."""
        return {"process": self.spec.name, "kind": self.spec.kind, "url": self.spec.url,
                "health": self.health, "restarts": self.restarts, "pid": self.pid}


class Supervisor:
    """Runs ``carve`` processes, restarting a crashed one with exponential backoff."""

    def __init__(self, specs: Sequence[LocalProcess], cwd: Path, notify: Notify,
                 environ: Mapping[str, str] | None = None, base_backoff: float = 0.5) -> None:
        self.items = [Running(spec) for spec in specs]
        self.cwd, self.notify = cwd, notify
        self.environ = dict(os.environ if environ is None else environ)
        self.base_backoff = base_backoff
        self._client = httpx.Client(timeout=1.0)

    def rows(self) -> list[dict[str, Any]]:
        """Every process's row, in start order."""
        return [item.row() for item in self.items]

    def run(self, stop: threading.Event, on_tick: Callable[[], None] = lambda: None) -> None:
        """Supervise until ``stop`` is set, then stop every process in order."""
        try:
            while not stop.is_set():
                self.tick()
                on_tick()
                stop.wait(0.5)
        finally:
            self.stop_all()
            on_tick()

    def tick(self) -> None:
        """Start what is due, notice exits, ask servers whether they are ready."""
        now = time.monotonic()
        for item in self.items:
            if item.process is not None and item.process.poll() is not None:
                self._exited(item, now)
            elif item.process is None and self._due(item, now):
                self._start(item, now)
            elif item.process is not None:
                self._probe(item, now)

    def _due(self, item: Running, now: float) -> bool:
        if item.start_at is None or now < item.start_at:
            return False
        earlier = (i for i in self.items if i.spec.stage < item.spec.stage and i.spec.ready_url)
        return all(i.health == "ready" for i in earlier)

    def _start(self, item: Running, now: float) -> None:
        command = [sys.executable, "-m", "migration.cli", *item.spec.args]
        item.process = subprocess.Popen(
            command, cwd=self.cwd, env={**self.environ, **item.spec.env, "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=_die_with_parent)
        item.started_at, item.health = now, "starting" if item.spec.ready_url else "running"
        item.pumps = [threading.Thread(target=self._pump, args=(item.spec, item.process),
                                       daemon=True)]
        item.pumps[0].start()
        self.notify({"event": "started", **item.row()})

    def _pump(self, spec: LocalProcess, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        own_probe = f"GET {spec.ready_path} HTTP/1.1"  # our polling, not the user's traffic
        for raw in process.stdout:
            line = raw.decode("utf-8", "replace").rstrip()
            if not (spec.ready_path and own_probe in line and " 200" in line):
                self.notify({"event": "log", "process": spec.name, "line": line})

    def _exited(self, item: Running, now: float) -> None:
        code = item.process.returncode if item.process else None
        item.failures = 0 if now - item.started_at >= STABLE_AFTER else item.failures + 1
        delay = min(MAX_BACKOFF, self.base_backoff * 2 ** max(item.failures - 1, 0))
        item.process, item.health, item.start_at = None, "backing off", now + delay
        item.restarts += 1
        self.notify({"event": "exited", "process": item.spec.name, "code": code,
                     "restart_in": round(delay, 2), "restarts": item.restarts})

    def _probe(self, item: Running, now: float) -> None:
        if not item.spec.ready_url or (item.health == "ready"
                                       and now - item.probed_at < PROBE_EVERY):
            return
        item.probed_at = now
        try:
            ready = self._client.get(item.spec.ready_url).status_code == 200
        except httpx.HTTPError:
            ready = False
        health = "ready" if ready else ("starting" if item.health == "starting" else "not ready")
        if health != item.health:
            item.health = health
            self.notify({"event": "health", "process": item.spec.name, "health": health})

    def stop_all(self) -> None:
        """Stop every process, the latest stage first; kill one that outlives the timeout."""
        for item in self.items:
            item.start_at = None
        for stage in sorted({i.spec.stage for i in self.items}, reverse=True):
            group = [i for i in self.items if i.spec.stage == stage and i.pid]
            for item in group:
                _signal(item, signal.SIGTERM)
            for item in group:
                self._wait_stopped(item)
        self._client.close()

    def _wait_stopped(self, item: Running) -> None:
        assert item.process is not None
        try:
            code = item.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            _signal(item, signal.SIGKILL)
            code = item.process.wait()
        for pump in item.pumps:
            pump.join(timeout=2)
        item.process, item.health = None, "stopped"
        self.notify({"event": "stopped", "process": item.spec.name, "code": code})


def _signal(item: Running, signum: int) -> None:
    try:
        os.killpg(item.process.pid, signum)  # type: ignore[union-attr]
    except ProcessLookupError:
        pass


def _die_with_parent() -> None:
    """In the child: ask Linux for SIGTERM when carve up dies (no-op elsewhere)."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGTERM)
