"""Building the relay, the workers and a drain from a project: what ``carve run`` starts.

The worker asks a composition root (``package.module:function``, called with
:class:`Settings`, returning an object with ``consumers`` and ``close()``) for
the subscribers it runs, so the monolith and an extracted service use the same
worker. A root whose object also has ``dead_letters`` (module → store), as an
extracted service's :class:`ServiceWorker` does, keeps its dead letters there;
otherwise each module's go to the module's database in the project.
"""

from __future__ import annotations

import importlib
import signal
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from dramatiq import Broker

from migration.runtime.broker import BrokerSettings, close_broker, create_broker
from migration.runtime.config import load_config
from migration.runtime.dead_letters import DeadLetterStore
from migration.runtime.delivery import Consumer, RetryLoop
from migration.runtime.discovery import binding_of
from migration.runtime.errors import ConfigError
from migration.runtime.outbox import OutboxStore
from migration.runtime.project import Project
from migration.runtime.queue_worker import QueueWorker, dead_letter_stores
from migration.runtime.relay import Relay, routes_for
from migration.runtime.remote import transport_guard
from migration.runtime.service import ServiceOutbox, ServiceWorker
from migration.runtime.settings import Settings
from migration.runtime.transports import LiveTransports

DEFAULT_ROOT = "monolith.bootstrap:bootstrap"


def broker_for(project: Project) -> tuple[Broker, BrokerSettings]:
    """The project's broker (not connected yet) and its settings."""
    settings = BrokerSettings.from_config(project.config, project.environ)
    return create_broker(settings), settings


def build_relay(project: Project, broker: Broker, modules: Iterable[str] | None = None,
                batch_size: int = 500) -> Relay:
    """A relay over the outboxes of the named modules (every local module by default).

    A module bound ``remote`` (carve.toml or ``CARVE_<MODULE>_BINDING``) keeps its outbox
    in its service's database, so it is not relayed from here; its subscribers still get
    a message for every event they declare, as the monolith's own do.
    """
    chosen = project.select(modules) if modules else [
        s for s in project.specs.values()
        if binding_of(s.name, project.config, project.environ) == "local"
    ]
    # The relay follows carve.toml: event swaps and database cut-overs need no restart.
    transports = project.follow(LiveTransports(project.config, transport_guard(project)))
    outboxes = {s.name: OutboxStore(project.sessions(s.name), s.outbox) for s in chosen}
    return Relay(outboxes, routes_for(project.specs.values()), broker, transports.transport,
                 batch_size=batch_size)


def build_service_relay(service: ServiceOutbox, config_path: str | None,
                        environ: Mapping[str, str],
                        batch_size: int = 500) -> tuple[Relay, BrokerSettings]:
    """The relay of an extracted service's outbox, needing no monolith project.

    Every event the service publishes goes to the broker (it has no in-process
    subscribers), one message per subscriber the service was extracted with. The
    broker comes from the environment, else ``[broker]`` of the carve.toml at
    ``config_path`` or in the current folder, as for the service's worker.
    """
    broker_settings = BrokerSettings.from_config(load_config(config_path), environ)
    relay = Relay({service.runtime.spec.name: service.outbox}, service.subscribers,
                  create_broker(broker_settings), _always_queue, batch_size=batch_size)
    return relay, broker_settings


def _always_queue(_event_type: str) -> str:
    return "queue"


def load_root(path: str) -> Callable[[Settings], Any]:
    """Import a composition root given as ``package.module:function``."""
    module_name, _, attribute = path.partition(":")
    try:
        root = getattr(importlib.import_module(module_name), attribute or "bootstrap")
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"composition root '{path}' cannot be loaded: {exc}") from None
    return root


@dataclass
class WorkerProcess:
    """A queue worker plus what it must close when it stops.

    ``retry`` retries the in-process events its subscribers publish (inventory's answer
    while order.created is queued and stock.reserved is not) that failed, or were left
    undelivered by a crash, as the monolith's own retry loop does.
    """

    worker: QueueWorker
    system: Any
    retry: RetryLoop | None = None

    def close(self) -> None:
        if self.retry is not None:
            self.retry.stop()
        close_broker(self.worker.broker)
        self.system.close()


def build_worker(settings: Settings, modules: Iterable[str] | None = None,
                 root: str = DEFAULT_ROOT, threads: int = 8) -> WorkerProcess:
    """Workers for the subscribers of the named modules (all bound here by default)."""
    project = settings.project
    wanted = {project.module(name).name for name in modules or []}
    system = load_root(root)(settings)
    consumers: list[Consumer] = [
        c for c in system.consumers if not wanted or c.module in wanted
    ]
    stores: dict[str, DeadLetterStore] | None = getattr(system, "dead_letters", None)
    if stores is None:  # the monolith's modules: each one's dead letters in its own database
        specs = [project.module(name) for name in {c.module for c in consumers}]
        stores = dead_letter_stores(specs, project.sessions)
    broker_settings = BrokerSettings.from_config(project.config, project.environ)
    process = _worker_process(system, consumers, stores, broker_settings, threads)
    delivery = getattr(system, "delivery", None)
    if delivery is not None:
        process.retry = RetryLoop(delivery, settings.retry_interval)
        process.retry.start()
    return process


def build_service_worker(service: ServiceWorker, config_path: str | None,
                         environ: Mapping[str, str], threads: int = 8) -> WorkerProcess:
    """Workers for an extracted service's subscribers, needing no monolith project.

    The broker comes from the environment (``CARVE_BROKER_URL``, ``CARVE_BROKER_NAMESPACE``
    …), else ``[broker]`` of the carve.toml at ``config_path`` or in the current folder.
    """
    broker_settings = BrokerSettings.from_config(load_config(config_path), environ)
    return _worker_process(service, service.consumers, service.dead_letters, broker_settings,
                           threads)


def _worker_process(system: Any, consumers: list[Consumer],
                    stores: Mapping[str, DeadLetterStore], broker_settings: BrokerSettings,
                    threads: int) -> WorkerProcess:
    worker = QueueWorker(create_broker(broker_settings), consumers, stores,
                         max_retries=broker_settings.max_retries, threads=threads)
    return WorkerProcess(worker, system)


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT: how ``carve run relay|worker`` stop cleanly."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    return stop
