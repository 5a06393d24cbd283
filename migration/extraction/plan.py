"""The files of an extracted service, as a mapping from relative path to bytes.

Building the plan reads the module and writes nothing; writing it and checking
it against a folder are separate steps, so both use exactly the same bytes.
"""

from __future__ import annotations

from pathlib import Path

from migration.extraction import readme, templates
from migration.extraction.imports import rename_imports
from migration.extraction.source import ExtractionRefused, ModuleSource

#: Files that live in a service folder without being part of what carve generates.
IGNORED_PARTS = frozenset({"__pycache__", ".pytest_cache", ".ruff_cache", ".venv"})
IGNORED_SUFFIXES = (".whl", ".pyc", ".db", ".db-wal", ".db-shm")
GENERATED_APP = "app.py"


def is_ignored(relative: Path) -> bool:
    """Whether a file in a service folder is a cache or a local database, not output."""
    return bool(IGNORED_PARTS & set(relative.parts)) or relative.name.endswith(IGNORED_SUFFIXES)


def _tree(folder: Path, skip: frozenset[str] = frozenset()) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*")
        if p.is_file() and not is_ignored(p.relative_to(folder))
        and p.relative_to(folder).parts[0] not in skip
    )


def _python(path: Path, source: ModuleSource) -> bytes:
    text = path.read_text(encoding="utf-8")
    return rename_imports(text, source.package, source.service_package).encode("utf-8")


def _copied(folder: Path, target: str, source: ModuleSource,
            skip: frozenset[str] = frozenset()) -> dict[str, bytes]:
    files = {}
    for path in _tree(folder, skip):
        relative = f"{target}/{path.relative_to(folder).as_posix()}"
        files[relative] = _python(path, source) if path.suffix == ".py" else path.read_bytes()
    return files


def service_files(source: ModuleSource) -> dict[str, bytes]:
    """Every file of ``<module>-service/``, sorted by path."""
    package_dir = f"src/{source.service_package}"
    if (source.folder / GENERATED_APP).exists():
        raise ExtractionRefused(
            f"module '{source.spec.name}' has its own {GENERATED_APP}, which the generated "
            "service app would replace: rename it")
    files = _copied(source.folder, package_dir, source, skip=frozenset({"migrations"}))
    files[f"{package_dir}/{GENERATED_APP}"] = templates.app_py(source).encode()
    for name, path in source.shared_sources().items():
        target = "src/" + name.replace(".", "/")
        if path.is_dir():
            files.update(_copied(path, target, source))
        else:
            files[target + ".py"] = path.read_bytes()
    files.update(_copied(source.spec.migrations, "database/versions", source))
    files["database/README.md"] = templates.database_readme(source).encode()
    files.update(_tests(source))
    files["pyproject.toml"] = templates.pyproject_toml(source).encode()
    files["Dockerfile"] = templates.dockerfile(source).encode()
    files[".dockerignore"] = templates.dockerignore().encode()
    files["wheels/README.md"] = templates.wheels_readme().encode()
    files["README.md"] = readme.service_readme(source).encode()
    return dict(sorted(files.items()))


def _tests(source: ModuleSource) -> dict[str, bytes]:
    with_fakes = bool(source.spec.uses) and source.contract_fakes.exists()
    files = {
        "tests/conftest.py": templates.conftest_py(source, with_fakes).encode(),
        "tests/test_service.py": templates.test_service_py(source).encode(),
    }
    if source.contract_tests.exists():
        files["tests/test_contract.py"] = source.contract_tests.read_bytes()
    if with_fakes:
        files["tests/contract_fakes.py"] = source.contract_fakes.read_bytes()
    return files
