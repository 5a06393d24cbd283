"""Where a module's pieces live in a project: its package, history, tests and shared code."""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

from contracts.contract import Contract
from migration.runtime.errors import CarveError
from migration.runtime.modules import ModuleSpec
from migration.runtime.project import Project
from migration.runtime.relay import routes_for

#: Packages the extracted service gets from its ``carve-migrate`` dependency.
PROVIDED_BY_CARVE = ("contracts", "migration")


class ExtractionRefused(CarveError):
    """The module cannot be extracted as it is; the message lists the reasons."""

    exit_code = 1


@dataclass(frozen=True)
class ModuleSource:
    """One module of a project, as ``carve extract`` reads it."""

    spec: ModuleSpec
    package: str
    folder: Path
    root: Path
    first_party: frozenset[str]
    shared: tuple[str, ...]
    #: Event type → the project's subscribers (``<module>.<handler>``) of what it publishes.
    subscribers: tuple[tuple[str, tuple[str, ...]], ...] = field(default=())

    @property
    def service_package(self) -> str:
        """The import name of the module inside its service: ``<module>_service``."""
        return f"{self.spec.name.replace('-', '_')}_service"

    @property
    def contract_tests(self) -> Path:
        """The module's contract tests, run against every binding."""
        return self.root / "tests" / "contract" / f"test_{self.spec.name}.py"

    @property
    def contract_fakes(self) -> Path:
        """The fakes of contracts, standing in for a module's collaborators in tests."""
        return self.root / "tests" / "contract" / "fakes.py"

    def shared_sources(self) -> dict[str, Path]:
        """Shared packages that ``carve-migrate`` does not ship, by dotted name."""
        found = {}
        for name in self.shared:
            if name.split(".")[0] in PROVIDED_BY_CARVE:
                continue
            spec = importlib.util.find_spec(name)
            if spec is None or spec.origin is None:
                raise ExtractionRefused(f"shared package '{name}' cannot be imported")
            origin = Path(spec.origin)
            found[name] = origin.parent if origin.name == "__init__.py" else origin
        return found


def module_source(project: Project, name: str) -> ModuleSource:
    """The module named ``name`` (an unknown name lists the known ones)."""
    spec = project.module(name)
    package = f"{project.config.project.modules}.{name}"
    folder = Path(importlib.import_module(package).__file__ or "").parent
    root = project.config.path.parent if project.config.path else Path.cwd()
    shared = tuple(project.config.project.shared)
    first_party = {package.split(".")[0], *PROVIDED_BY_CARVE, *(s.split(".")[0] for s in shared)}
    return ModuleSource(spec, package, folder, root, frozenset(first_party), shared,
                        _subscribers(project, spec))


def _subscribers(project: Project, spec: ModuleSpec) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Who consumes each event the module publishes, sorted: the service's relay routes."""
    routes = routes_for(project.specs.values())
    return tuple((event, tuple(sorted(routes.get(event, ()))))
                 for event in sorted({e.type for e in spec.publishes}))


def has_contract(spec: ModuleSpec) -> bool:
    """Whether the module declares a contract with at least one operation."""
    contract = spec.contract
    return isinstance(contract, type) and issubclass(contract, Contract) and bool(
        contract.operations())
