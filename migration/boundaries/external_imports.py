"""The modules' imports of third-party packages, read from the text the lint already holds.

grimp's graph with external packages costs a third more to build and to cache than the
graph of the project's own packages: every import of the standard library and of an
allowed package becomes a node, an edge and a cache entry. The lint needs external
packages for one rule only, a module importing a third-party package it may not use, so
the lint builds the smaller graph and finds those imports here, in the modules' files it
has read anyway for the data and event rules.

A cheap pass finds, in each file, the first name of everything that could be an import
statement: ``import`` or ``from`` at the start of a line or after ``;`` or ``:`` (where a
statement can begin), across continuation lines. It finds a superset: a docstring line
that starts with "from the" counts too. Only a file naming a package that is neither the
project's, the standard library's nor allowed is parsed, and its imports are read as
grimp reads them: the top-level package, at the line where the statement starts. A file
that cannot be parsed here (grimp's parser may accept newer syntax) leaves the answer to
grimp: :func:`external_imports` then returns None and the lint builds the larger graph.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from migration.boundaries.codebase import STANDARD_LIBRARY

_SPACE = r"(?:[ \t\f]|\\(?:\r\n?|\n))*"  # spaces, tabs, form feeds and continuation lines
# Where a statement may start: a line (the text gets a newline in front), ``;``, ``:``;
# ``lazy`` may come first (PEP 810: grimp reads such imports, and ``ast`` here, before
# Python 3.15, cannot, so such a file is left to grimp's graph).
# Group 1: the first name after ``from`` ("." for a relative import, "" if none follows);
# group 2: the rest of an ``import`` statement's line, up to ``;`` or a comment. Starting
# with a set of characters, not ``^``, lets the regex engine skip ahead: three times faster.
_STATEMENT = re.compile(
    rf"[\n\r;:][ \t\f\ufeff]*(?:lazy\b{_SPACE})?(?:from\b{_SPACE}(\.|[^\W\d]\w*(?=[ \t\f.\\])|)"
    rf"|import\b{_SPACE}([^\r\n;#]*))"
)
# One ``import`` name as written (``a``, ``a.b``, ``a . b as c``): group 1, its package.
_IMPORTED = re.compile(r"([^\W\d]\w*)(?:[ \t\f]*\.[ \t\f]*[^\W\d]\w*)*"
                       r"(?:[ \t\f]+as[ \t\f]+[^\W\d]\w*)?")


@dataclass(frozen=True)
class ExternalImport:
    """A module's file importing a third-party package it may not use, as grimp names it."""

    importer: str  # the importing module's dotted name
    imported: str  # the top-level package, as grimp squashes an external package
    line: int


def external_imports(
    files: Iterable[tuple[Path | str, str]], source: Path, first_party: frozenset[str],
    allowed: frozenset[str],
) -> list[ExternalImport] | None:
    """Every import of a package that is not ``first_party``, standard or ``allowed``.

    ``files`` are (path, text) pairs under the ``source`` folder. None when a file that
    may hold such an import cannot be parsed here: grimp's graph must tell then.
    """
    known = first_party | allowed | STANDARD_LIBRARY
    found: list[ExternalImport] = []
    for path, text in files:
        if not _may_import_other(text, known):
            continue
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError):
            return None
        importer = module_name(path, source)
        found += [ExternalImport(importer, name, line)
                  for name, line in _imports(tree) if name not in known]
    return found


def module_name(path: Path | str, source: Path) -> str:
    """The dotted module name of a file under the ``source`` folder, as grimp names it."""
    relative = os.path.relpath(path, source)[: -len(".py")]
    parts = relative.split(os.sep)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _may_import_other(text: str, known: frozenset[str]) -> bool:
    """Whether ``text`` may import a package not in ``known`` (or cannot be told cheaply)."""
    if "import" not in text:
        return False
    for first, rest in _STATEMENT.findall("\n" + text):
        if rest or not first:  # ``import ...``, or ``from`` with no plain name after it
            for part in rest.split(","):
                name = _IMPORTED.fullmatch(part.strip(" \t\f"))
                if name is None or name.group(1) not in known:
                    return True
        elif first != "." and first not in known:
            return True
    return False


def _imports(tree: ast.Module) -> Iterable[tuple[str, int]]:
    """The top-level package and the line of every absolute import in the tree."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.partition(".")[0], node.lineno
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.partition(".")[0], node.lineno
