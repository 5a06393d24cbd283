"""Event rules: subscriptions name declared events; event fields are plain data."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass

from migration.boundaries.codebase import Codebase
from migration.boundaries.model import Violation
from migration.boundaries.source_scan import ClassDecl, scan_shared_file

PRIMITIVES = frozenset({"str", "int", "float", "bool", "None", "datetime", "date", "time",
                        "Decimal", "UUID", "Literal"})
CONTAINERS = frozenset({"tuple", "list", "frozenset", "Tuple", "List", "FrozenSet", "Sequence"})
WRAPPERS = frozenset({"Optional", "Union", "Annotated"})


@dataclass
class EventCatalog:
    """The events and event values the shared packages declare."""

    events: dict[str, ClassDecl]
    values: dict[str, ClassDecl]

    @property
    def types(self) -> set[str]:
        return {e.event_type for e in self.events.values() if e.event_type}


def read_catalog(codebase: Codebase) -> EventCatalog:
    """Find every ``Event`` and ``EventValue`` subclass in the shared packages."""
    classes: dict[str, ClassDecl] = {}
    for package in codebase.shared:
        path = codebase.package_path(package)
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path] if path.exists() else []
        for file in files:
            for decl in scan_shared_file(file, codebase.text_of(file)):
                classes.setdefault(decl.name, decl)
    return EventCatalog(_subclasses(classes, "Event"), _subclasses(classes, "EventValue"))


def _subclasses(classes: dict[str, ClassDecl], base: str) -> dict[str, ClassDecl]:
    found: dict[str, ClassDecl] = {}
    changed = True
    while changed:
        changed = False
        for decl in classes.values():
            if decl.name not in found and any(b == base or b in found for b in decl.bases):
                found[decl.name], changed = decl, True
    return found


def check_events(codebase: Codebase, catalog: EventCatalog) -> list[Violation]:
    """Every subscription to an unknown event, and every field that is not plain data."""
    return [*_subscriptions(codebase, catalog), *_fields(codebase, catalog)]


def _subscriptions(codebase: Codebase, catalog: EventCatalog) -> Iterator[Violation]:
    types = catalog.types
    for module in codebase.modules.values():
        for facts in module.facts:
            for sub in facts.subscriptions:
                if sub.by_type and sub.event in types:
                    continue
                from_shared = sub.imported_from is not None and any(
                    sub.imported_from == p or sub.imported_from.startswith(p + ".")
                    for p in codebase.shared
                )
                if not sub.by_type and from_shared and sub.event in catalog.events:
                    continue
                yield Violation(
                    rule="events.unknown", module=module.name,
                    file=codebase.relative(facts.path), line=sub.line,
                    message=f"{module.name} subscribes to {sub.event}, "
                            "which no shared contract declares",
                    hint="declare the event in the publishing module's contract and subscribe "
                         f"to that class (known: {', '.join(sorted(types)) or 'none'})",
                )


def _fields(codebase: Codebase, catalog: EventCatalog) -> Iterator[Violation]:
    for decl in [*catalog.events.values(), *catalog.values.values()]:
        allowed_values = set(catalog.values) if decl.name in catalog.events else set()
        for item in decl.fields:
            if _plain(item.annotation, allowed_values):
                continue
            written = ast.unparse(item.annotation)
            yield Violation(
                rule="events.field-type", module=_shared_package(codebase, decl),
                file=codebase.relative(decl.path), line=item.line, table=None,
                message=f"{decl.name}.{item.name}: {written} is not primitive, "
                        "JSON-serializable data",
                hint="use str, int, float, bool, datetime, an EventValue of those, "
                     "or a tuple or list of them",
            )


def _plain(node: ast.expr, values: set[str]) -> bool:
    """Whether an annotation names only primitives, allowed values and containers of them."""
    if isinstance(node, ast.Constant):
        return node.value is None or (isinstance(node.value, str) and _plain_text(node.value,
                                                                                   values))
    if isinstance(node, ast.Name | ast.Attribute):
        name = node.attr if isinstance(node, ast.Attribute) else node.id
        return name in PRIMITIVES or name in values
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _plain(node.left, values) and _plain(node.right, values)
    if isinstance(node, ast.Subscript):
        return _plain_subscript(node, values)
    return isinstance(node, ast.Tuple) and all(_plain(e, values) for e in node.elts)


def _plain_subscript(node: ast.Subscript, values: set[str]) -> bool:
    outer = node.value.attr if isinstance(node.value, ast.Attribute) else getattr(
        node.value, "id", "")
    if outer == "Literal":
        return True
    args = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
    args = [a for a in args if not (isinstance(a, ast.Constant) and a.value is Ellipsis)]
    if outer == "Annotated":
        return _plain(args[0], values)
    if outer in CONTAINERS or outer in WRAPPERS:
        return all(_plain(a, values) for a in args)
    if outer in {"dict", "Dict", "Mapping"} and len(args) == 2:
        return _plain(args[0], set()) and _plain(args[1], values)
    return False


def _plain_text(text: str, values: set[str]) -> bool:
    try:
        return _plain(ast.parse(text, mode="eval").body, values)
    except SyntaxError:
        return False


def _shared_package(codebase: Codebase, decl: ClassDecl) -> str:
    for package in codebase.shared:
        path = codebase.package_path(package)
        if decl.path == path or path in decl.path.parents:
            return package
    return decl.name
