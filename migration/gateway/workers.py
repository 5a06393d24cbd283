"""Several gateway processes on one port (``SO_REUSEPORT``), kept running by a supervisor.

One gateway process uses one core. ``carve run gateway --workers N`` starts N worker
processes that each listen on the same host and port with ``SO_REUSEPORT``, and the kernel
spreads new connections over them, as NGINX's ``worker_processes`` with ``reuseport`` do.
Each worker is a whole gateway: the route table from the shared store (a change made through
one worker's admin API reaches the others through the store, as it reaches other gateways),
its own upstream pools, circuit breakers, canary SLO windows and shadow samples, each judged
on the worker's share of the traffic. Their metrics are added up for every scrape
(``worker_metrics.py``).

The supervisor restarts a worker that dies, stops them all on SIGINT or SIGTERM (each
finishes the requests it has in flight), and gives up when workers die as soon as they
start: what stops one (a port taken, a store that cannot be read) stops all of them.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import socket
import tempfile
import time
from dataclasses import replace
from multiprocessing.process import BaseProcess

from migration.gateway.current_table import CurrentTable
from migration.gateway.gateway_settings import GatewaySettings
from migration.gateway.process import configure_logging, serve
from migration.gateway.store import read_once
from migration.runtime.errors import ConfigError
from migration.runtime.serving import check_can_listen

log = logging.getLogger("carve.gateway")
# A worker that lived less than this is counted as dying at start.
STARTUP_SECONDS = 3.0
# Workers dying at start this many times in a row (per worker): the supervisor gives up.
GIVE_UP_AFTER = 3
# How long the workers get to finish their requests once asked to stop, beyond their own
# graceful period.
STOP_SECONDS = 15.0


def serve_workers(settings: GatewaySettings, host: str, port: int, workers: int) -> None:
    """Run the gateway as ``workers`` processes on one port (one: this process serves)."""
    if workers == 1:
        serve(settings, host, port)
        return
    # What would stop every worker at its start is said once, before any starts.
    table = read_once(settings.routes)
    if unknown := CurrentTable(settings.upstreams()).unknown_services(table):
        raise ConfigError(f"routes in {settings.routes}: {unknown}")
    configure_logging()
    supervise(settings, host, port, workers)


def supervise(settings: GatewaySettings, host: str, port: int, workers: int) -> None:
    """Run ``workers`` gateway processes on ``host:port`` until SIGINT or SIGTERM."""
    if not hasattr(socket, "SO_REUSEPORT"):
        raise ConfigError("--workers above 1 needs SO_REUSEPORT, which this system lacks")
    check_can_listen(host, port)
    context = multiprocessing.get_context("spawn")
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    with tempfile.TemporaryDirectory(prefix="carve-gateway-") as folder:
        running: dict[int, tuple[BaseProcess, float]] = {}
        dying = dict.fromkeys(range(workers), 0)

        def start(worker: int) -> None:
            process = context.Process(
                target=run_worker, name=f"carve-gateway-worker-{worker}",
                args=(replace(settings, workers_dir=folder, worker=worker), host, port,
                      os.getpid()))
            process.start()
            running[worker] = (process, time.monotonic())

        try:
            for worker in range(workers):
                start(worker)
            log.info("serving on http://%s:%d with %d workers (SO_REUSEPORT)", host, port,
                     workers)
            while not stopping:
                multiprocessing.connection.wait(
                    [process.sentinel for process, _ in running.values()], timeout=0.5)
                for worker, (process, since) in list(running.items()):
                    if process.exitcode is None or stopping:
                        continue
                    lived = time.monotonic() - since
                    dying[worker] = dying[worker] + 1 if lived < STARTUP_SECONDS else 0
                    if dying[worker] >= GIVE_UP_AFTER:
                        raise ConfigError(f"gateway worker {worker} exited with "
                                          f"{process.exitcode} {GIVE_UP_AFTER} times as soon "
                                          "as it started: see its log above")
                    log.warning("gateway worker %d (pid %d) exited with %s after %.1f s: "
                                "starting it again", worker, process.pid, process.exitcode,
                                lived)
                    time.sleep(min(0.25 * 2 ** dying[worker], 5.0))
                    start(worker)
        finally:
            _stop(process for process, _ in running.values())


def _stop(processes: object) -> None:
    """SIGTERM once (a graceful stop), then SIGKILL for any still running."""
    alive = [p for p in processes if p.exitcode is None]  # type: ignore[attr-defined]
    for process in alive:
        process.terminate()
    deadline = time.monotonic() + STOP_SECONDS
    for process in alive:
        process.join(max(deadline - time.monotonic(), 0.0))
        if process.exitcode is None:
            log.warning("gateway worker pid %d did not stop in time: killed", process.pid)
            process.kill()
            process.join()


def run_worker(settings: GatewaySettings, host: str, port: int, parent: int) -> None:
    """One worker: a whole gateway on the shared port, until told to stop or orphaned."""
    # Its own process group: a Ctrl-C reaches the supervisor alone, which stops each worker
    # with one SIGTERM (a second signal would cut its requests in flight short).
    os.setpgrp()
    from migration.runtime.tracing import configure_tracing

    if settings.traced:
        configure_tracing("gateway")  # a new process: its exporter is its own
    try:
        serve(settings, host, port, reuse_port=True, parent=parent)
    except ConfigError as exc:
        log.error("gateway worker %d: %s", settings.worker, exc)
        raise SystemExit(2) from exc
    if os.getppid() != parent and settings.workers_dir:
        # Orphaned (the supervisor was killed): nobody else removes the metrics folder. A
        # sibling still stopping may log once that it cannot write its counts there.
        shutil.rmtree(settings.workers_dir, ignore_errors=True)
