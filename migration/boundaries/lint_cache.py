"""The lint's cache: a run's findings, reused while none of the files it read changed.

It lives in ``.carve/cache/lint/`` beside carve.toml, a folder git ignores (it holds its
own ``.gitignore``). The key is a digest of the content of carve.toml, of every Python
file in the packages the import graph is built from (the modules and the shared
packages live there) and of the lint's own code, with the Python and grimp versions:
contents, not modification times, so a fresh CI checkout of an unchanged tree is a hit.
Any edit is a miss: the lint runs again, and grimp's own cache in ``grimp/`` rescans
only the files whose imports may have changed. Anything else a codebase's ``ModuleSpec``
imports is not in the key: ``--no-cache`` lints without it.

The entry names the folders it hashed, so a hit needs neither carve.toml's validation
nor the checks' code: it reads one file and hashes the tree. A run that checks keeps
what the key read (``Codebase.read``): the scans for tables and events read no file
again, and check the very content the key was taken from.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from migration.boundaries.files import read_file
from migration.boundaries.model import Violation

if TYPE_CHECKING:
    from migration.boundaries.codebase import Codebase

CACHE_FOLDER = Path(".carve") / "cache" / "lint"
_CONFIG_FILE = "carve.toml"  # migration.runtime.config's: not imported, a hit needs no config
_FORMAT = "carve.lint-cache/2"
_LINT_CODE = Path(__file__).parent


@dataclass
class CachedFindings:
    """What a run found that the next one can reuse: the module names and the violations."""

    modules: list[str]
    violations: list[Violation]


def cached_findings(root: Path) -> CachedFindings | None:
    """The findings stored for the codebase at ``root``, if none of its inputs changed."""
    try:
        data = json.loads((root / CACHE_FOLDER / "findings.json").read_text(encoding="utf-8"))
        if data.get("format") != _FORMAT:
            return None
        if data["digest"] != input_digest(root, [Path(f) for f in data["folders"]]):
            return None
        violations = [Violation(**{**v, "chain": tuple(v["chain"])})
                      for v in data["violations"]]
        return CachedFindings(list(data["modules"]), violations)
    except (OSError, ValueError, KeyError, TypeError):  # absent or damaged: a miss
        return None


@dataclass
class LintCache:
    """Where a run that checked stores its findings, keyed by the tree as it was before."""

    folder: Path
    folders: list[Path]
    digest: str

    @property
    def graph_folder(self) -> Path:
        """Where grimp keeps the imports of each file between runs."""
        return self.folder / "grimp"

    def write(self, modules: list[str], violations: list[Violation]) -> None:
        """Store this run's findings for the next run (atomically: runs may overlap)."""
        data = {"format": _FORMAT, "digest": self.digest, "folders": list(map(str, self.folders)),
                "modules": modules, "violations": [v.as_dict() for v in violations]}
        part = self.folder / f"findings.json.{os.getpid()}"
        try:
            part.write_text(json.dumps(data), encoding="utf-8")
            os.replace(part, self.folder / "findings.json")
        except OSError:  # a cache that cannot be written only costs the next run time
            part.unlink(missing_ok=True)


def open_cache(codebase: Codebase) -> LintCache | None:
    """The codebase's cache, keyed before the run reads anything; None if it cannot be kept.

    The key is taken first so that a file edited during the run is a miss next time;
    the files it read are kept in ``codebase.read`` for the scans.
    """
    folder = codebase.root / CACHE_FOLDER
    try:
        folder.mkdir(parents=True, exist_ok=True)
        ignore = folder.parent / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# carve's lint cache: never committed\n*\n")
        folders = package_folders(codebase)
        digest = input_digest(codebase.root, folders, keep=codebase.read)
        return LintCache(folder, folders, digest)
    except OSError:  # a read-only checkout, an unreadable file: lint without a cache
        return None


def input_digest(root: Path, folders: list[Path], keep: dict[str, bytes] | None = None) -> str:
    """A digest of everything the findings depend on, by content.

    With ``keep``, the content of every file of ``folders`` is kept there, by path.
    """
    digest = hashlib.blake2b(digest_size=20)
    digest.update(f"{_FORMAT}|{sys.version}|{_grimp_release()}".encode())
    config = root / _CONFIG_FILE
    if config.exists():
        _add_file(digest, str(config), _CONFIG_FILE)
    for folder in [_LINT_CODE, *folders]:
        digest.update(f"\0package {folder}\0".encode())
        kept = keep if folder is not _LINT_CODE else None
        if folder.is_dir():
            _add_folder(digest, str(folder), kept)
        else:
            _add_file(digest, str(folder), folder.name, kept)
    return digest.hexdigest()


def package_folders(codebase: Codebase) -> list[Path]:
    """The folders (or single files) grimp reads each root package from, as it finds them."""
    from migration.boundaries.codebase import source_on_path
    from migration.boundaries.import_rules import graph_roots

    source_on_path(codebase)
    found: list[Path] = []
    for root in graph_roots(codebase):
        if "." in root:  # a namespace portion under the source folder (see graph_roots)
            found.append(codebase.package_path(root))
            continue
        spec = importlib.util.find_spec(root)
        if spec is None:
            continue  # grimp will say it cannot find it, and nothing is cached
        if spec.submodule_search_locations:
            found += [Path(p) for p in spec.submodule_search_locations]
        elif spec.origin:
            found.append(Path(spec.origin))
    return found


def _grimp_release() -> str:
    """grimp's installed release (its parser decides the imports), without importing it."""
    spec = importlib.util.find_spec("grimp")
    if spec is None or not spec.origin:
        return "none"
    installed = Path(spec.origin).parent.parent
    return ",".join(sorted(p.name for p in installed.glob("grimp-*.dist-info")))


def _add_folder(digest: hashlib._Hash, folder: str, keep: dict[str, bytes] | None) -> None:
    """Every ``.py`` file under ``folder``, in a stable order (strings: 20,000 files add up)."""
    for directory, subdirectories, names in os.walk(folder):
        subdirectories.sort()
        relative = os.path.relpath(directory, folder)
        for name in sorted(names):
            if name.endswith(".py"):
                _add_file(digest, os.path.join(directory, name), f"{relative}/{name}", keep)


def _add_file(digest: hashlib._Hash, path: str, name: str,
              keep: dict[str, bytes] | None = None) -> None:
    content = read_file(path)
    digest.update(f"\0{name}\0{len(content)}\0".encode())
    digest.update(content)
    if keep is not None:
        keep[path] = content
