"""What a lint run finds: violations, each with a rule, a place and a hint."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

RULES: dict[str, str] = {
    "imports.independent": "modules do not import each other, directly or through others",
    "imports.allowed": "a module imports only the shared packages and allowed third-party ones",
    "imports.shared": "a shared package imports no other part of the project",
    "data.ownership": "every table belongs to exactly one module",
    "data.foreign-key": "no foreign key into another module's table",
    "data.raw-sql": "no SQL text naming another module's table",
    "events.unknown": "every subscription names an event declared in the contracts",
    "events.field-type": "event fields are primitive and JSON-serializable",
}


@dataclass(frozen=True)
class Violation:
    """One broken rule at one place in the code."""

    rule: str
    module: str
    file: str
    line: int
    message: str
    hint: str
    chain: tuple[str, ...] = ()
    table: str | None = None

    @property
    def key(self) -> str:
        """What identifies this violation across edits that move lines (the baseline key)."""
        subject = " -> ".join(self.chain) if self.chain else (self.table or self.message)
        return f"{self.rule}|{self.module}|{self.file}|{subject}"

    def as_dict(self) -> dict[str, Any]:
        """The violation as JSON-ready data."""
        data = asdict(self)
        data["chain"] = list(self.chain)
        return data


@dataclass(frozen=True)
class BaselineEntry:
    """A known violation accepted for now, and why."""

    rule: str
    module: str
    file: str
    key: str
    reason: str


@dataclass
class LintReport:
    """The outcome of one run: new, baselined and stale entries."""

    root: str
    modules: list[str]
    violations: list[Violation] = field(default_factory=list)
    baselined: list[Violation] = field(default_factory=list)
    stale: list[BaselineEntry] = field(default_factory=list)
    strict: bool = False
    baseline_written: str | None = None  # the file --update-baseline wrote, if it wrote one

    @property
    def failed(self) -> bool:
        """Whether the run fails: new violations, or stale entries under ``--strict``."""
        return bool(self.violations) or (self.strict and bool(self.stale))

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0
