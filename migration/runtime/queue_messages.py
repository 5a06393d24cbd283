"""Dramatiq messages that carry outbox rows to a subscriber, and reading them back as events.

A message for one event: the message id is the outbox row id; the event type, the
message id and the trace context travel in the message options (dramatiq's headers),
and the only argument is the event's JSON payload. Retries, dead-letter replays and
a relay batch of one row use it.

A batch message carries several rows of one relay pass to the same subscriber
(docs/adr/0014-batched-delivery.md): its ``carve_batch`` option counts them and its
only argument lists one entry per event (id, type, headers, payload). It has an id
of its own; :func:`split` gives back the single-event message of each entry, with
the batch's retry count.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from uuid import uuid4

from dramatiq import Message
from pydantic import ValidationError

from contracts.events import Event
from migration.runtime.outbox import OutboxMessage

EVENT_TYPE = "carve_event_type"
MESSAGE_ID = "carve_message_id"
HEADERS = "carve_headers"
BATCH = "carve_batch"
#: The most events a relay puts in one message (one transaction of the worker).
MAX_BATCH = 50


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


def batch_messages(
    rows: Sequence[OutboxMessage], routes: Mapping[str, list[str]], max_batch: int = MAX_BATCH,
) -> list[Message]:
    """The messages that deliver these rows: per subscriber, up to ``max_batch`` rows each.

    Rows keep their order within a subscriber's messages; a lone row is sent as a
    single-event message (the format a worker applies without a batch).
    """
    by_consumer: dict[str, list[OutboxMessage]] = {}
    for row in rows:
        for name in routes.get(row.event_type, []):
            by_consumer.setdefault(name, []).append(row)
    messages = []
    for name, consumed in by_consumer.items():
        for start in range(0, len(consumed), max(max_batch, 1)):
            messages.append(batch_message(name, consumed[start:start + max(max_batch, 1)]))
    return messages


def batch_message(consumer: str, rows: Sequence[OutboxMessage]) -> Message:
    """One message carrying ``rows`` to ``consumer``; a single-event message for one row."""
    if len(rows) == 1:
        row = rows[0]
        return queue_message(consumer, row.id, row.event_type, row.payload, row.headers)
    entries = [{"id": row.id, "type": row.event_type, "headers": dict(row.headers),
                "payload": dict(row.payload)} for row in rows]
    return batch_of(consumer, uuid4().hex, entries)


def batch_of(consumer: str, message_id: str, entries: list[Any]) -> Message:
    """The batch message with these entries (as :func:`batch_message` writes them)."""
    return Message(
        queue_name=consumer, actor_name=consumer, args=(entries,), kwargs={},
        options={BATCH: len(entries)}, message_id=message_id,
    )


def is_batch(message: Message) -> bool:
    """Whether the message carries a batch of events rather than one."""
    return BATCH in message.options


def split(message: Message) -> list[Message]:
    """The single-event messages a batch message carries, each with the batch's retries.

    Raises :class:`MalformedMessage` when the batch itself cannot be read. An entry that
    is wrong gives a message that :func:`event_from` refuses (an entry without an id is
    given ``<batch id>.<index>``), so only that event is dead-lettered.
    """
    if len(message.args) != 1 or not isinstance(message.args[0], list):
        raise MalformedMessage("the batch is not one JSON list of events")
    return [_entry_message(message, index, entry)
            for index, entry in enumerate(message.args[0])]


def _entry_message(batch: Message, index: int, entry: Any) -> Message:
    fields = entry if isinstance(entry, dict) else {}
    message_id = fields.get("id")
    event_type, headers = fields.get("type"), fields.get("headers")
    single = queue_message(
        batch.queue_name,
        message_id if isinstance(message_id, str) else f"{batch.message_id}.{index}",
        event_type if isinstance(event_type, str) else "", {},
        headers if isinstance(headers, dict) else {},
    )
    options = {key: value for key, value in single.options.items()
               if key != EVENT_TYPE or isinstance(event_type, str)}
    options["retries"] = int(batch.options.get("retries", 0))
    return Message(queue_name=single.queue_name, actor_name=single.actor_name,
                   args=(fields.get("payload", entry),), kwargs={}, options=options,
                   message_id=single.message_id)


def unique(messages: Iterable[Message]) -> list[Message]:
    """The messages without repeats of an id (the first one of each is kept)."""
    seen: set[str] = set()
    kept = []
    for message in messages:
        if message.message_id not in seen:
            seen.add(message.message_id)
            kept.append(message)
    return kept


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
