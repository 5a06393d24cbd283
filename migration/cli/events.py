"""``carve events …``: list events, swap a transport, dead letters, drain."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from migration.cli.options import ConfigOption, JsonOption
from migration.cli.output import console, print_json, whole
from migration.events import use_cases

app = typer.Typer(help="Event types, their transports, dead letters and backlog.",
                  no_args_is_help=True)
dlq = typer.Typer(help="Dead letters: messages a subscriber gave up on.", no_args_is_help=True)
app.add_typer(dlq, name="dlq")


@app.command("list")
def list_events(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Each event type: publisher, subscribers, transport, outbox backlog, dead letters."""
    events = use_cases.list_events(config)
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
    swapped = use_cases.swap_event(config, event, to)
    if not swapped.changed:
        console.print(f"{event} already travels {to}")
        return
    console.print(f"[green]✓[/] {event}: {swapped.previous} → {to} in {swapped.plan}")
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
    drained = use_cases.drain(config, root)
    if as_json:
        print_json({"relayed": drained.relayed,
                    "delivered_inprocess": drained.delivered_inprocess})
        return
    console.print(f"[green]✓[/] {drained.relayed} rows relayed to the queue, "
                  f"{drained.delivered_inprocess} delivered in-process")


@dlq.command("list")
def dlq_list(
    message_id: Annotated[str | None, typer.Argument(help="Only this message.")] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Dead letters of every subscriber, oldest first, with the error that put them there."""
    letters = use_cases.dead_letters(config, message_id)
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
    letters = use_cases.replay_dead_letters(config, message_id)
    if as_json:
        print_json([{"message_id": x.message_id, "consumer": x.consumer} for x in letters])
        return
    for letter in letters:
        console.print(f"[green]↻[/] {letter.message_id} → {letter.consumer}")
    console.print(f"{len(letters)} dead letters replayed")


def _warn(count: int, style: str = "yellow") -> str:
    return f"[{style}]{count}[/]" if count else "0"
