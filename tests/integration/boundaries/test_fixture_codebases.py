"""carve lint on small sample codebases: each problem found at its file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from migration.boundaries.lint import find_violations, run_lint
from migration.boundaries.model import Violation
from tests.support.shops import Shop


def line_of(codebase: Path, relative: str, text: str) -> int:
    """The 1-based line of ``text`` in a shop's file, so tests survive edits above it."""
    lines = (codebase / relative).read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


def only(violations: list[Violation], rule: str) -> Violation:
    matching = [v for v in violations if v.rule == rule]
    assert len(matching) == 1, violations
    return matching[0]


def test_the_clean_codebase_passes(shop: Shop) -> None:
    report = run_lint(shop("clean"))
    assert report.violations == []
    assert report.exit_code == 0
    assert report.modules == ["billing", "customers", "orders"]


def test_a_direct_cross_module_import_is_found_at_its_line(shop: Shop) -> None:
    file = "shop_direct_import/modules/orders/service.py"
    found = only(find_violations(shop("direct_import")).violations, "imports.independent")
    assert (found.file, found.module) == (file, "orders")
    assert found.line == line_of(shop("direct_import"), file, "modules.customers.models import")
    assert found.chain == ("shop_direct_import.modules.orders.service",
                           "shop_direct_import.modules.customers.models")


def test_an_indirect_import_through_a_third_package_shows_the_chain(shop: Shop) -> None:
    file = "shop_indirect_import/modules/orders/service.py"
    violations = find_violations(shop("indirect_import")).violations
    found = only(violations, "imports.independent")
    assert found.file == file
    assert found.line == line_of(shop("indirect_import"), file, "reporting import")
    assert found.chain == ("shop_indirect_import.modules.orders.service",
                           "shop_indirect_import.reporting",
                           "shop_indirect_import.modules.customers.service")
    # Importing a project package that is neither shared nor the module is its own rule.
    assert only(violations, "imports.allowed").chain[-1] == "shop_indirect_import.reporting"


def test_a_foreign_key_into_another_modules_table_is_found(shop: Shop) -> None:
    file = "shop_foreign_key/modules/orders/models.py"
    found = only(find_violations(shop("foreign_key")).violations, "data.foreign-key")
    assert (found.file, found.module, found.table) == (file, "orders", "customers_customers")
    assert found.line == line_of(shop("foreign_key"), file, "ForeignKey(")


def test_raw_sql_naming_another_modules_table_is_found(shop: Shop) -> None:
    file = "shop_raw_sql/modules/orders/service.py"
    violations = find_violations(shop("raw_sql")).violations
    found = only(violations, "data.raw-sql")
    assert (found.file, found.table) == (file, "customers_customers")
    assert found.line == line_of(shop("raw_sql"), file, "FROM customers_customers")
    # SQL on the module's own table (orders_orders, a few lines above) is fine.
    assert len(violations) == 1


def test_a_subscription_to_an_unknown_event_is_found(shop: Shop) -> None:
    file = "shop_unknown_event/modules/billing/handlers.py"
    found = only(find_violations(shop("unknown_event")).violations, "events.unknown")
    assert (found.file, found.module) == (file, "billing")
    assert found.line == line_of(shop("unknown_event"), file, "@subscribe(")
    assert "order.shipped" in found.message


@pytest.mark.parametrize("codebase", ["clean", "raw_sql"])
def test_tables_are_found_from_the_models_without_a_module_spec(shop: Shop, codebase: str) -> None:
    findings = find_violations(shop(codebase))
    assert findings.codebase.owners() == {
        "billing_invoices": "billing", "customers_customers": "customers",
        "orders_orders": "orders",
    }
