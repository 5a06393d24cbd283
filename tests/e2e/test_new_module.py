"""carve new module: a module to the documented layout that lints clean, migrates on
PostgreSQL and passes its contract test, in a copy of the project; and what it refuses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from migration.runtime.config import load_config
from migration.scaffold.new_module import ModuleRefused, new_module
from tests.support.projects import copy_project, run_in

CARVE = ("-m", "migration.cli")
FILES = ("contracts/loyalty.py", "monolith/modules/loyalty/__init__.py",
         "monolith/modules/loyalty/service.py", "monolith/modules/loyalty/tables.py",
         "monolith/modules/loyalty/handlers.py", "monolith/modules/loyalty/README.md",
         "monolith/modules/loyalty/migrations/versions/loyalty_0001_initial.py",
         "tests/contract/test_loyalty.py")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the project with the module ``loyalty`` added by carve."""
    project = copy_project(tmp_path_factory.mktemp("new-module"))
    made = run_in(project, *CARVE, "new", "module", "loyalty")
    assert made.returncode == 0, made.stderr
    return project


def test_a_project_without_contract_fixtures_is_told_what_the_test_needs(
    tmp_path: Path
) -> None:
    project = copy_project(tmp_path)
    (project / "tests" / "contract" / "conftest.py").unlink()
    made = new_module(load_config(project / "carve.toml"), "loyalty")
    assert made.has_contract_fixtures is False
    assert (project / "tests" / "contract" / "test_loyalty.py").is_file()


def test_it_writes_the_documented_layout_and_plans_the_module(project: Path) -> None:
    assert all((project / name).is_file() for name in FILES)
    plan = (project / "carve.toml").read_text()
    assert plan.startswith("# The migration plan")  # the comments are kept
    assert '[modules.loyalty]\nbinding = "local"\n' in plan


def test_the_new_module_keeps_the_boundaries_and_the_style(project: Path) -> None:
    lint = run_in(project, *CARVE, "lint")
    assert lint.returncode == 0, lint.stdout
    python = [name for name in FILES if name.endswith(".py")]
    style = run_in(project, "-m", "ruff", "check", "--no-cache", *python)
    assert style.returncode == 0, style.stdout


def test_it_migrates_on_postgresql_with_its_messaging_tables(
    project: Path, postgres_url: str
) -> None:
    upgraded = run_in(project, *CARVE, "db", "upgrade", "loyalty",
                      env={"DATABASE_URL": postgres_url})
    assert upgraded.returncode == 0, upgraded.stderr
    engine = sa.create_engine(postgres_url)
    try:
        tables = set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"loyalty_records", "loyalty_outbox", "loyalty_inbox", "loyalty_dead_letters",
            "alembic_version_loyalty"} <= tables


def test_its_contract_test_passes_on_both_bindings(project: Path) -> None:
    tested = run_in(project, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                    "tests/contract/test_loyalty.py")
    assert tested.returncode == 0, tested.stdout
    assert "2 passed" in tested.stdout


@pytest.mark.parametrize(("name", "reason"), [
    ("users", "module 'users' is already in"),
    ("contract", "module 'contract' exists:"),
    ("Loyalty-Points", "'Loyalty-Points' is not a valid module name"),
    ("2fa", "'2fa' is not a valid module name"),
    ("class", "'class' is a reserved word in Python"),
    ("match", "'match' is a reserved word in Python"),
])
def test_it_refuses_and_changes_nothing(tmp_path: Path, name: str, reason: str) -> None:
    project = copy_project(tmp_path)
    plan = (project / "carve.toml").read_text()
    before = _tree(project)
    with pytest.raises(ModuleRefused, match=re.escape(reason)):
        new_module(load_config(project / "carve.toml"), name)
    assert (project / "carve.toml").read_text() == plan
    assert _tree(project) == before


def test_a_refusal_is_one_line_and_exit_1(tmp_path: Path) -> None:
    refused = run_in(copy_project(tmp_path), *CARVE, "new", "module", "users")
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: module 'users' is already in")
    assert len(refused.stderr.strip().splitlines()) == 1


def _tree(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if "__pycache__" not in p.parts)


def test_a_file_made_meanwhile_is_kept_and_the_rest_undone(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    plan, before = (project / "carve.toml").read_text(), _tree(project)
    config = load_config(project / "carve.toml")
    # Another process creates the contract test between the check and the writing.
    late = project / "tests" / "contract" / "test_loyalty.py"
    real_open = Path.open

    def open_after_a_rival(self: Path, mode: str = "r", *args, **kwargs):  # type: ignore[no-untyped-def]
        if self == late and mode == "x":
            late.write_text("# a rival's\n")
        return real_open(self, mode, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Path, "open", open_after_a_rival)
        with pytest.raises(ModuleRefused, match="appeared meanwhile"):
            new_module(config, "loyalty")
    assert late.read_text() == "# a rival's\n"
    assert _tree(project) == sorted([*before, late])
    assert (project / "carve.toml").read_text() == plan
