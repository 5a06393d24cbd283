"""Check the generated import rules on the graph and turn breaks into violations."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import grimp

from migration.boundaries.codebase import Codebase
from migration.boundaries.import_rules import ImportRules, build_graph, generate_rules
from migration.boundaries.model import Violation

if TYPE_CHECKING:
    from pathlib import Path

    from migration.boundaries.external_imports import ExternalImport

_INDEPENDENT_HINT = ("call the other module through its contract in the shared contracts, "
                     "or subscribe to its events; never import its code")
_ALLOWED_HINT = "depend on the shared packages only; move what both sides need into one of them"
_EXTERNAL_HINT = "add it to [project] allowed_third_party in carve.toml if modules may use it"
_SHARED_HINT = "a shared package must not depend on the modules or the tools: invert the import"


def rules_and_violations(
    codebase: Codebase, graph: grimp.ImportGraph, external: Sequence[ExternalImport] | None,
    *, scanned: bool, graph_cache: Path | None,
) -> tuple[grimp.ImportGraph, ImportRules, list[Violation]]:
    """The import rules and what breaks them, from ``graph`` and the scanned ``external``.

    ``scanned``: the graph was built without external packages for the scan to find
    them; when the scan could not tell (``external`` None: a file only grimp's parser
    reads), grimp's graph with them is built and used instead.
    """
    if scanned and external is None:
        graph = build_graph(codebase, graph_cache)
    rules = generate_rules(codebase, graph, external)
    return graph, rules, check_imports(codebase, graph, rules, external or ())


def check_imports(
    codebase: Codebase, graph: grimp.ImportGraph, rules: ImportRules,
    external: Sequence[ExternalImport] = (),
) -> list[Violation]:
    """Every import rule broken in the graph, and the ``external`` imports found without it.

    ``external``: the modules' forbidden third-party imports when the graph was built
    without external packages (:func:`migration.boundaries.import_rules.scans_externals`).
    """
    return [
        *_independence(codebase, graph, rules),
        *_module_imports(codebase, graph, rules),
        *_scanned_imports(codebase, graph, rules, external),
        *_shared_imports(codebase, graph, rules),
    ]


def _link(codebase: Codebase, graph: grimp.ImportGraph, importer: str, imported: str) -> tuple[
    str, int
]:
    details = graph.get_import_details(importer=importer, imported=imported)
    line = min((d["line_number"] for d in details), default=1)
    return codebase.relative(codebase.file_of(importer)), line


def _module_name(codebase: Codebase, package: str) -> str:
    module = codebase.module_of(package)
    return module.name if module else package


def _independence(codebase: Codebase, graph: grimp.ImportGraph, rules: ImportRules) -> Iterator[
    Violation
]:
    modules = {m for m in rules.modules if m in graph.modules}
    if len(modules) < 2:
        return
    for dependency in graph.find_illegal_dependencies_for_layers(layers=(modules,)):
        for route in dependency.routes:
            for chain in _chains(graph, route):
                yield _chain_violation(codebase, graph, "imports.independent", chain,
                                       dependency.importer, dependency.imported)


def _chains(graph: grimp.ImportGraph, route: grimp.Route) -> Iterator[tuple[str, ...]]:
    """Direct routes: every importing file; indirect ones: one chain through the middle."""
    if not route.middle:
        for head in sorted(route.heads):
            for tail in sorted(route.tails):
                if graph.direct_import_exists(importer=head, imported=tail):
                    yield (head, tail)
        return
    head = next(h for h in sorted(route.heads)
                if graph.direct_import_exists(importer=h, imported=route.middle[0]))
    tail = next(t for t in sorted(route.tails)
                if graph.direct_import_exists(importer=route.middle[-1], imported=t))
    yield (head, *route.middle, tail)


def _chain_violation(codebase: Codebase, graph: grimp.ImportGraph, rule: str,
                     chain: tuple[str, ...], importer: str, imported: str) -> Violation:
    file, line = _link(codebase, graph, chain[0], chain[1])
    source, target = _module_name(codebase, importer), _module_name(codebase, imported)
    how = "imports" if len(chain) == 2 else f"reaches, through {' -> '.join(chain[1:-1])},"
    return Violation(
        rule=rule, module=source, file=file, line=line, chain=chain,
        message=f"{source} {how} {chain[-1]} ({target})",
        hint=_INDEPENDENT_HINT if rule == "imports.independent" else _SHARED_HINT,
    )


def _module_imports(codebase: Codebase, graph: grimp.ImportGraph, rules: ImportRules) -> Iterator[
    Violation
]:
    """Direct imports from a module into a forbidden package.

    Searched from the forbidden side: there are few forbidden packages and many
    module files, so asking who imports each forbidden module is the cheap way round.
    """
    modules = frozenset(rules.modules)
    for target in _expand(graph, [*rules.module_forbidden, *rules.forbidden_external]):
        for importer in sorted(graph.find_modules_that_directly_import(target)):
            if _matches(importer, modules):
                yield _direct_violation(codebase, graph, importer, target, rules)


def _expand(graph: grimp.ImportGraph, packages: list[str]) -> list[str]:
    """The packages and, unless squashed (external), every module inside them."""
    found: list[str] = []
    for package in packages:
        if package in graph.modules:
            found.append(package)
            if not graph.is_module_squashed(package):
                found += sorted(graph.find_descendants(package))
    return found


def _scanned_imports(codebase: Codebase, graph: grimp.ImportGraph, rules: ImportRules,
                     external: Sequence[ExternalImport]) -> Iterator[Violation]:
    """What :func:`_module_imports` finds of third-party packages in a graph that has them.

    One violation per importer and package, at its first line, as grimp's details give;
    a file grimp does not take for a module (a folder without ``__init__.py``) is skipped.
    """
    modules = frozenset(rules.modules)
    lines: dict[tuple[str, str], int] = {}
    for found in external:
        if found.importer in graph.modules and _matches(found.importer, modules):
            key = (found.importer, found.imported)
            lines[key] = min(lines.get(key, found.line), found.line)
    for (importer, imported), line in sorted(lines.items()):
        file = codebase.relative(codebase.file_of(importer))
        yield _direct_violation(codebase, graph, importer, imported, rules, (file, line))


def _direct_violation(codebase: Codebase, graph: grimp.ImportGraph, importer: str,
                      imported: str, rules: ImportRules,
                      where: tuple[str, int] | None = None) -> Violation:
    file, line = where or _link(codebase, graph, importer, imported)
    module = _module_name(codebase, importer)
    external = _matches(imported, frozenset(rules.forbidden_external))
    what = "the third-party package" if external else "the project package"
    return Violation(
        rule="imports.allowed", module=module, file=file, line=line, chain=(importer, imported),
        message=f"{module} imports {what} {imported}, which modules may not use",
        hint=_EXTERNAL_HINT if external else _ALLOWED_HINT,
    )


def _shared_imports(codebase: Codebase, graph: grimp.ImportGraph, rules: ImportRules) -> Iterator[
    Violation
]:
    for package, forbidden in rules.shared_forbidden.items():
        for target in forbidden:
            if target not in graph.modules:
                continue
            chains = graph.find_shortest_chains(importer=package, imported=target, as_packages=True)
            for chain in sorted(chains):
                yield _chain_violation(codebase, graph, "imports.shared", chain, package, target)


def _matches(name: str, packages: frozenset[str]) -> bool:
    """Whether ``name`` is one of ``packages`` or inside one (checked by its ancestors)."""
    parts = name.split(".")
    return any(".".join(parts[:i]) in packages for i in range(1, len(parts) + 1))
