"""The use case of ``carve new module NAME``: refuse, plan the files, write them, plan it.

Writing is all or nothing: every file is checked first (none may exist), the files are
written, and ``carve.toml`` gets ``[modules.NAME]`` last (atomically, comments kept).
A failure on the way removes what was written, so a retry starts from a clean slate.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import tomlkit

from migration.extraction.imports import sort_imports
from migration.runtime.config import CarveConfig
from migration.runtime.errors import CarveError, ConfigError
from migration.runtime.plan_file import replace_plan
from migration.scaffold.templates import render

#: Lower-case letters, digits and underscores, starting with a letter: a package name that
#: is also a fine prefix for table names (``<name>_records``) and URLs (``/api/v1/<name>``).
NAME = re.compile(r"[a-z][a-z0-9_]*")
#: PostgreSQL cuts identifiers at 63 bytes; the longest name derived from a module's is
#: ``ix_<name>_outbox_pending`` (18 more), so names stay well under.
MAX_LENGTH = 30


class ModuleRefused(CarveError):
    """The module cannot be created under that name; the message says why."""

    exit_code = 1


@dataclass(frozen=True)
class NewModule:
    """What ``carve new module`` wrote."""

    name: str
    files: list[Path]
    plan: Path
    #: Whether the project's tests/contract/conftest.py is there to give the new contract
    #: test its ``binding`` fixture (the local and the HTTP binding of the module).
    has_contract_fixtures: bool = True


@dataclass(frozen=True)
class Layout:
    """Where a project keeps its modules, its contracts and its contract tests."""

    root: Path
    modules: str
    contracts: str

    def package_folder(self, dotted: str) -> Path:
        """The folder of a package of the project's source, by dotted name."""
        return self.root.joinpath(*dotted.split("."))


def layout_of(config: CarveConfig) -> Layout:
    """The project's layout from its ``carve.toml``; a project without one is refused."""
    if config.path is None:
        raise ConfigError("there is no carve.toml to add the module to "
                          "(pass --config or run carve init)")
    source = (config.path.parent / config.project.source).resolve()
    own = [name for name in config.project.shared if not name.startswith("migration")
           and source.joinpath(*name.split(".")).is_dir()]
    if not own:
        raise ConfigError("carve.toml's [project] shared names no contracts package in "
                          f"{source}: the new module's contract would have nowhere to go")
    return Layout(source, config.project.modules, own[-1])


def check_name(name: str) -> None:
    """Refuse a name that is not a lower-case identifier, or is a reserved word."""
    if not NAME.fullmatch(name):
        raise ModuleRefused(f"'{name}' is not a valid module name: use lower-case letters, "
                            "digits and underscores, starting with a letter")
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        raise ModuleRefused(f"'{name}' is a reserved word in Python: choose another name")
    if len(name) > MAX_LENGTH:
        raise ModuleRefused(f"'{name}' is longer than {MAX_LENGTH} characters: its table "
                            "and index names would not fit PostgreSQL's identifiers")


def module_files(layout: Layout, name: str) -> dict[Path, str]:
    """Every file of the new module, by path, with its text."""
    folder = layout.package_folder(f"{layout.modules}.{name}")
    values = {
        "name": name, "Class": "".join(part.capitalize() for part in name.split("_")),
        "contracts": layout.contracts, "modules": layout.modules,
        "description": f"the {name} module (made by `carve new module {name}`).",
        "date": datetime.now(UTC).date().isoformat(),
    }
    files = {
        layout.package_folder(layout.contracts) / f"{name}.py": "contract.py.tmpl",
        folder / "__init__.py": "__init__.py.tmpl",
        folder / "service.py": "service.py.tmpl",
        folder / "tables.py": "tables.py.tmpl",
        folder / "handlers.py": "handlers.py.tmpl",
        folder / "README.md": "README.md.tmpl",
        folder / "migrations" / "versions" / f"{name}_0001_initial.py": "migration.py.tmpl",
        layout.root / "tests" / "contract" / f"test_{name}.py": "test_contract.py.tmpl",
    }
    return {path: _text(template, values, layout) for path, template in files.items()}


def _text(template: str, values: dict[str, str], layout: Layout) -> str:
    text = render(template, **values)
    if template.endswith(".py.tmpl"):
        # The project's own packages go where isort puts them, whatever they are called.
        text = sort_imports(sort_imports(text, layout.modules), layout.contracts)
    return text


def new_module(config: CarveConfig, name: str) -> NewModule:
    """Write the module ``name`` and add ``[modules.NAME]`` to ``carve.toml``."""
    check_name(name)
    layout = layout_of(config)
    plan = config.path or Path("carve.toml")  # layout_of refused a project without one
    if name in config.modules:
        raise ModuleRefused(f"module '{name}' is already in {plan}")
    files = module_files(layout, name)
    folder = layout.package_folder(f"{layout.modules}.{name}")
    taken = sorted({str(path) for path in [*files, folder] if path.exists()})
    if taken:
        raise ModuleRefused(f"module '{name}' exists: {', '.join(taken)}")
    written: list[Path] = []
    try:
        for path, text in files.items():
            written += _missing_folders(path.parent)
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("x", encoding="utf-8") as file:  # never over a file made meanwhile
                written.append(path)
                file.write(text)
        _add_to_plan(plan, name)
    except FileExistsError as exc:
        _remove(written)  # the file that was there is not among them: it is not ours
        raise ModuleRefused(f"module '{name}' exists: {exc.filename} appeared meanwhile") from None
    except BaseException:
        _remove(written)
        raise
    fixtures = (layout.root / "tests" / "contract" / "conftest.py").is_file()
    return NewModule(name, [p for p in written if p.is_file()], plan, fixtures)


def _missing_folders(folder: Path) -> list[Path]:
    """The folders ``mkdir(parents=True)`` is about to create, outermost first."""
    return [p for p in reversed([folder, *folder.parents]) if not p.exists()]


def _remove(created: list[Path]) -> None:
    """Undo a half-made module: its files, then the folders made for them."""
    for path in reversed(created):
        if path.is_dir():
            path.rmdir()
        else:
            path.unlink(missing_ok=True)


def _add_to_plan(path: Path, name: str) -> None:
    """``[modules.NAME] binding = "local"`` in ``carve.toml``, keeping its comments."""
    document = tomlkit.parse(path.read_text(encoding="utf-8"))
    modules = document.get("modules")
    if modules is not None and name in modules:
        raise ModuleRefused(f"module '{name}' was added to {path} meanwhile")
    if modules is None:
        modules = tomlkit.table(is_super_table=True)
        document["modules"] = modules
    entry = tomlkit.table()
    entry["binding"] = "local"
    entry.add(tomlkit.nl())  # a blank line before whatever table follows
    modules[name] = entry
    replace_plan(path, tomlkit.dumps(document))
