"""What ties each module to the others: calls, events, tables, violations, co-change.

Everything comes from one lint pass (grimp's graph, the source facts, the
event catalog), so ``carve analyze`` and ``carve lint`` never disagree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from migration.analysis.cochange import CoChange, read_cochange
from migration.boundaries.lint import Findings, find_violations
from migration.boundaries.model import Violation

_IMPORTED_NAMES = re.compile(r"\bimport\s+(.+)$")


@dataclass
class ModuleCoupling:
    """One module's ties to the rest of the codebase."""

    name: str
    calls: set[str] = field(default_factory=set)
    called_by: set[str] = field(default_factory=set)
    publishes: set[str] = field(default_factory=set)
    consumes: dict[str, str | None] = field(default_factory=dict)  # event -> publisher
    tables: list[str] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    violation_targets: set[str] = field(default_factory=set)
    files: int = 0
    lines: int = 0


@dataclass
class Coupling:
    """Every module's coupling, the findings it came from and the git history."""

    findings: Findings
    modules: dict[str, ModuleCoupling]
    cochange: CoChange


def measure_coupling(path: Path | None = None, since: str | None = None) -> Coupling:
    """Run the lint pass once and derive every module's ties from it."""
    findings = find_violations(path)
    codebase = findings.codebase
    modules = {name: ModuleCoupling(name, tables=sorted(info.tables))
               for name, info in codebase.modules.items()}
    publishers = _publishers(findings)
    for name, info in codebase.modules.items():
        module = modules[name]
        module.files = len(info.facts)
        module.lines = sum(_count_lines(f.path) for f in info.facts)
        module.calls = _calls(findings, name)
        module.publishes = {t for t, owner in publishers.items() if owner == name}
        module.consumes = _consumed(findings, name, publishers)
    for module in modules.values():
        for callee in module.calls:
            modules[callee].called_by.add(module.name)
    _attach_violations(findings, modules)
    folders = {name: info.path for name, info in codebase.modules.items()}
    return Coupling(findings, modules, read_cochange(codebase.root, folders, since))


def _count_lines(path: Path | str) -> int:
    with open(path, "rb") as handle:
        return sum(1 for _ in handle)


def _contract_modules(findings: Findings) -> dict[str, str]:
    """Shared submodule named after a module (``contracts.users``) -> that module."""
    names = set(findings.codebase.modules)
    return {m: m.rsplit(".", 1)[-1] for m in findings.graph.modules
            if m.rsplit(".", 1)[-1] in names
            and any(m.startswith(s + ".") for s in findings.codebase.shared)}


def _publishers(findings: Findings) -> dict[str, str]:
    """Event type -> the module whose contract file declares it."""
    codebase, found = findings.codebase, {}
    for decl in findings.catalog.events.values():
        owner = decl.path.stem if decl.path.stem in codebase.modules else None
        if decl.event_type and owner:
            found[decl.event_type] = owner
    return found


def _calls(findings: Findings, name: str) -> set[str]:
    """Modules whose contract this module imports for more than their events."""
    graph, info = findings.graph, findings.codebase.modules[name]
    contracts = _contract_modules(findings)
    event_names = set(findings.catalog.events) | set(findings.catalog.values)
    calls: set[str] = set()
    importers = {info.package, *graph.find_descendants(info.package)} & graph.modules
    for importer in importers:
        for imported in graph.find_modules_directly_imported_by(importer):
            target = contracts.get(imported)
            if target is None or target == name or target in calls:
                continue
            details = graph.get_import_details(importer=importer, imported=imported)
            if not all(_only_events(d["line_contents"], event_names) for d in details):
                calls.add(target)
    return calls


def _only_events(line: str, event_names: set[str]) -> bool:
    """Whether a one-line ``from x import a, b`` brings in event classes only.

    A multi-line import shows only its first line: counted as a call, to be safe.
    """
    match = _IMPORTED_NAMES.search(line)
    if not match or "(" in match.group(1):
        return False
    return {part.split(" as ")[0].strip() for part in match.group(1).split(",")} <= event_names


def _consumed(findings: Findings, name: str, publishers: dict[str, str]) -> dict[str, str | None]:
    catalog, consumed = findings.catalog, {}
    for facts in findings.codebase.modules[name].facts:
        for sub in facts.subscriptions:
            decl = catalog.events.get(sub.event)
            event_type = sub.event if sub.by_type else (decl.event_type if decl else None)
            if event_type:
                consumed[event_type] = publishers.get(event_type)
    return consumed


def _attach_violations(findings: Findings, modules: dict[str, ModuleCoupling]) -> None:
    codebase, owners = findings.codebase, findings.codebase.owners()
    for violation in findings.violations:
        module = modules.get(violation.module)
        if module is None:
            continue
        module.violations.append(violation)
        target = codebase.module_of(violation.chain[-1]) if violation.chain else None
        other = target.name if target else owners.get(violation.table or "")
        if other and other != module.name:
            module.violation_targets.add(other)
