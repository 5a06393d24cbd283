"""A copy of this repository's project (plan, contracts, monolith, contract tests) in a
temporary folder, for commands that change a project; and carve run inside it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.processes import ROOT

#: What a project needs to lint, migrate and run its contract tests; not the toolkit,
#: which the copy imports from where carve is installed.
PROJECT_PARTS = ("carve.toml", "pyproject.toml", "contracts", "monolith", "tests/__init__.py",
                 "tests/conftest.py", "tests/support", "tests/contract")


def copy_project(into: Path) -> Path:
    """Copy the project into ``into``/project and return that folder."""
    project = into / "project"
    for part in PROJECT_PARTS:
        source, target = ROOT / part, project / part
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)
    return project


def run_in(project: Path, *args: str, env: dict[str, str] | None = None,
           timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python ARGS`` in the project's folder (``-m migration.cli …`` is carve)."""
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CARVE_CONFIG")}
    return subprocess.run([sys.executable, *args], cwd=project, env={**environ, **(env or {})},
                          capture_output=True, text=True, timeout=timeout)
