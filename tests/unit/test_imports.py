"""Import rewriting and the boundary check read and change only import statements."""

from __future__ import annotations

from pathlib import Path

from migration.extraction.boundaries import boundary_violations
from migration.extraction.imports import imported_names, rename_imports

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


def test_imported_names_carry_their_lines() -> None:
    names = imported_names(SOURCE)
    assert (names[0].module, names[0].line) == ("monolith.modules.inventory.tables", 2)
    assert any(n.relative_level == 1 for n in names)


def write(folder: Path, relative: str, text: str) -> None:
    path = folder / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_imports_leaving_the_module_are_violations(tmp_path: Path) -> None:
    module = tmp_path / "shop"
    write(module, "__init__.py", "from . import service\nimport json\nimport sqlalchemy\n")
    write(module, "service.py", "from app.modules.shop.tables import x\n"
                                "from app.modules.billing import y\nfrom contracts.shop import Z\n"
                                "from migration.runtime.db import Database\n"
                                "from migration.gateway import route\n")
    write(module, "deep/part.py", "from .. import service\nfrom ... import elsewhere\n")
    found = boundary_violations(module, "app.modules.shop", {"app", "contracts", "migration"},
                                ["contracts", "migration.runtime"])
    assert found == [
        "shop/deep/part.py:2 imports ... (outside the module)",
        "shop/service.py:2 imports app.modules.billing",
        "shop/service.py:5 imports migration.gateway",
    ]
