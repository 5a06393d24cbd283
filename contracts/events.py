"""Events: immutable facts a module publishes, named in the past tense.

Each event class has a dotted ``type`` (``order.created``) and primitive,
JSON-serializable fields. ``message_id`` identifies one publication: it is the
outbox row id and the key consumers deduplicate on.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field


def _new_message_id() -> str:
    return uuid.uuid4().hex


def _now() -> datetime:
    return datetime.now(UTC)


class EventValue(BaseModel):
    """A frozen group of primitive fields an event may carry (one order line, say)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Event(BaseModel):
    """Base class of every event."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: ClassVar[str]
    _registry: ClassVar[dict[str, type[Event]]] = {}

    message_id: str = Field(default_factory=_new_message_id)
    occurred_at: datetime = Field(default_factory=_now)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "type" in vars(cls):
            Event._registry[cls.type] = cls

    @classmethod
    def class_for(cls, event_type: str) -> type[Event] | None:
        """The event class registered under a dotted type, if any."""
        return cls._registry.get(event_type)

    @classmethod
    def known_types(cls) -> tuple[str, ...]:
        """Every event type declared by an imported contract."""
        return tuple(sorted(cls._registry))

    def payload(self) -> dict[str, Any]:
        """The event as JSON-ready data (what the outbox stores)."""
        return self.model_dump(mode="json")
