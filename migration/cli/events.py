"""``carve events …``: list events, swap a transport, dead letters, drain."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from migration.cli.options import ConfigOption, JsonOption
from migration.cli.output import console, print_json, whole
from migration.events.broker_errors import reaching_broker
from migration.events.catalog import event_catalog, require_event
from migration.events.dead_letter_queue import list_dead_letters, replay
from migration.events.processes import broker_for, build_relay, load_root
from migration.events.swap import TRANSPORTS, swap_transport
from migration.events.tables import outbox, readable
from migration.runtime.broker import close_broker
from migration.runtime.errors import ConfigError
from migration.runtime.project import Project
from migration.runtime.remote import transport_guard
from migration.runtime.settings import Settings

app = typer.Typer(help="Event types, their transports, dead letters and backlog.",
                  no_args_is_help=True)
dlq = typer.Typer(help="Dead letters: messages a subscriber gave up on.", no_args_is_help=True)
app.add_typer(dlq, name="dlq")


@app.command("list")
def list_events(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Each event type: publisher, subscribers, transport, outbox backlog, dead letters."""
    project = Project.load(config)
    broker, _ = broker_for(project)
    try:
        events = event_catalog(project, broker)
    finally:
        close_broker(broker)
        project.close()
    if as_json:
        print_json([event.as_dict() for event in events])
        return
    table = Table(whole("event", [e.type for e in events]), "publishers", "subscribers",
                  "transport", "backlog", "queued", "dead letters", title="events")
    for e in events:
        table.add_row(
            e.type, ", ".join(e.publishers) or "-", "\n".join(e.subscribers) or "-",
            e.transport, _warn(e.backlog), "?" if e.queued is None else str(e.queued),
            _warn(e.dead_letters, "red"),
        )
    console.print(table)


@app.command("swap")
def swap(
    event: Annotated[str, typer.Argument(help="Event type, e.g. order.created.")],
    to: Annotated[str, typer.Option("--to", help="queue or inprocess.")],
    config: ConfigOption = None,
) -> None:
    """Switch one event between in-process delivery and the queue, in carve.toml."""
    if to not in TRANSPORTS:
        raise ConfigError(f"--to must be one of: {', '.join(TRANSPORTS)} (got '{to}')")
    project = Project.load(config)
    try:
        previous = swap_transport(project.config, require_event(project, event), to,
                                  transport_guard(project))
    except ConfigError as exc:
        raise ConfigError(f"refusing to swap {event} to {to}: {exc}") from None
    if previous == to:
        console.print(f"{event} already travels {to}")
        return
    console.print(f"[green]✓[/] {event}: {previous} → {to} in {project.config.path}")
    if to == "queue":
        console.print("  run [bold]carve run relay[/] and [bold]carve run worker[/]; "
                      "pending rows go through the queue from now on")
    else:
        console.print("  keep the workers running until [bold]carve events list[/] shows "
                      "nothing queued; pending rows are delivered in-process from now on")


@app.command("drain")
def drain(
    config: ConfigOption = None,
    root: Annotated[str, typer.Option(
        help="Composition root for in-process events (package.module:function).")
    ] = "monolith.bootstrap:bootstrap",
    as_json: JsonOption = False,
) -> None:
    """Deliver what is pending now: queue events to the broker, in-process events here."""
    settings = Settings.from_env(config)
    broker, broker_settings = broker_for(settings.project)
    try:
        relayed = _relay_all(settings.project, broker, broker_settings.safe_url)
        system = load_root(root)(settings)
        delivered = system.delivery.deliver_all()
    finally:
        close_broker(broker)
        settings.project.close()
    if as_json:
        print_json({"relayed": relayed, "delivered_inprocess": delivered})
        return
    console.print(f"[green]✓[/] {relayed} rows relayed to the queue, "
                  f"{delivered} delivered in-process")


def _relay_all(project: Project, broker, url: str) -> int:  # type: ignore[no-untyped-def]
    relay = build_relay(project, broker)
    readable(project, [project.module(name) for name in relay.outboxes], outbox)
    with reaching_broker(url):
        return relay.drain()


@dlq.command("list")
def dlq_list(
    message_id: Annotated[str | None, typer.Argument(help="Only this message.")] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Dead letters of every subscriber, oldest first, with the error that put them there."""
    project = Project.load(config)
    try:
        letters = list_dead_letters(project, message_id)
    finally:
        project.close()
    if as_json:
        print_json([letter.as_dict() for letter in letters])
        return
    table = Table("message id", "consumer", "event", "attempts", "failed at", "error",
                  title=f"dead letters ({len(letters)})")
    for letter in letters:
        table.add_row(letter.message_id, letter.consumer, letter.event_type,
                      str(letter.attempts), letter.failed_at.strftime("%Y-%m-%d %H:%M:%S"),
                      letter.error.splitlines()[0] if letter.error else "")
    console.print(table)


@dlq.command("replay")
def dlq_replay(
    message_id: Annotated[str | None, typer.Argument(help="Only this message (default: all).")]
    = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Send dead letters to their consumer's queue again (all, or one message's)."""
    project = Project.load(config)
    broker, broker_settings = broker_for(project)
    try:
        with reaching_broker(broker_settings.safe_url):
            letters = replay(project, broker, message_id)
    finally:
        close_broker(broker)
        project.close()
    if as_json:
        print_json([{"message_id": x.message_id, "consumer": x.consumer} for x in letters])
        return
    for letter in letters:
        console.print(f"[green]↻[/] {letter.message_id} → {letter.consumer}")
    console.print(f"{len(letters)} dead letters replayed")


def _warn(count: int, style: str = "yellow") -> str:
    return f"[{style}]{count}[/]" if count else "0"
