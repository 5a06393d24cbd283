"""The sample shops carve lint is tested on: one template, and the one change that gives
each variant its problem.

The template is ``tests/fixtures/clean`` (package ``shop_clean``, clean on purpose). A
variant is a copy whose package is ``shop_<variant>``, with its edits applied; an edit
whose text is no longer in the template fails the build of the shop, not silently.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from tests.support.processes import ROOT

TEMPLATE = ROOT / "tests" / "fixtures" / "clean"
TEMPLATE_PACKAGE = "shop_clean"

#: The ``shop`` fixture: a variant's name → the folder of that shop, built once a session.
Shop = Callable[[str], Path]

_ORDERS_IMPORT = "from {package}.modules.orders.models import orders\n"
_REPORTING = '''"""Reports that read across the shop (not a module)."""

from {package}.modules.customers.service import find_email


def customer_email_report(session, ids):
    return {{i: find_email(session, i) for i in ids}}
'''
_RAW_SQL = '''

def customer_email(session, customer_id):
    return session.execute(
        text("SELECT email FROM customers_customers WHERE id = :id"), {{"id": customer_id}}
    ).scalar()
'''

#: variant → edits (file in the package, text to find — None for a new file, its
#: replacement); ``{package}`` is the variant's package name.
VARIANTS: dict[str, list[tuple[str, str | None, str]]] = {
    "clean": [],
    "direct_import": [("modules/orders/service.py", _ORDERS_IMPORT, _ORDERS_IMPORT
                       + "from {package}.modules.customers.models import customers\n")],
    "indirect_import": [("modules/orders/service.py", _ORDERS_IMPORT, _ORDERS_IMPORT
                         + "from {package}.reporting import customer_email_report\n"),
                        ("reporting.py", None, _REPORTING)],
    "foreign_key": [("modules/orders/models.py",
                     'Column("customer_id", String(32), nullable=False)',
                     'Column("customer_id", String(32), ForeignKey("customers_customers.id"))')],
    "raw_sql": [("modules/orders/service.py", '.scalar()\n', '.scalar()\n' + _RAW_SQL)],
    "unknown_event": [("modules/billing/handlers.py", '@subscribe("order.placed")',
                       '@subscribe("order.shipped")')],
}


def build_shop(variant: str, into: Path) -> Path:
    """Write the shop ``variant`` to ``into/<variant>`` and return that folder."""
    package = f"shop_{variant}"
    folder = into / variant
    shutil.copytree(TEMPLATE, folder, ignore=shutil.ignore_patterns("__pycache__"))
    (folder / TEMPLATE_PACKAGE).rename(folder / package)
    for path in folder.rglob("*"):
        if path.is_file() and path.suffix in (".py", ".toml"):
            path.write_text(path.read_text().replace(TEMPLATE_PACKAGE, package))
    for relative, old, new in VARIANTS[variant]:
        _edit(folder / package / relative, old, new.format(package=package), package)
    return folder


def _edit(path: Path, old: str | None, new: str, package: str) -> None:
    if old is None:
        path.write_text(new)
        return
    text, old = path.read_text(), old.format(package=package)
    assert text.count(old) == 1, f"{old!r} is not once in the template's {path.name}"
    path.write_text(text.replace(old, new))
