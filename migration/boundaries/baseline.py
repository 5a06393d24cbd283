"""The baseline: known violations accepted for now, each with a reason.

Entries match violations by key (rule, module, file and the chain or table),
not by line, so that unrelated edits do not make an entry stale.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import tomli_w

from migration.boundaries.model import BaselineEntry, Violation
from migration.runtime.errors import ConfigError

DEFAULT_BASELINE = "carve-baseline.toml"


def load_baseline(path: Path) -> list[BaselineEntry]:
    """Read a baseline file; an entry without a reason is a configuration error."""
    if not path.exists():
        raise ConfigError(f"{path}: no such baseline file")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    entries = []
    for index, item in enumerate(data.get("violation", [])):
        missing = [k for k in ("rule", "module", "file", "key", "reason") if not item.get(k)]
        if missing:
            raise ConfigError(f"{path}: violation[{index}] needs {', '.join(missing)}")
        entries.append(BaselineEntry(item["rule"], item["module"], item["file"], item["key"],
                                     item["reason"]))
    return entries


def apply_baseline(
    violations: list[Violation], entries: list[BaselineEntry]
) -> tuple[list[Violation], list[Violation], list[BaselineEntry]]:
    """Split violations into new and baselined; list the entries that no longer occur."""
    known = {entry.key for entry in entries}
    found = {v.key for v in violations}
    new = [v for v in violations if v.key not in known]
    baselined = [v for v in violations if v.key in known]
    stale = [entry for entry in entries if entry.key not in found]
    return new, baselined, stale


def write_baseline(path: Path, violations: list[Violation], previous: list[BaselineEntry],
                   reason: str | None) -> int:
    """Write every current violation, keeping earlier reasons; new ones take ``reason``."""
    reasons = {entry.key: entry.reason for entry in previous}
    unexplained = [v for v in violations if v.key not in reasons]
    if unexplained and not reason:
        raise ConfigError(
            f"{len(unexplained)} new violation(s) need a reason: "
            "pass --reason \"why they are accepted for now\""
        )
    items = [
        {"rule": v.rule, "module": v.module, "file": v.file, "key": v.key,
         "reason": reasons.get(v.key) or reason}
        for v in sorted({v.key: v for v in violations}.values(), key=lambda v: v.key)
    ]
    path.write_text(tomli_w.dumps({"violation": items}), encoding="utf-8")
    return len(items)
