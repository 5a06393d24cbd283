"""One dramatiq message per (outbox row, subscriber), and reading it back as an event.

The message id is the outbox row id; the event type, the message id and the
trace context travel in the message options (dramatiq's headers). The only
argument is the event's JSON payload.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dramatiq import Message
from pydantic import ValidationError

from contracts.events import Event
from migration.runtime.outbox import OutboxMessage

EVENT_TYPE = "carve_event_type"
MESSAGE_ID = "carve_message_id"
HEADERS = "carve_headers"


class MalformedMessage(Exception):
    """A queued message that can never be applied: it goes to the dead letters at once."""


def queue_message(
    consumer: str, message_id: str, event_type: str, payload: Mapping[str, Any],
    headers: Mapping[str, str] | None = None,
) -> Message:
    """The message that delivers one event to one consumer (queue = actor = consumer name)."""
    trace = dict(headers or {})
    options: dict[str, Any] = {EVENT_TYPE: event_type, MESSAGE_ID: message_id, HEADERS: trace}
    if "traceparent" in trace:
        options["traceparent"] = trace["traceparent"]
    return Message(
        queue_name=consumer, actor_name=consumer, args=(dict(payload),), kwargs={},
        options=options, message_id=message_id,
    )


def messages_for(row: OutboxMessage, consumers: list[str]) -> list[Message]:
    """One message per subscriber of the row's event type (dramatiq has no fan-out)."""
    return [
        queue_message(name, row.id, row.event_type, row.payload, row.headers)
        for name in consumers
    ]


def event_from(message: Message) -> Event:
    """Rebuild the event a message carries, or raise :class:`MalformedMessage` saying why."""
    event_type = message.options.get(EVENT_TYPE)
    if not isinstance(event_type, str):
        raise MalformedMessage(f"message {message.message_id} has no '{EVENT_TYPE}' header")
    cls = Event.class_for(event_type)
    if cls is None:
        raise MalformedMessage(f"no contract declares the event type '{event_type}'")
    if len(message.args) != 1 or not isinstance(message.args[0], dict):
        raise MalformedMessage("the payload is not one JSON object")
    try:
        event = cls.model_validate(message.args[0])
    except ValidationError as exc:
        reason = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'payload'}: {e['msg']}" for e in exc.errors()
        )
        raise MalformedMessage(f"payload is not a valid '{event_type}': {reason}") from None
    if event.message_id != message.message_id:
        raise MalformedMessage(
            f"payload message_id {event.message_id} differs from the message id "
            f"{message.message_id}"
        )
    return event
