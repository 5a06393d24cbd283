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
    """
    return cst.parse_module(source).visit(_ImportRenamer(old, new)).code
