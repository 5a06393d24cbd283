"""Running an extracted service folder: find its app module, migrate, serve."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

from migration.runtime.errors import CarveError


class ServiceNotFound(CarveError):
    """The folder holds no service extracted for this module."""


def load_service(module: str, folder: Path) -> ModuleType:
    """Import ``<module>_service.app`` from ``folder/src``."""
    package = f"{module.replace('-', '_')}_service"
    app_file = folder / "src" / package / "app.py"
    if not app_file.is_file():
        raise ServiceNotFound(
            f"{folder} holds no extracted {module} service (no src/{package}/app.py): "
            f"run carve extract {module} first")
    source = str((folder / "src").resolve())
    if source not in sys.path:
        sys.path.insert(0, source)
    return importlib.import_module(f"{package}.app")
