"""Every module extracts into a service whose generated tests pass, the unseen one included."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from migration.extraction.extract import extract
from migration.runtime.project import Project
from tests.support.processes import ROOT, carve_process, free_port

LENDING = ROOT / "tests" / "fixtures" / "lending" / "carve.toml"


def run_generated_tests(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-q"], cwd=folder,
                          capture_output=True, text=True, timeout=240)


@pytest.mark.parametrize("config, module", [
    (ROOT / "carve.toml", "users"),
    (ROOT / "carve.toml", "inventory"),
    (ROOT / "carve.toml", "orders"),
    (ROOT / "carve.toml", "notifications"),
    (LENDING, "loans"),
])
def test_the_generated_tests_of_the_service_pass(
    config: Path, module: str, tmp_path: Path
) -> None:
    folder = extract(Project.load(config), module, tmp_path).folder
    result = run_generated_tests(folder)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout


def test_the_unseen_module_runs_as_a_service(tmp_path: Path) -> None:
    folder = extract(Project.load(LENDING), "loans", tmp_path).folder
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'loans.db'}"}
    with carve_process(["run", "service", "loans", "--path", str(folder), "--port", str(port)],
                       env=env, cwd=tmp_path, ready_url=f"{url}/readyz"):
        lent = httpx.post(f"{url}/api/v2/loans", json={"isbn": "9780134685991", "member": "ada"})
        again = httpx.post(f"{url}/api/v2/loans", json={"isbn": "9780134685991", "member": "bo"})
        metrics = httpx.get(f"{url}/metrics").text
    assert lent.status_code == 201
    assert (again.status_code, again.json()["code"]) == (409, "loans.book_lent")
    assert 'route="/api/v2/loans"' in metrics


def test_running_a_folder_without_a_service_says_so(tmp_path: Path) -> None:
    result = subprocess.run(  # from the lending project, where loans is a module
        [sys.executable, "-m", "migration.cli", "run", "service", "loans", "--path",
         str(tmp_path)], capture_output=True, text=True, timeout=60, cwd=LENDING.parent)
    assert result.returncode == 2
    assert "holds no extracted loans service" in result.stderr


def test_running_a_misspelt_module_lists_the_modules() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "migration.cli", "run", "service", "invntory", "--path",
         str(ROOT / "extracted" / "inventory-service")],
        capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 2
    assert result.stderr.strip() == ("error: unknown module 'invntory' "
                                     "(modules: inventory, notifications, orders, users)")


def test_a_worker_for_a_folder_without_a_service_says_so(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "migration.cli", "run", "worker", "--path", str(tmp_path)],
        capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 2
    assert "must hold exactly one extracted service" in result.stderr
    assert "Traceback" not in result.stderr
