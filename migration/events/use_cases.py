"""The use cases behind ``carve events …``: each opens what it needs and closes it.

The CLI parses, calls one of these, and renders what it returns; the project's
databases and the broker connection are released here whatever happens.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dramatiq import Broker

from migration.events.broker_errors import reaching_broker
from migration.events.catalog import EventInfo, event_catalog, require_event
from migration.events.dead_letter_queue import list_dead_letters, replay
from migration.events.processes import broker_for, build_relay, load_root
from migration.events.swap import TRANSPORTS, swap_transport
from migration.events.tables import outbox, readable
from migration.runtime.broker import BrokerSettings, close_broker
from migration.runtime.dead_letters import DeadLetter
from migration.runtime.errors import ConfigError
from migration.runtime.project import Project
from migration.runtime.remote import transport_guard
from migration.runtime.settings import Settings


@dataclass(frozen=True)
class Swapped:
    """What ``carve events swap`` changed: the event's transport before and after."""

    event: str
    previous: str
    to: str
    plan: Path | None

    @property
    def changed(self) -> bool:
        """False when the event already travelled that way."""
        return self.previous != self.to


@dataclass(frozen=True)
class Drained:
    """What ``carve events drain`` delivered."""

    relayed: int
    delivered_inprocess: int


@contextmanager
def _broker(project: Project) -> Iterator[tuple[Broker, BrokerSettings]]:
    broker, settings = broker_for(project)
    try:
        yield broker, settings
    finally:
        close_broker(broker)


def list_events(config: Path | None) -> list[EventInfo]:
    """Every event type with its publishers, subscribers, transport and backlog."""
    with Project.load(config) as project, _broker(project) as (broker, _):
        return event_catalog(project, broker)


def swap_event(config: Path | None, event: str, to: str) -> Swapped:
    """Switch one event between in-process delivery and the queue, in ``carve.toml``."""
    if to not in TRANSPORTS:
        raise ConfigError(f"--to must be one of: {', '.join(TRANSPORTS)} (got '{to}')")
    with Project.load(config) as project:
        try:
            previous = swap_transport(project.config, require_event(project, event), to,
                                      transport_guard(project))
        except ConfigError as exc:
            raise ConfigError(f"refusing to swap {event} to {to}: {exc}") from None
        return Swapped(event, previous, to, project.config.path)


def drain(config: Path | None, root: str) -> Drained:
    """Deliver what is pending now: queue events to the broker, in-process events here."""
    settings = Settings.from_env(config)
    with settings.project as project, _broker(project) as (broker, broker_settings):
        relay = build_relay(project, broker)
        readable(project, [project.module(name) for name in relay.outboxes], outbox)
        with reaching_broker(broker_settings.safe_url):
            relayed = relay.drain()
        delivered = load_root(root)(settings).delivery.deliver_all()
    return Drained(relayed, delivered)


def dead_letters(config: Path | None, message_id: str | None = None) -> list[DeadLetter]:
    """Dead letters of every subscriber, oldest first (all, or one message's)."""
    with Project.load(config) as project:
        return list_dead_letters(project, message_id)


def replay_dead_letters(config: Path | None, message_id: str | None = None) -> list[DeadLetter]:
    """Send dead letters to their consumer's queue again (all, or one message's)."""
    with Project.load(config) as project, _broker(project) as (broker, broker_settings), \
            reaching_broker(broker_settings.safe_url):
        return replay(project, broker, message_id)
