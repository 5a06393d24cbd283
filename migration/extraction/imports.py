"""Rewriting a module's import statements with libcst.

libcst keeps the source exactly as written (comments, blank lines, quotes), so
a rewritten file differs from the original only in the imports that moved.
"""

from __future__ import annotations

import libcst as cst
from libcst.helpers import get_full_name_for_node


class _ImportRenamer(cst.CSTTransformer):
    def __init__(self, old: str, new: str) -> None:
        self.old, self.new = old, new

    def _renamed(self, name: str) -> str | None:
        if name == self.old or name.startswith(self.old + "."):
            return self.new + name[len(self.old):]
        return None

    def leave_ImportAlias(
        self, original_node: cst.ImportAlias, updated_node: cst.ImportAlias
    ) -> cst.ImportAlias:
        renamed = self._renamed(get_full_name_for_node(updated_node.name) or "")
        if renamed is None:
            return updated_node
        return updated_node.with_changes(name=_dotted(renamed))

    def leave_ImportFrom(
        self, original_node: cst.ImportFrom, updated_node: cst.ImportFrom
    ) -> cst.ImportFrom:
        if updated_node.module is None or updated_node.relative:
            return updated_node
        renamed = self._renamed(get_full_name_for_node(updated_node.module) or "")
        if renamed is None:
            return updated_node
        return updated_node.with_changes(module=_dotted(renamed))


def _dotted(name: str) -> cst.Attribute | cst.Name:
    node: cst.Attribute | cst.Name = cst.Name(name.split(".")[0])
    for part in name.split(".")[1:]:
        node = cst.Attribute(value=node, attr=cst.Name(part))
    return node


def rename_imports(source: str, old: str, new: str) -> str:
    """``source`` with every import of ``old`` (or below it) importing ``new`` instead.

    Only ``from …`` modules are renamed inside ``from`` statements: the names
    imported from them stay, so ``from a.b import c`` becomes ``from x.b import c``.
    A block of imports holding a renamed one is sorted again (see :func:`sort_imports`).
    """
    return sort_imports(cst.parse_module(source).visit(_ImportRenamer(old, new)).code, new)


def sort_imports(source: str, package: str) -> str:
    """``source`` with each top-level block of imports that imports ``package`` in order.

    A block is a run of import lines with no blank line or comment between them, as
    isort (ruff's ``I`` rules) leaves them. A renamed package moves within its block
    to where isort puts it: ``import x`` lines first, then ``from`` lines, each by
    module name. Blocks that do not import ``package`` are left exactly as written,
    and so is a block with a relative import.
    """
    module = cst.parse_module(source)
    body = list(module.body)
    for start, end in _import_blocks(body):
        block = body[start:end]
        if any(_imports(line, package) for line in block) and not any(map(_relative, block)):
            ordered = sorted(block, key=_sort_key)
            body[start:end] = [line.with_changes(leading_lines=place.leading_lines)
                               for line, place in zip(ordered, block, strict=True)]
    return module.with_changes(body=body).code


def _import_of(line: cst.CSTNode) -> cst.Import | cst.ImportFrom | None:
    if isinstance(line, cst.SimpleStatementLine) and len(line.body) == 1:
        statement = line.body[0]
        if isinstance(statement, cst.Import | cst.ImportFrom):
            return statement
    return None


def _import_blocks(body: list[cst.CSTNode]) -> list[tuple[int, int]]:
    """``(start, end)`` of each run of import lines not broken by a blank line or comment."""
    blocks: list[tuple[int, int]] = []
    start = None
    for index, line in enumerate(body):
        is_import = _import_of(line) is not None
        if start is not None and (not is_import or _has_leading_lines(line)):
            blocks.append((start, index))
            start = None
        if is_import and start is None:
            start = index
    if start is not None:
        blocks.append((start, len(body)))
    return blocks


def _has_leading_lines(line: cst.CSTNode) -> bool:
    return bool(getattr(line, "leading_lines", ()))


def _module_name(statement: cst.Import | cst.ImportFrom) -> str:
    if isinstance(statement, cst.Import):
        return get_full_name_for_node(statement.names[0].name) or ""
    return get_full_name_for_node(statement.module) if statement.module else ""


def _imports(line: cst.CSTNode, package: str) -> bool:
    statement = _import_of(line)
    name = _module_name(statement) if statement else ""
    return name == package or name.startswith(package + ".")


def _relative(line: cst.CSTNode) -> bool:
    statement = _import_of(line)
    return isinstance(statement, cst.ImportFrom) and bool(statement.relative)


def _sort_key(line: cst.CSTNode) -> tuple[bool, str]:
    statement = _import_of(line)
    assert statement is not None  # only import lines are in a block
    return isinstance(statement, cst.ImportFrom), _module_name(statement).lower()
