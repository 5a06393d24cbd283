"""carve lint's cache: an unchanged tree reuses the last findings, any edit is seen."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from migration.boundaries.lint import run_lint
from migration.boundaries.lint_cache import CACHE_FOLDER
from tests.support.shops import build_shop

FORBIDDEN = "from shop_cached.modules.customers.models import customers\n"


def cached_shop(tmp_path: Path) -> Path:
    """A clean shop of this test's own (its package renamed, so no other test shares it)."""
    folder = build_shop("clean", tmp_path)
    (folder / "shop_clean").rename(folder / "shop_cached")
    for file in [folder / "carve.toml", *(folder / "shop_cached").rglob("*.py")]:
        file.write_text(file.read_text().replace("shop_clean", "shop_cached"))
    return folder


def findings_file(codebase: Path) -> Path:
    return codebase / CACHE_FOLDER / "findings.json"


def test_a_warm_run_reuses_the_findings_even_after_a_fresh_checkout(tmp_path: Path) -> None:
    codebase = build_shop("raw_sql", tmp_path)
    cold = run_lint(codebase, cache=True)
    written = findings_file(codebase).stat().st_mtime_ns
    for file in codebase.rglob("*.py"):  # a CI checkout: same content, new modification times
        os.utime(file, ns=(written + 10**9, written + 10**9))
    warm = run_lint(codebase, cache=True)
    assert findings_file(codebase).stat().st_mtime_ns == written  # read, not rewritten
    assert [v.rule for v in cold.violations] == ["data.raw-sql"]
    assert (warm.violations, warm.modules) == (cold.violations, cold.modules)
    assert (codebase / ".carve" / "cache" / ".gitignore").read_text().endswith("*\n")


def test_a_forbidden_import_added_after_a_run_is_found_by_the_next(tmp_path: Path) -> None:
    codebase = cached_shop(tmp_path)
    assert run_lint(codebase, cache=True).violations == []
    service = codebase / "shop_cached" / "modules" / "orders" / "service.py"
    clean = service.read_text()
    service.write_text(FORBIDDEN + clean)
    found = run_lint(codebase, cache=True).violations
    assert [(v.rule, v.file, v.line) for v in found] == [
        ("imports.independent", "shop_cached/modules/orders/service.py", 1)]
    service.write_text(clean)  # and taking it out again is seen too
    assert run_lint(codebase, cache=True).violations == []


def test_without_the_cache_nothing_is_written_and_a_damaged_cache_is_ignored(
    tmp_path: Path,
) -> None:
    codebase = build_shop("direct_import", tmp_path)
    uncached = run_lint(codebase, cache=False)
    assert not (codebase / ".carve").exists()
    findings_file(codebase).parent.mkdir(parents=True)
    findings_file(codebase).write_text("{not json")
    assert run_lint(codebase, cache=True).violations == uncached.violations
    assert run_lint(codebase, cache=True).violations == uncached.violations


def test_a_checking_run_reads_each_file_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from migration.boundaries import files, lint_cache, source_scan

    codebase = build_shop("raw_sql", tmp_path)
    reads: list[str] = []

    def counted(path: str | Path) -> bytes:
        reads.append(str(path))
        return files.read_file(path)

    monkeypatch.setattr(lint_cache, "read_file", counted)
    monkeypatch.setattr(source_scan, "read_file", counted)
    report = run_lint(codebase, cache=True)
    assert [v.rule for v in report.violations] == ["data.raw-sql"]
    project = [r for r in reads if r.startswith(str(codebase))]
    assert project and len(project) == len(set(project))


def test_a_file_is_read_whole_whatever_its_size(tmp_path: Path) -> None:
    from migration.boundaries.files import read_file

    for size in (0, 1, 65_535, 65_536, 300_001):
        file = tmp_path / f"f{size}.py"
        file.write_bytes(bytes(i % 251 for i in range(size)))
        assert read_file(file) == file.read_bytes()


def test_two_processes_find_what_one_does_and_cache_only_an_unchanged_tree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from migration.boundaries import lint_fork

    monkeypatch.setattr(lint_fork.threading, "active_count", lambda: 1)  # pytest's own threads
    codebase = build_shop("raw_sql", tmp_path)
    alone = run_lint(codebase, cache=False)
    with monkeypatch.context() as during:  # every file looks changed since the run began
        during.setattr(lint_fork, "_CLOCK_SLACK_NS", time.time_ns())
        changed = run_lint(codebase, cache=True, parallel=True)
    assert not findings_file(codebase).exists()
    both = run_lint(codebase, cache=True, parallel=True)  # the files were written before
    assert findings_file(codebase).exists()
    for report in (changed, both):
        assert (report.violations, report.modules) == (alone.violations, alone.modules)
