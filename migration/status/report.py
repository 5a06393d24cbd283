"""Each module's six migration steps, each with a state and the evidence it rests on.

The evidence is what the other commands find, read again rather than remembered: the
boundary lint and readiness of ``carve analyze``, the database URL the module resolves to,
the extracted service folder and ``carve extract --check``'s drift, the binding, the event
transports in ``carve.toml``, and the route, live SLO window and audit log of a running
gateway. Nothing here writes anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from migration.analysis.report import Analysis
from migration.datasplit.journal import Journal, Journals, Phase
from migration.extraction.extract import ExtractionRefused, check, service_folder
from migration.gateway.admin_client import AdminClient
from migration.gateway.admin_views import RouteView, utc_time
from migration.gateway.routes import RouteMode, RouteTable
from migration.gateway.store.base import AuditEntry
from migration.runtime.db import normalize_url, safe_url
from migration.runtime.discovery import binding_of
from migration.runtime.errors import CarveError
from migration.runtime.modules import ModuleSpec
from migration.runtime.project import Project
from migration.runtime.remote import inprocess_consumed

SCHEMA = "carve.status/1"
STEPS = ("boundaries", "database", "service interface", "events", "gateway route",
         "monitoring")


class State(StrEnum):
    """How far a step is."""

    DONE = "done"
    STARTED = "started"
    NOT_STARTED = "not started"
    UNKNOWN = "unknown"  # the evidence could not be read (no gateway given, say)


@dataclass(frozen=True)
class Step:
    """One step of one module: its state and the evidence, in a line."""

    number: int
    state: State
    evidence: str

    @property
    def name(self) -> str:
        return STEPS[self.number - 1]

    def as_dict(self) -> dict[str, Any]:
        return {"step": self.number, "name": self.name, "state": self.state.value,
                "evidence": self.evidence}


@dataclass(frozen=True)
class ModuleStatus:
    """The six steps of one module."""

    module: str
    steps: tuple[Step, ...]

    @property
    def next_step(self) -> Step | None:
        """The first step that is not done: the one to work on."""
        return next((s for s in self.steps if s.state is not State.DONE), None)

    def as_dict(self) -> dict[str, Any]:
        upcoming = self.next_step
        return {"module": self.module, "next": upcoming.number if upcoming else None,
                "steps": [s.as_dict() for s in self.steps]}


@dataclass(frozen=True)
class GatewayView:
    """The routes and audit log of a running gateway, or why they could not be read."""

    routes: list[RouteView]
    audit: list[AuditEntry]
    problem: str | None = None

    @classmethod
    def read(cls, url: str | None) -> GatewayView:
        """Ask the gateway's admin API (``CARVE_ADMIN_TOKEN``); a failure is kept, not raised."""
        if not url:
            return cls([], [], "no gateway given (set CARVE_GATEWAY_URL or --gateway)")
        client = AdminClient(url)
        try:
            return cls(client.routes().routes, client.audit(limit=1000))
        except CarveError as exc:
            return cls([], [], str(exc))

    def route_for(self, prefix: str) -> RouteView | None:
        """The route the gateway matches for ``prefix``, by the gateway's own table."""
        return RouteTable(self.routes).match(prefix)  # type: ignore[return-value]

    def routes_within(self, prefix: str) -> list[RouteView]:
        """Routes for paths below ``prefix`` (``/api/v1/users/me`` within ``/api/v1/users``)."""
        return [r for r in self.routes if r.prefix.startswith(prefix + "/")]

    def history(self, prefix: str) -> list[AuditEntry]:
        """The audit entries of one route, newest first."""
        return [e for e in self.audit if e.prefix == prefix]


def status(project: Project, analysis: Analysis, gateway: GatewayView,
           out: Path) -> list[ModuleStatus]:
    """Every module the analysis found, in the extraction order ``carve analyze`` gives."""
    return [module_status(project, r.module, analysis, gateway, out) for r in analysis.order]


def module_status(project: Project, name: str, analysis: Analysis, gateway: GatewayView,
                  out: Path) -> ModuleStatus:
    spec = project.specs.get(name)
    if spec is None:
        # A codebase carve has not been set up in yet: step 1 is where it stands.
        unknown = (f"no ModuleSpec for {name}: steps 2 to 6 read the module's contract, "
                   "tables and events from one")
        return ModuleStatus(name, (
            _boundaries(analysis, name), Step(2, State.UNKNOWN, unknown),
            *(Step(number, State.UNKNOWN, "as step 2") for number in range(3, 7))))
    return ModuleStatus(name, (
        _boundaries(analysis, name), _database(project, name),
        _interface(project, spec, out), _events(project, spec),
        *traffic_steps(spec, gateway)))


def _boundaries(analysis: Analysis, name: str) -> Step:
    violations = analysis.coupling.modules[name].violations
    score = next(r.score for r in analysis.order if r.module == name)
    if not violations:
        return Step(1, State.DONE, f"lint clean; readiness {score}/100")
    rules = sorted({v.rule for v in violations})
    return Step(1, State.STARTED, f"{len(violations)} violation(s) ({', '.join(rules)}); "
                                  f"readiness {score}/100")


def _database(project: Project, name: str) -> Step:
    if binding_of(name, project.config, project.environ) == "remote":
        return Step(2, State.DONE, "bound remote: its tables live with the service, and the "
                                   "monolith no longer migrates or reads them")
    journal = Journals(project.config.path).read(name) if project.config.path else None
    if journal is not None and journal.phase is not Phase.ROLLED_BACK:
        return _split_step(journal)
    url = project.database_url(name)
    shared = project.environ.get("DATABASE_URL") or project.config.database.url
    if not same_database(url, shared):
        return Step(2, State.DONE, f"its own database: {safe_url(url)}")
    return Step(2, State.NOT_STARTED, f"shares {safe_url(url)} with the monolith "
                                      f"(DATABASE_URL_{name.upper()} gives it its own)")


def _split_step(journal: Journal) -> Step:
    """Step 2 from ``carve db split``'s journal: its phase and its last verification."""
    checked = journal.verification
    verdict = ("not verified yet" if not checked else
               f"last verify {'equal' if checked['equal'] else 'DIFFERENT'}: "
               f"{checked['rows']} rows, {checked['differences']} differences, "
               f"{_when(checked['at'])}")
    if journal.moved:
        return Step(2, State.DONE, f"split to {safe_url(journal.target)} and "
                                   f"{journal.phase.value} (writes held "
                                   f"{journal.freeze_ms or 0:.0f} ms); {verdict}")
    nxt = ("carve db cutover" if journal.phase is Phase.READY else "carve db split --resume")
    return Step(2, State.STARTED, f"splitting to {safe_url(journal.target)}: "
                                  f"{journal.phase.value}, {journal.rows_copied} of "
                                  f"{journal.rows_total} rows copied; {verdict}; next: {nxt}")


def _interface(project: Project, spec: ModuleSpec, out: Path) -> Step:
    name = spec.name
    folder = service_folder(out, name)
    if not folder.is_dir():
        return Step(3, State.NOT_STARTED, f"not extracted (carve extract {name})")
    try:
        drifted = check(project, name, out).drifted
    except ExtractionRefused as exc:
        return Step(3, State.STARTED, f"{folder} exists, but the module no longer "
                                      f"extracts: {exc}")
    binding = binding_of(name, project.config, project.environ)
    consumed = inprocess_consumed(spec, project.config)
    if binding == "remote":
        where = "the monolith calls it over HTTP (binding remote)"
    elif consumed:  # the monolith refuses a remote module whose events stay in-process
        where = (f"the monolith still runs it in-process; once {', '.join(consumed)} goes "
                 f"through the queue (step 4), CARVE_{name.upper()}_BINDING=remote calls it")
    else:
        where = (f"the monolith still runs it in-process (CARVE_{name.upper()}_BINDING=remote "
                 "calls the service)")
    if drifted:
        return Step(3, State.STARTED, f"{folder}: {len(drifted)} file(s) differ from the "
                                      f"module (carve extract {name} --check); {where}")
    return Step(3, State.DONE if binding == "remote" else State.STARTED,
                f"{folder} up to date; {where}")


def _events(project: Project, spec: ModuleSpec) -> Step:
    events = sorted({e.type for e in spec.publishes}
                    | {s.event.type for s in spec.subscriptions})
    if not events:
        return Step(4, State.DONE, "publishes and consumes no events")
    inprocess = [e for e in events if project.config.transport(e) != "queue"]
    queued = [e for e in events if e not in inprocess]
    if not inprocess:
        return Step(4, State.DONE, f"on the queue: {', '.join(queued)}")
    todo = f"in-process: {', '.join(inprocess)} (carve events swap EVENT --to queue)"
    if queued:
        return Step(4, State.STARTED, f"on the queue: {', '.join(queued)}; {todo}")
    return Step(4, State.NOT_STARTED, todo)


def traffic_steps(spec: ModuleSpec, gateway: GatewayView) -> tuple[Step, Step]:
    """Steps 5 and 6 from the gateway: the module's route, its canary window, its audit."""
    if gateway.problem:
        return (Step(5, State.UNKNOWN, gateway.problem),
                Step(6, State.UNKNOWN, gateway.problem))
    prefix = spec.contract.prefix()
    route = gateway.route_for(prefix)
    if route is None or route.mode is RouteMode.MONOLITH:
        within = [f"{r.prefix} {r.mode.value}" for r in gateway.routes_within(prefix)
                  if r.mode is not RouteMode.MONOLITH]
        if within:
            return (Step(5, State.STARTED, f"routes within {prefix}: {', '.join(within)}; "
                                           "the monolith serves the rest"),
                    Step(6, State.UNKNOWN, "read per route: carve route list"))
        where = f"route {route.prefix} in monolith mode" if route else "no route"
        return (Step(5, State.NOT_STARTED, f"{where}: the monolith serves {prefix}"),
                _rollbacks(gateway.history(route.prefix) if route else []))
    mode, service = route.mode, route.service
    history = gateway.history(route.prefix)
    if mode is RouteMode.SHADOW:
        stats = route.shadow_stats
        seen = (f": {stats.compared} compared, {stats.diff_rate:.1%} differ"
                if stats else ": nothing compared yet")
        return Step(5, State.STARTED, f"shadow → {service}{seen}"), _rollbacks(history)
    if mode is RouteMode.CANARY:
        return (Step(5, State.STARTED, f"canary {route.percent:g}% → {service}"),
                _window(route))
    promoted = next((e for e in history if e.new is not None and e.new.mode is mode), None)
    when = f" since {_when(promoted.at)}" if promoted else ""
    done = Step(5, State.DONE, f"{mode} → {service}{when}" if mode is RouteMode.SERVICE
                else f"retired{when}: the gateway answers 410")
    return done, _promotion(mode, when, promoted)


def _promotion(mode: RouteMode, when: str, promoted: AuditEntry | None) -> Step:
    """Whether the route was promoted on evidence: from a canary whose window met its SLO."""
    old = promoted.old if promoted else None
    if old is None or old.mode is not RouteMode.CANARY:
        return Step(6, State.STARTED, f"{mode}{when} without a canary before it: no SLO "
                                      "evidence for the move")
    seen = promoted.evidence if promoted else None
    if not seen:
        return Step(6, State.STARTED, f"{mode}{when} from a canary whose window was not "
                                      "recorded")
    needed = old.slo.min_requests
    figures = (f"{seen.requests} requests, {seen.error_rate:.1%} errors, "
               f"p99 {seen.p99_ms:.0f} ms")
    if seen.breach:
        return Step(6, State.STARTED, f"{mode}{when} from a canary in breach: {seen.breach}")
    if seen.requests < needed:
        return Step(6, State.STARTED, f"{mode}{when} from a canary of {seen.percent:g}% "
                                      f"with {figures}: fewer than the {needed} its SLO needs")
    return Step(6, State.DONE, f"{mode}{when} from a canary of {seen.percent:g}% within its "
                               f"SLO: {figures}")


def _window(route: RouteView) -> Step:
    slo = route.slo
    target = f"SLO {slo.max_error_rate:.0%} errors, p99 {slo.max_p99_ms:g} ms"
    window = route.slo_window
    if not window:
        return Step(6, State.STARTED, f"canary watched ({target}); no requests in the window")
    return Step(6, State.STARTED,
                f"canary window: {window.requests} requests, {window.error_rate:.1%} "
                f"errors, p99 {window.p99_ms:.0f} ms ({target})")


def _rollbacks(history: list[AuditEntry]) -> Step:
    """A route back on the monolith: whether a canary ran, and how it ended."""
    ended = next((e for e in history
                  if e.old is not None and e.old.mode is RouteMode.CANARY), None)
    if ended is None:
        return Step(6, State.NOT_STARTED, "no canary yet")
    how = "automatically" if ended.automatic else "by hand"
    return Step(6, State.STARTED, f"a canary ran, rolled back {how} {_when(ended.at)}: "
                                  f"{ended.reason}")


def same_database(first: str, second: str) -> bool:
    """Whether two URLs name one database (``postgres://`` is ``postgresql://``, say)."""
    try:
        one, other = make_url(normalize_url(first)), make_url(normalize_url(second))
    except ArgumentError:
        return first == second
    if one.get_backend_name() == other.get_backend_name() == "sqlite":
        return Path(one.database or "").resolve() == Path(other.database or "").resolve()
    return one == other


def _when(at: float) -> str:
    return utc_time(at, seconds=False)
