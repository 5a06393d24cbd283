"""One lint run: discover, build the graph once, check every rule, apply the baseline."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from migration.boundaries.baseline import (
    DEFAULT_BASELINE,
    apply_baseline,
    load_baseline,
    write_baseline,
)
from migration.boundaries.lint_cache import cached_findings, open_cache
from migration.boundaries.model import LintReport, Violation

if TYPE_CHECKING:  # imported when a run checks: a cache hit needs neither config nor checks
    import grimp

    from migration.boundaries.codebase import Codebase
    from migration.boundaries.event_rules import EventCatalog
    from migration.boundaries.import_rules import ImportRules


@dataclass
class Findings:
    """Everything one pass over a codebase found; ``carve analyze`` reuses it."""

    codebase: Codebase
    graph: grimp.ImportGraph
    rules: ImportRules
    catalog: EventCatalog
    violations: list[Violation]


def find_violations(path: Path | None = None) -> Findings:
    """Check imports, data and events of the codebase at ``path``."""
    from migration.boundaries.codebase import open_codebase

    return check_codebase(open_codebase(path))


def check_codebase(codebase: Codebase, graph_cache: Path | None = None, *,
                   scan_external: bool = False) -> Findings:
    """Discover the modules of an opened codebase and check its imports, data and events.

    With ``scan_external`` (the lint's choice), the modules' third-party imports are read
    from their files and grimp's graph holds the project's packages only, which is cheaper
    (:mod:`migration.boundaries.external_imports`); ``carve analyze`` keeps them in it.
    """
    from concurrent.futures import ThreadPoolExecutor

    from migration.boundaries.codebase import discover_modules, source_on_path
    from migration.boundaries.data_rules import check_data
    from migration.boundaries.event_rules import check_events, read_catalog
    from migration.boundaries.import_checks import rules_and_violations
    from migration.boundaries.import_rules import build_graph, scan_externals, scans_externals

    source_on_path(codebase)
    scanning = scan_external and scans_externals(codebase)
    with ThreadPoolExecutor(max_workers=1) as pool:
        # the modules' files and the shared packages are scanned for tables and events
        # meanwhile; grimp's scan holds the GIL, so the CLI forks instead (lint_fork)
        building = pool.submit(build_graph, codebase, graph_cache,
                               external=False if scanning else None)
        discover_modules(codebase)
        external = scan_externals(codebase) if scanning else None
        catalog = read_catalog(codebase)
        codebase.read.clear()  # scanned: the kept contents are not needed any more
        graph = building.result()
    graph, rules, imports = rules_and_violations(codebase, graph, external, scanned=scanning,
                                                 graph_cache=graph_cache)
    violations = [
        *imports,
        *check_data(codebase),
        *check_events(codebase, catalog),
    ]
    violations.sort(key=lambda v: (v.file, v.line, v.rule, v.key))
    return Findings(codebase, graph, rules, catalog, violations)


def run_lint(
    path: Path | None = None,
    *,
    baseline: Path | None = None,
    strict: bool = False,
    update_baseline: bool = False,
    reason: str | None = None,
    cache: bool = False,
    parallel: bool = False,
) -> LintReport:
    """Lint the codebase; with a baseline, only violations it does not list fail.

    With ``cache``, the findings of the last run are reused while no file it read has
    changed (see :mod:`migration.boundaries.lint_cache`). With ``parallel`` (the CLI's
    choice: a library caller may run threads a fork does not copy), a run that checks
    uses two processes where it can.
    """
    root = (path or Path.cwd()).resolve()
    found = cached_findings(root) if cache else None
    modules, violations = (found.modules, found.violations) if found else _check(
        path, cache, parallel)
    file = baseline or root / DEFAULT_BASELINE
    # --baseline names a file to read, unless --update-baseline is about to create it
    entries = load_baseline(file) if file.exists() or (baseline and not update_baseline) else []
    written = None
    if update_baseline and (violations or file.exists()):
        # no violations and no file: an empty baseline would only be noise; an existing
        # one is still rewritten, so that entries fixed since are not left behind as stale
        write_baseline(file, violations, entries, reason)
        entries, written = load_baseline(file), str(file)
    new, known, stale = apply_baseline(violations, entries)
    return LintReport(
        root=str(root), modules=modules, violations=new,
        baselined=known, stale=stale, strict=strict, baseline_written=written,
    )


def _check(path: Path | None, cache: bool, parallel: bool) -> tuple[list[str], list[Violation]]:
    """Open the codebase and check it: the module names and the violations, then cached.

    With ``parallel``, on two processes where it can (see :mod:`.lint_fork`).
    """
    from migration.boundaries.codebase import open_codebase

    codebase = open_codebase(path)
    if parallel:
        from migration.boundaries.lint_fork import check_forked

        checked = check_forked(codebase, cache)
        if checked is not None:
            return checked
    store = open_cache(codebase) if cache else None
    findings = check_codebase(codebase, store.graph_folder if store else None,
                              scan_external=True)
    modules = list(codebase.modules)
    if store:
        store.write(modules, findings.violations)
    return modules, findings.violations


def export_importlinter(path: Path | None, target: Path) -> tuple[Path, Path]:
    """Write the codebase's import rules as import-linter configuration to ``target``.

    Returns the file written and the source folder ``lint-imports`` is to run from.
    """
    from migration.boundaries.codebase import load_codebase
    from migration.boundaries.import_rules import build_graph, generate_rules
    from migration.boundaries.importlinter_export import write_importlinter

    codebase = load_codebase(path)
    written = write_importlinter(generate_rules(codebase, build_graph(codebase)), target)
    return written, codebase.source
