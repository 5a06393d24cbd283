"""Import rules, generated from the modules and checked on one grimp graph.

The rules are the same three contract kinds import-linter offers, so that
``--export-importlinter`` can hand them to ``lint-imports`` unchanged:
- the modules are independent (an independence contract: direct and indirect chains);
- a module imports only the shared packages, the standard library and allowed
  third-party packages (a forbidden contract on direct imports);
- each shared package imports only the shared packages listed before it, and
  nothing else of the project (a forbidden contract on any chain).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from migration.boundaries.codebase import STANDARD_LIBRARY, Codebase, source_on_path
from migration.runtime.errors import SourceNotParsed

if TYPE_CHECKING:
    from collections.abc import Sequence

    import grimp

    from migration.boundaries.external_imports import ExternalImport


@dataclass(frozen=True)
class ImportRules:
    """The import rules of one codebase, as data."""

    roots: tuple[str, ...]
    modules: tuple[str, ...]
    module_forbidden: tuple[str, ...]
    forbidden_external: tuple[str, ...]
    shared_forbidden: dict[str, tuple[str, ...]]
    include_external: bool


def graph_roots(codebase: Codebase) -> tuple[str, ...]:
    """The packages grimp builds from: every top-level first-party package we know of.

    A shared package without ``__init__.py`` (a namespace portion) is invisible
    from its parent, so it is named on its own.
    """
    roots: list[str] = []
    for name in [codebase.modules_root, *codebase.shared]:
        top = name.split(".")[0]
        if top not in roots:
            roots.append(top)
        if name != top and not (codebase.package_path(name) / "__init__.py").exists():
            if codebase.package_path(name).is_dir():
                roots.append(name)
    return tuple(roots)


def build_graph(codebase: Codebase, cache: Path | None = None, *,
                external: bool | None = None) -> grimp.ImportGraph:
    """grimp's graph of the codebase's own source, built once per run.

    With ``cache``, grimp keeps each file's imports there and rescans only the files
    modified since. External packages are in it when ``external`` says so, by default
    when the config allows some (the lint finds them by :func:`scans_externals` instead).
    A graph with them is cached in a folder of its own: grimp keeps one record of the
    files' modification times for both kinds, so a graph of one kind built after the other
    would take the other's stale imports of a file edited in between.
    """
    import grimp  # here: a lint served from its cache never needs it

    source_on_path(codebase)
    if external is None:
        external = bool(codebase.config.project.allowed_third_party)
    if cache and external:
        cache = cache / "external"
    try:
        return grimp.build_graph(
            *graph_roots(codebase),
            include_external_packages=external,
            cache_dir=str(cache) if cache else None,
        )
    except grimp.exceptions.SourceSyntaxError as exc:
        raise SourceNotParsed(f"{exc} (its imports cannot be read)") from exc


def scans_externals(codebase: Codebase) -> bool:
    """Whether the lint finds the modules' third-party imports itself, not in grimp's graph.

    Only when the config allows some (otherwise none is checked) and the top-level
    package of every root is a root too: grimp then names every external package by its
    top-level name, as :mod:`migration.boundaries.external_imports` does (beside a
    namespace portion alone, ``ns.pkg``, it would name ``ns.other``).
    """
    roots = graph_roots(codebase)
    return bool(codebase.config.project.allowed_third_party) and all(
        root.partition(".")[0] in roots for root in roots)


def scan_externals(codebase: Codebase) -> list[ExternalImport] | None:
    """The modules' imports of third-party packages they may not use, from their text.

    After :func:`~migration.boundaries.codebase.discover_modules` (it keeps each file's
    text); None when only grimp's graph can tell (see :func:`scans_externals`).
    """
    from migration.boundaries.external_imports import external_imports  # in the child

    files = ((facts.path, facts.text) for module in codebase.modules.values()
             for facts in module.facts)
    first_party = frozenset(root.partition(".")[0] for root in graph_roots(codebase))
    return external_imports(files, codebase.source, first_party,
                            frozenset(codebase.config.project.allowed_third_party))


def generate_rules(codebase: Codebase, graph: grimp.ImportGraph,
                   external: Sequence[ExternalImport] | None = None) -> ImportRules:
    """Derive every import rule from the modules, the shared packages and the graph.

    ``external``: the modules' imports of third-party packages they may not use, when
    the graph was built without external packages (see :func:`scans_externals`).
    """
    roots = graph_roots(codebase)
    shared = codebase.shared
    allowed_external = codebase.config.project.allowed_third_party
    forbidden_external: tuple[str, ...] = ()
    if allowed_external:
        forbidden_external = (_externals(graph, roots, allowed_external) if external is None
                              else tuple(sorted({e.imported for e in external})))
    return ImportRules(
        roots=roots,
        modules=tuple(m.package for m in codebase.modules.values()),
        module_forbidden=_outside(graph, roots, [*shared, codebase.modules_root]),
        forbidden_external=forbidden_external,
        shared_forbidden={
            package: _outside(graph, roots, shared[: index + 1])
            for index, package in enumerate(shared)
            if package in graph.modules
        },
        include_external=bool(allowed_external),
    )


def _outside(graph: grimp.ImportGraph, roots: tuple[str, ...], allowed: list[str]) -> tuple[
    str, ...
]:
    """The largest first-party packages that are neither allowed nor hold an allowed one."""
    found: list[str] = []

    def visit(package: str) -> None:
        if _within(package, allowed):
            return
        if any(a.startswith(package + ".") for a in allowed):
            for child in sorted(graph.find_children(package)):
                visit(child)
            return
        found.append(package)

    for root in roots:
        if not any(root.startswith(other + ".") for other in roots):
            visit(root)
    return tuple(found)


def _externals(graph: grimp.ImportGraph, roots: tuple[str, ...], allowed: list[str]) -> tuple[
    str, ...
]:
    tops = {r.split(".")[0] for r in roots}
    external = {m for m in graph.modules if m.split(".")[0] not in tops}
    return tuple(sorted(m for m in external
                        if m not in STANDARD_LIBRARY and not _within(m, allowed)))


def _within(name: str, packages: list[str] | tuple[str, ...] | frozenset[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)
