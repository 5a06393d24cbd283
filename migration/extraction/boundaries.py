"""The minimal boundary check ``carve extract`` needs before moving a module out.

A module may import its own package, the shared packages (``contracts``,
``migration.runtime``) and third-party libraries, never another module nor the
rest of the monolith or carve's tools. This one function is the seam where
``carve lint`` can take over.
"""

from __future__ import annotations

from pathlib import Path

from migration.extraction.imports import imported_names


def boundary_violations(
    folder: Path, package: str, first_party: set[str], shared: list[str]
) -> list[str]:
    """``file:line imports X`` for each import of ``folder`` that leaves its module.

    ``package`` is the module's dotted name; ``first_party`` the top-level
    packages of the project (an import under them must be the module's own or
    a shared one); relative imports may not climb out of the module.
    """
    depth_of = {path: len(path.relative_to(folder).parts) for path in folder.rglob("*.py")}
    found = []
    for path in sorted(depth_of):
        where = path.relative_to(folder.parent).as_posix()
        for name in imported_names(path.read_text(encoding="utf-8")):
            if name.relative_level:
                # ``from .`` of a file n parts deep (file included) may use at most n dots.
                if name.relative_level > depth_of[path]:
                    found.append(f"{where}:{name.line} imports {'.' * name.relative_level}"
                                 f"{name.module} (outside the module)")
                continue
            if _leaves_module(name.module, package, first_party, shared):
                found.append(f"{where}:{name.line} imports {name.module}")
    return found


def _leaves_module(module: str, package: str, first_party: set[str], shared: list[str]) -> bool:
    def under(prefix: str) -> bool:
        return module == prefix or module.startswith(prefix + ".")

    if module.split(".")[0] not in first_party:
        return False  # the standard library or a third-party dependency
    return not (under(package) or any(under(s) for s in shared))
