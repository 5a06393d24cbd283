"""carve lints carve: the toolkit's packages stay in their layers and no package's
modules import each other in a cycle (the contracts of [tool.importlinter])."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from importlinter.api import read_configuration

REPOSITORY = Path(__file__).parents[2]
PYPROJECT = REPOSITORY / "pyproject.toml"


def test_the_toolkit_contracts_are_declared() -> None:
    contracts = read_configuration(str(PYPROJECT))["contracts_options"]
    assert {c["id"]: c["type"] for c in contracts} == {
        "toolkit-layers": "layers",
        "toolkit-acyclic": "acyclic_siblings",
        "toolkit-without-monolith": "forbidden",
    }


def test_the_toolkit_keeps_its_layers_and_has_no_import_cycle() -> None:
    lint_imports = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint_imports, "import-linter is a dev dependency: pip install -e '.[dev]'"
    result = subprocess.run([lint_imports, "--no-cache", str(PYPROJECT)], cwd=REPOSITORY,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[result.stdout.find("Broken contracts"):]
