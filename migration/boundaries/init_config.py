"""``carve init``: look at an existing codebase and write a starting ``carve.toml``.

The modules root is the package whose sub-packages look most like modules: a
conventional name (``modules``, ``apps``, ``domains``...) wins, otherwise the
package with the most sub-packages that declare tables. Shared packages are
the packages outside it named like a shared kernel (``contracts``, ``shared``...).
"""

from __future__ import annotations

from pathlib import Path

import tomli_w

from migration.boundaries.source_scan import read_source, scan_module_file
from migration.runtime.config import CONFIG_FILE
from migration.runtime.errors import ConfigError

MODULE_ROOT_NAMES = ("modules", "apps", "domains", "components", "contexts", "bounded_contexts")
SHARED_NAMES = ("contracts", "shared", "shared_kernel", "kernel", "common")
_SKIP = {"tests", "test", "migrations", "alembic", "docs", "node_modules", "build", "dist"}


def write_starting_config(root: Path, *, force: bool = False) -> tuple[Path, str]:
    """Write ``carve.toml`` at ``root``; refuse to replace one unless ``force``."""
    root = root.resolve()
    if not root.is_dir():  # as `carve lint` says it, not "no package ... to treat as modules"
        raise ConfigError(f"{root}: no such directory")
    target = root / CONFIG_FILE
    if target.exists() and not force:
        raise ConfigError(f"{target} already exists (pass --force to overwrite it)")
    source = next((root / s for s in ("src", ".") if _packages(root / s)), root)
    modules_root = _modules_root(source)
    if modules_root is None:
        raise ConfigError(f"{root}: no package with two or more sub-packages to treat as modules")
    modules = _children(source, modules_root)
    shared = [c for c in _candidates(source)
              if c.split(".")[-1] in SHARED_NAMES and not c.startswith(modules_root + ".")]
    if (source / "migration" / "runtime").is_dir():
        shared.append("migration.runtime")
    config = {
        "project": {"modules": modules_root, "source": source.relative_to(root).as_posix() or ".",
                    "shared": shared},
        "modules": {name: {"binding": "local"} for name in modules},
    }
    header = ("# Written by `carve init`: check the modules root and the shared packages,\n"
              "# then run `carve lint` and `carve analyze`.\n")
    target.write_text(header + tomli_w.dumps(config), encoding="utf-8")
    return target, f"{len(modules)} modules under {modules_root}, shared: {shared or 'none'}"


def _packages(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir()
                  if (p / "__init__.py").exists() and p.name not in _SKIP)


def _children(source: Path, dotted: str) -> list[str]:
    return [p.name for p in _packages(source.joinpath(*dotted.split(".")))]


def _candidates(source: Path, depth: int = 3) -> list[str]:
    found: list[str] = []
    frontier = [(p, p.name) for p in _packages(source)]
    for _ in range(depth):
        found += [dotted for _, dotted in frontier]
        frontier = [(c, f"{dotted}.{c.name}") for p, dotted in frontier for c in _packages(p)]
    return found


def _modules_root(source: Path) -> str | None:
    candidates = [c for c in _candidates(source) if len(_children(source, c)) >= 2]
    named = [c for c in candidates if c.split(".")[-1] in MODULE_ROOT_NAMES]
    if named:
        return min(named, key=lambda c: c.count("."))
    scored = [(_tabled_children(source, c), c) for c in candidates]
    scored = [(score, c) for score, c in scored if score > 0]
    return max(scored)[1] if scored else (candidates[0] if candidates else None)


def _tabled_children(source: Path, dotted: str) -> int:
    """How many sub-packages declare at least one table."""
    count = 0
    for child in _packages(source.joinpath(*dotted.split("."))):
        files = child.rglob("*.py")
        if any(scan_module_file(f, read_source(f)).tables for f in files):
            count += 1
    return count
