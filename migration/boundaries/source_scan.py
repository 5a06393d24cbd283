"""Facts read from source files without importing them: tables, keys, SQL, events.

Reading is cheap and most files mention none of these things, so a file is
parsed only when its text contains a trigger (``Table(``, ``ForeignKey(``...)
or, for SQL, the name of a table; everything else costs one read and a search.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from migration.boundaries.files import read_file

# A string literal that reads as SQL naming a table.
SQL_TEXT = re.compile(
    r"(?is)\b(?:select\s.+?\sfrom|insert\s+into|delete\s+from|update\s+\S+\s+set|"
    r"join|create\s+table|alter\s+table|truncate)\s+[\"'`\[]?\w"
)
_WORD_CHAR = re.compile(r"\w")
_TRIGGERS = ("Table(", "__tablename__", "ForeignKey(", "module_metadata(", "Subscription(",
             "subscribe")
SUBSCRIBE_CALLS = frozenset({"subscribe", "subscribes_to", "subscriber", "on_event"})


@dataclass(frozen=True)
class Located:
    """A name found at a line of a file."""

    name: str
    line: int


@dataclass(frozen=True)
class SubscriptionRef:
    """``Subscription(SomeEvent, handler)`` or ``subscribe("some.event")`` in a module."""

    event: str
    line: int
    by_type: bool  # True when the event is named by its dotted type string
    imported_from: str | None = None


@dataclass
class FileFacts:
    """Everything the data and event rules need from one file."""

    path: Path | str  # a str as the lint finds it (cheaper); Path(path) to use it as one
    text: str = field(default="", repr=False)
    tables: list[Located] = field(default_factory=list)
    foreign_keys: list[Located] = field(default_factory=list)
    subscriptions: list[SubscriptionRef] = field(default_factory=list)


@dataclass(frozen=True)
class FieldDecl:
    """One annotated field of a class, as written."""

    name: str
    annotation: ast.expr
    line: int


@dataclass
class ClassDecl:
    """A class declared in a shared package (a candidate event or event value)."""

    name: str
    path: Path
    line: int
    bases: tuple[str, ...]
    event_type: str | None
    fields: list[FieldDecl]


def read_source(path: Path | str, content: bytes | None = None) -> str:
    """The file's text (or ``content``, read before); undecodable bytes are replaced."""
    return (read_file(path) if content is None else content).decode("utf-8", errors="replace")


def scan_module_file(path: Path | str, text: str | None = None) -> FileFacts:
    """Tables, foreign keys and subscriptions a module's file declares."""
    text = read_source(path) if text is None else text
    facts = FileFacts(path, text)
    if not any(t in text for t in _TRIGGERS):
        return facts
    tree = _parse(text)
    if tree is None:
        return facts
    imports: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            _scan_call(node, facts)
        elif isinstance(node, ast.Assign):
            _scan_tablename(node, facts)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imports.update((a.asname or a.name, node.module) for a in node.names)
    facts.subscriptions = [
        replace(s, imported_from=imports.get(s.event)) if not s.by_type else s
        for s in facts.subscriptions
    ]
    return facts


def sql_naming(facts: FileFacts, names: re.Pattern[str],
               only: frozenset[str] | None = None) -> list[Located]:
    """String literals (docstrings aside) that read as SQL and contain one of ``names``.

    With ``only``, a word ``names`` matches counts only if it is one of ``only``: one
    pattern of every table then serves every module, each passing its foreign tables.
    """
    if not contains_word(names, facts.text, only):
        return []
    tree = _parse(facts.text)
    if tree is None:
        return []
    docstrings = {id(n.value) for n in ast.walk(tree)
                  if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)}
    return [
        Located(node.value, node.lineno) for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        and id(node) not in docstrings and contains_word(names, node.value, only)
        and SQL_TEXT.search(node.value)
    ]


def words_pattern(words: list[str]) -> re.Pattern[str]:
    """A regex matching any of ``words`` (use :func:`contains_word` for whole words).

    Built as a trie, with no leading ``\\b``: Python's regex engine then skips
    ahead to possible first characters, which is an order of magnitude faster
    when every file of a large codebase is searched.
    """
    root: dict[str, dict] = {}
    for word in words:
        node = root
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}
    body = _trie_regex(root) if words else "(?!)"
    return re.compile(rf"{body}\b")


def contains_word(pattern: re.Pattern[str], text: str,
                  only: frozenset[str] | None = None) -> bool:
    """Whether ``pattern`` matches in ``text`` at the start of a word (one of ``only``)."""
    return any((m.start() == 0 or not _WORD_CHAR.match(text, m.start() - 1))
               and (only is None or m.group() in only)
               for m in pattern.finditer(text))


def _trie_regex(node: dict[str, dict]) -> str:
    alternatives = [re.escape(char) + _trie_regex(child)
                    for char, child in sorted(node.items()) if char]
    if not alternatives:
        return ""
    body = alternatives[0] if len(alternatives) == 1 else f"(?:{'|'.join(alternatives)})"
    return f"(?:{body})?" if "" in node else body


def scan_shared_file(path: Path, text: str | None = None) -> list[ClassDecl]:
    """The classes a shared package declares, with their bases and annotated fields."""
    text = read_source(path) if text is None else text
    if "class " not in text:
        return []
    tree = _parse(text)
    if tree is None:
        return []
    return [_class_decl(node, path) for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]


def _parse(text: str) -> ast.Module | None:
    try:
        return ast.parse(text)
    except SyntaxError:
        # grimp reports unparsable files itself; the data rules skip them.
        return None


def _callee(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _first_str(node: ast.Call) -> tuple[str, int] | None:
    if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
        return node.args[0].value, node.args[0].lineno
    return None


def _scan_call(node: ast.Call, facts: FileFacts) -> None:
    name, first = _callee(node), _first_str(node)
    if name == "Table" and first:
        facts.tables.append(Located(first[0], node.lineno))
    elif name == "module_metadata" and first:
        # carve's module_metadata declares the module's outbox and inbox.
        for suffix in ("outbox", "inbox"):
            facts.tables.append(Located(f"{first[0]}_{suffix}", node.lineno))
    elif name == "ForeignKey" and first:
        parts = first[0].split(".")
        facts.foreign_keys.append(Located(parts[-2] if len(parts) > 1 else parts[0], node.lineno))
    elif name == "Subscription" and node.args:
        _scan_subscription(node, facts)
    elif name in SUBSCRIBE_CALLS and first:
        facts.subscriptions.append(SubscriptionRef(first[0], node.lineno, by_type=True))


def _scan_subscription(node: ast.Call, facts: FileFacts) -> None:
    target = node.args[0]
    if isinstance(target, ast.Constant) and isinstance(target.value, str):
        facts.subscriptions.append(SubscriptionRef(target.value, node.lineno, by_type=True))
        return
    name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
    facts.subscriptions.append(SubscriptionRef(name, node.lineno, by_type=False))


def _scan_tablename(node: ast.Assign, facts: FileFacts) -> None:
    named = any(isinstance(t, ast.Name) and t.id == "__tablename__" for t in node.targets)
    if named and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
        facts.tables.append(Located(node.value.value, node.lineno))


def _class_decl(node: ast.ClassDef, path: Path) -> ClassDecl:
    bases = tuple(b.attr if isinstance(b, ast.Attribute) else getattr(b, "id", "")
                  for b in node.bases)
    event_type, fields = None, []
    for item in node.body:
        if isinstance(item, ast.Assign) and _assigns(item, "type"):
            value = item.value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                event_type = value.value
        elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            if "ClassVar" not in ast.unparse(item.annotation):
                fields.append(FieldDecl(item.target.id, item.annotation, item.lineno))
    return ClassDecl(node.name, path, node.lineno, bases, event_type, fields)


def _assigns(node: ast.Assign, name: str) -> bool:
    return any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
