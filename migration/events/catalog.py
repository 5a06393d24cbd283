"""What ``carve events list`` shows: each event type, who publishes and consumes it, where it is."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from dramatiq import Broker

from contracts.events import Event
from migration.events.tables import dead_letters, outbox, readable
from migration.runtime.broker import queue_depth
from migration.runtime.errors import UnknownEvent
from migration.runtime.outbox import OutboxStore
from migration.runtime.project import Project
from migration.runtime.queue_worker import dead_letter_stores
from migration.runtime.relay import routes_for


@dataclass(frozen=True)
class EventInfo:
    """One event type and the state of its delivery."""

    type: str
    publishers: list[str]
    subscribers: list[str]
    transport: str
    backlog: int
    dead_letters: int
    queued: int | None

    def as_dict(self) -> dict[str, object]:
        """The shape ``carve events list --json`` prints."""
        return asdict(self)


def known_event_types(project: Project) -> list[str]:
    """Every event type a module publishes or consumes, or carve.toml configures."""
    types = set(project.config.events)
    for spec in project.specs.values():
        types |= {e.type for e in spec.publishes} | {s.event.type for s in spec.subscriptions}
    return sorted(types)


def require_event(project: Project, event_type: str) -> str:
    """The event type, or :class:`UnknownEvent` listing the ones that exist."""
    known = known_event_types(project)
    if event_type not in known and Event.class_for(event_type) is None:
        raise UnknownEvent(f"unknown event '{event_type}' (events: {', '.join(known) or 'none'})")
    return event_type


def event_catalog(project: Project, broker: Broker | None = None) -> list[EventInfo]:
    """Every known event type with its publishers, subscribers, transport and backlog.

    ``queued`` counts messages waiting in the broker; it is None when no broker
    was given or the broker cannot be reached (the outbox backlog still shows).
    """
    specs = list(project.specs.values())
    subscribers = readable(project, [s for s in specs if s.subscriptions], dead_letters)
    routes, backlog, dead = routes_for(specs), Counter[str](), Counter[str]()
    for spec in readable(project, specs, outbox):
        backlog.update(OutboxStore(project.sessions(spec.name), spec.outbox).backlog())
    for store in dead_letter_stores(subscribers, project.sessions).values():
        dead.update(store.counts())
    queued = _queued(broker, routes)
    return [
        EventInfo(
            type=t,
            publishers=[s.name for s in specs if any(e.type == t for e in s.publishes)],
            subscribers=routes.get(t, []), transport=project.config.transport(t),
            backlog=backlog[t], dead_letters=dead[t],
            queued=None if queued is None else sum(queued.get(c, 0) for c in routes.get(t, [])),
        )
        for t in sorted(set(known_event_types(project)) | set(backlog))
    ]


def _queued(broker: Broker | None, routes: Mapping[str, list[str]]) -> dict[str, int] | None:
    if broker is None:
        return None
    try:
        return {c: queue_depth(broker, c) for names in routes.values() for c in names}
    except Exception:  # an unreachable broker must not hide the outbox backlog
        return None
