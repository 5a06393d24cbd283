"""Running an extracted service folder: find its app module, migrate, serve, work."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

from migration.runtime.errors import CarveError, UnknownModule
from migration.runtime.project import Project


class ServiceNotFound(CarveError):
    """The folder holds no service extracted for this module."""


def load_service(module: str, folder: Path) -> ModuleType:
    """Import ``<module>_service.app`` from ``folder/src``."""
    package = f"{module.replace('-', '_')}_service"
    app_file = folder / "src" / package / "app.py"
    if not app_file.is_file():
        known = _known_modules(folder)
        if known and module not in known:  # a typo, not a module still to extract
            raise UnknownModule(f"unknown module '{module}' (modules: {', '.join(known)})")
        raise ServiceNotFound(
            f"{folder} holds no extracted {module} service (no src/{package}/app.py): "
            f"run carve extract {module} first")
    source = str((folder / "src").resolve())
    if source not in sys.path:
        sys.path.insert(0, source)
    return importlib.import_module(f"{package}.app")


def _known_modules(folder: Path) -> list[str]:
    """The modules of the project here (./carve.toml) and the services in ``folder``.

    Asked only once a service is not found, to tell a typo from a module not extracted
    yet; a project that cannot be loaded from here adds no names rather than fail.
    """
    extracted = {app.parent.name.removesuffix("_service")
                 for app in (folder / "src").glob("*_service/app.py")}
    try:
        declared = set(Project.load().specs)
    except (CarveError, ImportError):
        declared = set()
    return sorted(declared | extracted)


def find_service(folder: Path) -> ModuleType:
    """The app module of the one service in ``folder`` (``src/<module>_service/app.py``)."""
    apps = sorted((folder / "src").glob("*_service/app.py"))
    if len(apps) != 1:
        found = "none" if not apps else ", ".join(a.parent.name for a in apps)
        raise ServiceNotFound(
            f"{folder} must hold exactly one extracted service (src/<module>_service/app.py; "
            f"found {found}): run carve extract MODULE first")
    return load_service(apps[0].parent.name.removesuffix("_service"), folder)


def service_worker_root(folder: Path) -> ModuleType:
    """The service's app module, refused when it predates the worker entry point."""
    app = find_service(folder)
    if not callable(getattr(app, "worker", None)):
        module = app.__name__.split(".")[0].removesuffix("_service")
        raise ServiceNotFound(
            f"{folder} has no worker entry point ({app.__name__}.worker): regenerate it with "
            f"carve extract {module} --force")
    return app


def service_relay_root(folder: Path) -> ModuleType:
    """The service's app module, refused when it has no relay entry point (and why)."""
    app = find_service(folder)
    if not callable(getattr(app, "relay", None)):
        module = app.__name__.split(".")[0].removesuffix("_service")
        declared = getattr(app, "module", None)
        if declared is not None and not declared.publishes:
            raise ServiceNotFound(f"the {module} service in {folder} publishes no events: "
                                  "it has no outbox to relay")
        raise ServiceNotFound(
            f"{folder} has no relay entry point ({app.__name__}.relay): regenerate it with "
            f"carve extract {module} --force")
    return app
