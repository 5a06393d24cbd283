"""The lint finds modules' third-party imports in their text just as grimp's graph does."""

from __future__ import annotations

from pathlib import Path

import pytest

from migration.boundaries import import_rules
from migration.boundaries.codebase import open_codebase
from migration.boundaries.external_imports import _may_import_other, external_imports
from migration.boundaries.lint import check_codebase, find_violations, run_lint
from migration.boundaries.lint_fork import check_forked
from tests.support.shops import build_shop

# Every way a statement can import (and a few that only look like it), in a module's file.
TRICKY = '''"""A docstring that says: import this from the start.
from the top of a line too
"""
from __future__ import annotations

import os, \\
    requests.adapters
from sqlalchemy.orm import (
    Session,
)
from xml.etree import ElementTree
import nonexistent.deep.mod as nd
from . import service
from.service import place_order
from \\
    shop_tricky.contracts import orders
if os: import toml; import ujson
try: import yaml
except ImportError: pass


def later():
    import yaml  # a second import of the same package: one violation, at its first line
    from typing import TYPE_CHECKING
    if TYPE_CHECKING:
        from httpx import Client
    raise ValueError("nothing") from None
'''
# In a folder without __init__.py: grimp takes no module there, so neither does the lint.
ORPHAN = "import forbidden_orphan\n"

EXPECTED = [  # (package, line): grimp's squashed name, at the statement's first line
    ("httpx", 26), ("nonexistent", 12), ("requests", 6), ("toml", 17), ("ujson", 17),
    ("yaml", 18),
]


@pytest.fixture(scope="module")
def tricky(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean shop whose orders module imports third-party packages in every way."""
    folder = build_shop("clean", tmp_path_factory.mktemp("external"))
    (folder / "shop_clean").rename(folder / "shop_tricky")
    for file in [folder / "carve.toml", *(folder / "shop_tricky").rglob("*.py")]:
        file.write_text(file.read_text().replace("shop_clean", "shop_tricky"))
    orders = folder / "shop_tricky" / "modules" / "orders"
    (orders / "tricky.py").write_text(TRICKY)
    (orders / "scripts").mkdir()
    (orders / "scripts" / "orphan.py").write_text(ORPHAN)
    return folder


def _externals(violations: list) -> list[tuple[str, int]]:
    return sorted((v.chain[-1], v.line) for v in violations
                  if v.rule == "imports.allowed" and "third-party" in v.message)


def test_the_scan_finds_what_grimps_graph_finds(tricky: Path) -> None:
    with_grimp = find_violations(tricky).violations  # grimp's graph with external packages
    scanned = check_codebase(open_codebase(tricky), scan_external=True).violations
    assert _externals(with_grimp) == EXPECTED
    assert scanned == with_grimp
    assert run_lint(tricky).violations == with_grimp


@pytest.fixture
def forkable(monkeypatch: pytest.MonkeyPatch) -> None:
    """The forked run goes ahead with the threads other tests left (pytest's, idle workers)."""
    from migration.boundaries import lint_fork

    monkeypatch.setattr(lint_fork.threading, "active_count", lambda: 1)


@pytest.mark.usefixtures("forkable")
def test_the_forked_run_finds_the_same(tricky: Path) -> None:
    checked = check_forked(open_codebase(tricky), cache=False)
    assert checked is not None
    assert checked[1] == find_violations(tricky).violations


@pytest.mark.usefixtures("forkable")
def test_when_the_scan_cannot_tell_grimps_graph_does(
    tricky: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(import_rules, "scan_externals", lambda codebase: None)
    expected = find_violations(tricky).violations
    assert check_codebase(open_codebase(tricky), scan_external=True).violations == expected
    checked = check_forked(open_codebase(tricky), cache=False)
    assert checked is not None and checked[1] == expected


def test_a_file_it_cannot_parse_leaves_the_answer_to_grimp(tricky: Path) -> None:
    files = [(tricky / "a.py", "import requests\ndef (:\n")]
    assert external_imports(files, tricky, frozenset({"shop"}), frozenset()) is None
    # a file naming only known packages is never parsed: no answer needed from grimp
    files = [(tricky / "b.py", "import os\ndef (:\n")]
    assert external_imports(files, tricky, frozenset({"shop"}), frozenset()) == []


@pytest.mark.parametrize(("text", "may"), [
    ("import os\nfrom shop import x\n", False),
    ("x = 1; import requests\n", True),
    ("if x:\timport requests\n", True),
    ("\ufeffimport requests\n", True),
    ("import os\rimport requests\r", True),
    ("import os, \\\n  requests\n", True),  # continued: cannot tell cheaply
    ("from \\\n  requests import get\n", True),
    ("from . import x\nfrom .. import y\n", False),
    ("raise E from exc\nvalue: importer = None\n", False),
    ("import os . path as p, shop.x  # a comment\n", False),
    ("import os\ufffdx\n", True),  # an undecodable name: never taken for a known one
    ("from os\ufffdx import y\n", True),
])
def test_the_cheap_pass_never_misses_an_import(text: str, may: bool) -> None:
    known = frozenset({"os", "shop"})
    assert _may_import_other(text, known) is may


def test_a_graph_with_external_packages_is_cached_in_a_folder_of_its_own(
    tricky: Path, tmp_path: Path,
) -> None:
    """grimp keeps one record of modification times for both kinds: each needs its own."""
    codebase = open_codebase(tricky)
    with_them = import_rules.build_graph(codebase, tmp_path, external=True)
    without = import_rules.build_graph(codebase, tmp_path, external=False)
    assert "requests" in with_them.modules and "requests" not in without.modules
    assert list((tmp_path / "external").glob("*.data.json"))
    assert len(list(tmp_path.glob("*.data.json"))) == 1


def _third_party(violations: list) -> list[tuple[str, str, int]]:
    return sorted((v.file, v.chain[-1], v.line) for v in violations
                  if v.rule == "imports.allowed" and "third-party" in v.message)


def test_a_lazy_import_pep_810_is_found_as_grimp_finds_it(tmp_path: Path) -> None:
    folder = build_shop("clean", tmp_path)
    orders = folder / "shop_clean" / "modules" / "orders"
    (orders / "lazy.py").write_text("lazy import requests\nlazy from yaml import safe_load\n")
    with_grimp = _third_party(find_violations(folder).violations)
    assert with_grimp == [("shop_clean/modules/orders/lazy.py", "requests", 1),
                          ("shop_clean/modules/orders/lazy.py", "yaml", 2)]
    scanned = check_codebase(open_codebase(folder), scan_external=True).violations
    assert _third_party(scanned) == with_grimp
