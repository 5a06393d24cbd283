"""Import rewriting and the boundary check read and change only import statements; a
renamed import moves to the place isort (ruff) wants for it in its block."""

from __future__ import annotations

from migration.extraction.imports import rename_imports

SOURCE = '''"""Docstring mentioning monolith.modules.inventory stays."""
import monolith.modules.inventory.tables as t  # keep this comment
from monolith.modules.inventory import service
from monolith.modules.inventory.tables import (
    stock,   # aligned comment
    reservations,
)
from monolith.modules.inventorying import other
from . import handlers

if TYPE_CHECKING:
    from monolith.modules.inventory.service import InventoryService
'''


def test_only_the_modules_own_imports_are_renamed_and_the_rest_is_kept() -> None:
    renamed = rename_imports(SOURCE, "monolith.modules.inventory", "inventory_service")
    assert renamed == SOURCE.replace("import monolith.modules.inventory.tables",
                                     "import inventory_service.tables").replace(
        "from monolith.modules.inventory ", "from inventory_service ").replace(
        "from monolith.modules.inventory.", "from inventory_service.")
    assert "monolith.modules.inventorying" in renamed
    assert '"""Docstring mentioning monolith.modules.inventory stays."""' in renamed


BLOCKS = '''"""A module."""

from __future__ import annotations

import json
from monolith.modules.orders import copied  # straight imports come first

from contracts.orders import Order
from migration.runtime.unit_of_work import UnitOfWork
from monolith.modules.orders import events
from monolith.modules.orders.tables import orders  # its own tables
'''


def test_a_renamed_import_moves_to_its_sorted_place_in_its_block() -> None:
    renamed = rename_imports(BLOCKS, "monolith.modules.orders", "orders_service")
    assert renamed.endswith(
        "from contracts.orders import Order\n"
        "from migration.runtime.unit_of_work import UnitOfWork\n"
        "from orders_service import events\n"
        "from orders_service.tables import orders  # its own tables\n"
    )


def test_blocks_and_the_lines_between_them_are_kept() -> None:
    renamed = rename_imports(BLOCKS, "monolith.modules.orders", "orders_service")
    assert renamed.startswith(
        '"""A module."""\n\nfrom __future__ import annotations\n\nimport json\n'
        "from orders_service import copied  # straight imports come first\n\n"
    )


def test_a_block_without_the_renamed_package_is_left_as_written() -> None:
    source = "from b import x\nfrom a import y\n"
    assert rename_imports(source, "monolith.modules.orders", "orders_service") == source
