"""Import rewriting and the boundary check read and change only import statements."""

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
