"""Data rules: each table has one owner; no foreign key or SQL text crosses owners."""

from __future__ import annotations

import re
from collections.abc import Iterator

from migration.boundaries.codebase import Codebase, ModuleInfo
from migration.boundaries.model import Violation
from migration.boundaries.source_scan import sql_naming, words_pattern

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_data(codebase: Codebase) -> list[Violation]:
    """Every data rule broken by the modules' source."""
    owners = codebase.owners()
    # one pattern of every table, compiled once: a pattern per module cost more than the
    # search itself (each module passes the tables it does not own)
    tables = words_pattern(sorted(owners))
    found: list[Violation] = []
    for module in codebase.modules.values():
        found.extend(_ownership(codebase, module, owners))
        found.extend(_foreign_keys(codebase, module, owners))
        found.extend(_raw_sql(codebase, module, owners, tables))
    return found


def _ownership(codebase: Codebase, module: ModuleInfo, owners: dict[str, str]) -> Iterator[
    Violation
]:
    prefixes = {f"{other}_": other for other in codebase.modules if other != module.name}
    for facts in module.facts:
        for table in facts.tables:
            owner = owners.get(table.name, module.name)
            claimed = next((m for p, m in prefixes.items() if table.name.startswith(p)), None)
            if owner == module.name and claimed is None:
                continue
            other = claimed if owner == module.name else owner
            yield Violation(
                rule="data.ownership", module=module.name, file=codebase.relative(facts.path),
                line=table.line, table=table.name,
                message=f"{module.name} declares table {table.name}, which belongs to {other}",
                hint=f"let {other} own {table.name} alone; {module.name} keeps its own copy "
                     f"of what it needs in a table named {module.name}_...",
            )


def _foreign_keys(codebase: Codebase, module: ModuleInfo, owners: dict[str, str]) -> Iterator[
    Violation
]:
    for facts in module.facts:
        for key in facts.foreign_keys:
            owner = owners.get(key.name)
            if owner is None or owner == module.name:
                continue
            yield Violation(
                rule="data.foreign-key", module=module.name, file=codebase.relative(facts.path),
                line=key.line, table=key.name,
                message=f"{module.name} has a foreign key into {key.name}, owned by {owner}",
                hint=f"keep the id as a plain column and ask {owner} through its contract; "
                     "the constraint cannot survive the split into two databases",
            )


def _raw_sql(codebase: Codebase, module: ModuleInfo, owners: dict[str, str],
             tables: re.Pattern[str]) -> Iterator[Violation]:
    foreign = frozenset(t for t, owner in owners.items() if owner != module.name)
    for facts in module.facts:
        for text in sql_naming(facts, tables, foreign):
            for table in sorted(set(_WORD.findall(text.name)) & set(owners)):
                owner = owners.get(table)
                if owner is None or owner == module.name:
                    continue
                yield Violation(
                    rule="data.raw-sql", module=module.name, file=codebase.relative(facts.path),
                    line=text.line, table=table,
                    message=f"SQL text in {module.name} names {table}, owned by {owner}",
                    hint=f"read {owner}'s data through its contract, not its tables",
                )
