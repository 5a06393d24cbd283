"""Git co-change: how often two modules change in the same commit.

Modules that change together are coupled even when the code says otherwise;
extracting one of them alone turns every such commit into two deployments.
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from itertools import combinations
from pathlib import Path

from migration.runtime.errors import CarveError


class GitUnavailable(CarveError):
    """``--since`` was given but the history cannot be read."""


class UnknownDate(CarveError):
    """``--since`` is not a date: git would read it as "now" and count no commit at all."""


SINCE_FORMAT = "a date YYYY-MM-DD or 'N days|weeks|months|years ago'"
_RELATIVE = re.compile(r"\d+ (day|week|month|year)s? ago")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def check_since(since: str) -> None:
    """Refuse a ``since`` that git might not read as the user meant (:class:`UnknownDate`).

    ``git log --since`` takes any text, and reads what it cannot understand as now.
    """
    if not (_RELATIVE.fullmatch(since) or _is_calendar_date(since)):
        raise UnknownDate(f"--since '{since}': expected {SINCE_FORMAT}")


def _is_calendar_date(text: str) -> bool:
    if not _DATE.fullmatch(text):
        return False
    try:
        date.fromisoformat(text)
    except ValueError:  # 2024-02-30
        return False
    return True


@dataclass
class CoChange:
    """Commits per module and per pair of modules, from ``git log``."""

    available: bool
    commits: Counter[str] = field(default_factory=Counter)
    pairs: Counter[frozenset[str]] = field(default_factory=Counter)

    def together(self, module: str, other: str) -> int:
        return self.pairs[frozenset((module, other))]

    def ratio(self, module: str, other: str) -> float:
        """Share of ``module``'s commits that also touched ``other``."""
        total = self.commits[module]
        return self.together(module, other) / total if total else 0.0


def read_cochange(root: Path, folders: dict[str, Path], since: str | None) -> CoChange:
    """Count commits touching each module's folder (since ``since``, see :func:`check_since`)."""
    if since:
        check_since(since)
    top = _git(root, "rev-parse", "--show-toplevel")
    if top is None:
        if since:
            raise GitUnavailable(f"{root}: not a git repository, cannot use --since")
        return CoChange(available=False)
    prefixes = {name: _relative(folder, Path(top.strip())) for name, folder in folders.items()}
    args = ["log", "--name-only", "--pretty=format:@commit", *([f"--since={since}"] if since
                                                                else [])]
    log = _git(root, *args)
    if log is None:
        raise GitUnavailable(f"git log failed in {root} (is --since a date git understands?)")
    result = CoChange(available=True)
    for commit in log.split("@commit")[1:]:
        touched = {name for line in commit.splitlines() if line
                   for name, prefix in prefixes.items() if line.startswith(prefix)}
        result.commits.update(touched)
        result.pairs.update(frozenset(p) for p in combinations(sorted(touched), 2))
    return result


def _relative(folder: Path, top: Path) -> str:
    return folder.resolve().relative_to(top.resolve()).as_posix() + "/"


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                              timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None
