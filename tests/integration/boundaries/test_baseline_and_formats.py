"""Baselines (new, known, stale), the JSON document and GitHub annotations."""

from __future__ import annotations

from pathlib import Path

import pytest

from migration.boundaries.formats import SCHEMA, report_github, report_json
from migration.boundaries.lint import run_lint
from migration.runtime.errors import ConfigError
from tests.support.shops import Shop, build_shop


@pytest.fixture
def raw_sql(tmp_path: Path) -> Path:
    """A raw-SQL shop of this test's own, which it may edit."""
    return build_shop("raw_sql", tmp_path)


def test_a_baselined_violation_passes_and_a_new_one_fails(raw_sql: Path) -> None:
    run_lint(raw_sql, update_baseline=True, reason="reporting query, moves to a contract in Q3")
    assert run_lint(raw_sql).exit_code == 0
    service = raw_sql / "shop_raw_sql/modules/orders/service.py"
    service.write_text(service.read_text() + '\n\nLATE = text("SELECT 1 FROM billing_invoices")\n')
    report = run_lint(raw_sql)
    assert [v.table for v in report.violations] == ["billing_invoices"]
    assert [v.table for v in report.baselined] == ["customers_customers"]
    assert report.exit_code == 1


def test_a_fixed_violation_leaves_a_stale_entry_that_fails_only_when_strict(raw_sql: Path) -> None:
    run_lint(raw_sql, update_baseline=True, reason="known")
    service = raw_sql / "shop_raw_sql/modules/orders/service.py"
    service.write_text(service.read_text().split("\n\ndef customer_email")[0] + "\n")
    relaxed, strict = run_lint(raw_sql), run_lint(raw_sql, strict=True)
    assert [s.rule for s in relaxed.stale] == ["data.raw-sql"]
    assert relaxed.exit_code == 0
    assert strict.exit_code == 1


def test_updating_drops_fixed_entries_and_writes_nothing_when_there_never_were_any(
    raw_sql: Path,
) -> None:
    baseline = raw_sql / "carve-baseline.toml"
    assert run_lint(raw_sql, update_baseline=True, reason="known").baseline_written == str(
        baseline)
    service = raw_sql / "shop_raw_sql/modules/orders/service.py"
    service.write_text(service.read_text().split("\n\ndef customer_email")[0] + "\n")
    emptied = run_lint(raw_sql, update_baseline=True)
    assert (emptied.baseline_written, emptied.stale) == (str(baseline), [])
    assert baseline.read_text() == "violation = []\n"
    baseline.unlink()
    assert run_lint(raw_sql, update_baseline=True).baseline_written is None
    assert not baseline.exists()


def test_update_baseline_creates_the_file_named_by_baseline(raw_sql: Path) -> None:
    named = raw_sql / "accepted.toml"
    report = run_lint(raw_sql, baseline=named, update_baseline=True, reason="known")
    assert (report.baseline_written, report.exit_code) == (str(named), 0)
    assert [v.table for v in run_lint(raw_sql, baseline=named).baselined] == [
        "customers_customers"]


def test_new_baseline_entries_need_a_reason(raw_sql: Path) -> None:
    with pytest.raises(ConfigError, match="need a reason"):
        run_lint(raw_sql, update_baseline=True)


def test_a_baseline_entry_without_a_reason_is_a_configuration_error(raw_sql: Path) -> None:
    (raw_sql / "carve-baseline.toml").write_text(
        '[[violation]]\nrule = "data.raw-sql"\nmodule = "orders"\nfile = "x.py"\nkey = "k"\n'
    )
    with pytest.raises(ConfigError, match=r"violation\[0\] needs reason"):
        run_lint(raw_sql)


def test_the_json_document_follows_the_documented_schema(shop: Shop) -> None:
    document = report_json(run_lint(shop("foreign_key")))
    assert document["schema"] == SCHEMA
    assert set(document) == {"schema", "root", "modules", "passed", "exit_code", "counts",
                             "violations", "baselined", "stale"}
    assert (document["passed"], document["exit_code"]) == (False, 1)
    assert document["counts"] == {"violations": 1, "baselined": 0, "stale": 0}
    violation = document["violations"][0]
    assert set(violation) == {"rule", "module", "file", "line", "message", "hint", "chain",
                              "table"}
    assert violation["rule"] == "data.foreign-key"
    assert isinstance(violation["line"], int) and isinstance(violation["chain"], list)


def test_github_annotations_point_at_the_file_and_line(shop: Shop) -> None:
    [annotation] = report_github(run_lint(shop("direct_import")))
    assert annotation.startswith(
        "::error file=shop_direct_import/modules/orders/service.py,line=5,"
        "title=imports.independent::orders imports"
    )


def test_event_fields_must_be_plain_data(tmp_path: Path) -> None:
    codebase = build_shop("clean", tmp_path)
    contracts = codebase / "shop_clean/contracts/__init__.py"
    contracts.write_text(contracts.read_text() + "    customer: Customer\n    note: str | None\n")
    [found] = run_lint(codebase).violations
    assert (found.rule, found.file) == ("events.field-type", "shop_clean/contracts/__init__.py")
    assert found.line == len(contracts.read_text().splitlines()) - 1
    assert "OrderPlaced.customer: Customer" in found.message
