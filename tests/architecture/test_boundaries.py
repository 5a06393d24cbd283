"""carve lints carve: any boundary violation in this repository fails the build."""

from __future__ import annotations

from pathlib import Path

from migration.boundaries.lint import run_lint

REPOSITORY = Path(__file__).parents[2]


def test_carve_keeps_its_own_boundaries() -> None:
    report = run_lint(REPOSITORY, strict=True)
    problems = [f"{v.file}:{v.line} {v.rule}: {v.message}" for v in report.violations]
    stale = [f"stale baseline entry {s.key}" for s in report.stale]
    assert not problems + stale, "\n".join(problems + stale)
    assert set(report.modules) >= {"users", "orders", "inventory", "notifications"}
