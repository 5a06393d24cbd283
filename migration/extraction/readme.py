"""The README of an extracted service, and the next steps printed after extracting."""

from __future__ import annotations

from migration.extraction.source import ModuleSource
from migration.extraction.templates import HEADER, render


def _operations(source: ModuleSource) -> str:
    prefix = source.spec.contract.prefix()
    return "\n".join(
        f"| `{op.method} {prefix}{op.path}` | `{op.name}` | {op.summary.splitlines()[0]} |"
        for op in source.spec.contract.operations()
    )


def _events(source: ModuleSource) -> str:
    name = source.spec.name
    published = ", ".join(f"`{e.type}`" for e in source.spec.publishes) or "none"
    consumed = "\n".join(
        f"- `{s.event.type}` → `{s.name}` (queue `{name}.{s.name}`)"
        for s in source.spec.subscriptions
    ) or "- none"
    text = f"Publishes: {published}, written to its own `{name}_outbox` in the " \
           f"transaction of the change; {_relayed(source)}\n\n" \
           f"Consumes:\n{consumed}"
    if not source.spec.subscriptions:
        return text
    return text + "\n\n" \
        "`carve run worker --path .` runs these subscribers as dramatiq workers " \
        f"(composition root `{source.service_package}.app.worker`); the monolith's " \
        "`carve run relay` puts one message per subscriber on its queue, on the same " \
        "broker and namespace. Each applies a message once (the " \
        f"`{name}_inbox` records its id with the effect); a message still failing after " \
        f"its retries is kept in the service's own `{name}_dead_letters`."


def _relayed(source: ModuleSource) -> str:
    if not source.subscribers:
        return "the relay moves them to the broker."
    queues = "\n".join(f"- `{event}` → " + (", ".join(f"`{n}`" for n in names) or "no subscriber")
                       for event, names in source.subscribers)
    return "`carve run relay --path .` moves them to the " \
        "broker (composition root " \
        f"`{source.service_package}.app.relay`), one message per subscriber the project " \
        "declared when the service was extracted (`SUBSCRIBERS` in `app.py`; regenerate " \
        f"when they change):\n\n{queues}"


def _broker_rows(source: ModuleSource) -> list[str]:
    consumes, publishes = bool(source.spec.subscriptions), bool(source.subscribers)
    if not (consumes or publishes):
        return []
    role = " and ".join(
        part for part, wanted in (("its worker consumes from", consumes),
                                  ("its relay sends to", publishes)) if wanted)
    peers = "the same as the relay's" if not publishes else "the same for its relay and " \
        "every worker"
    return [
        f"| `CARVE_BROKER_URL`, `REDIS_URL` | the broker {role} "
        "(`amqp://` for RabbitMQ) | `redis://127.0.0.1:6379/0` |",
        f"| `CARVE_BROKER_NAMESPACE` | Redis key prefix, {peers} | `carve` |",
    ]


def _environment(source: ModuleSource) -> str:
    rows = [
        f"| `DATABASE_URL_{source.spec.name.upper()}`, `DATABASE_URL` | the service's "
        f"database | `sqlite:///{source.spec.name}.db` |",
    ]
    rows += [
        f"| `CARVE_{c.name.upper()}_URL` | the {c.name} service it calls | "
        f"`http://{c.name}-service:8000` |"
        for c in source.spec.uses
    ]
    return "\n".join(rows + _broker_rows(source))


def service_readme(source: ModuleSource) -> str:
    """``README.md`` of the service: what it serves, publishes, consumes and needs."""
    name, spec = source.spec.name, source.spec
    return render(
        "README.md.tmpl", name=name, package=source.service_package,
        module_package=source.package, header=HEADER.format(name=name),
        description=spec.description or f"The {name} module.",
        contract=f"{spec.contract.__module__}.{spec.contract.__name__}",
        operations=_operations(source), events=_events(source),
        environment=_environment(source), worker_commands=_worker_command(source),
        worker_containers=_worker_container(source))


def _worker_command(source: ModuleSource) -> str:
    lines = ""
    if source.spec.subscriptions:
        lines += "carve run worker --path .                        # its subscribers, " \
                 "from the queue\n"
    if source.subscribers:
        lines += "carve run relay --path .                         # its outbox, " \
                 "to the queue\n"
    return lines


def _worker_container(source: ModuleSource) -> str:
    lines = ""
    if source.spec.subscriptions:
        lines += f"docker run {source.spec.name}-service carve run worker --path /service  " \
                 "# the worker container\n"
    if source.subscribers:
        lines += f"docker run {source.spec.name}-service carve run relay --path /service   " \
                 "# the relay container\n"
    return lines


def next_steps(source: ModuleSource, folder: str) -> list[str]:
    """What to do after extracting: database, events, calls, traffic (in an order that runs)."""
    name = source.spec.name
    prefix = source.spec.contract.prefix()
    events = sorted({s.event.type for s in source.spec.subscriptions})
    steps = [
        f"give it a database of its own: DATABASE_URL_{name.upper()}=... for the service "
        f"(carve db upgrade {name} with the same variable creates its tables)",
        f"run it: carve run service {name} --path {folder} --port 8001",
    ]
    if source.subscribers:
        published = ", ".join(event for event, _ in source.subscribers)
        steps.append(
            f"relay what it publishes ({published}) from its own outbox: carve run relay "
            f"--path {folder}, with the CARVE_BROKER_URL and CARVE_BROKER_NAMESPACE of the "
            "workers that consume it (carve run worker for the monolith's subscribers)")
    steps += [f"deliver {event} through the queue: carve events swap {event} --to queue"
              for event in events]
    if events:
        steps.append(
            f"consume {', '.join(events)} in the service: carve run worker --path {folder}, "
            "and carve run relay for the monolith's outbox (both with the same "
            "CARVE_BROKER_URL and CARVE_BROKER_NAMESPACE)")
    steps += [
        f"send the monolith's calls to it: CARVE_{name.upper()}_URL=http://127.0.0.1:8001 "
        f"CARVE_{name.upper()}_BINDING=remote (or [modules.{name}] in carve.toml)",
        f"move its traffic through the gateway: carve route set {prefix} --mode shadow "
        f"--to {name} (then --mode canary --percent N, then --mode service)",
    ]
    return steps
