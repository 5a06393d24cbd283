"""Benchmark: ``carve lint`` against raw ``lint-imports`` with the equivalent contracts.

Generates codebases of 2,000 and 20,000 files in 50 modules (500 and 2,000 with
``--quick``) into a temporary folder, with one cross-module import planted so both
tools must find it, then times both tools as a user runs them (fresh processes, no
cache) in the same run. ``--json`` prints one object whose ``ratio`` is carve's time
over lint-imports' at the largest size; the goal is at most 1.5.

    python tools/bench/lint.py [--quick] [--json] [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODULES = 50
GOAL = 1.5
BIN = Path(sys.executable).parent

CONTRACT = '''"""Contract and events of {m}."""

from benchshop.contracts import Contract, Event


class {cls}Changed(Event):
    type = "{m}.changed"
    item_id: str
    quantity: int


class {cls}(Contract):
    def get(self, item_id: str) -> str:
        """Read one item."""
'''

MODELS = '''from sqlalchemy import Column, Integer, MetaData, String, Table

metadata = MetaData()

items = Table(
    "{m}_items",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("quantity", Integer, nullable=False),
)
'''

FILE = '''"""Use case {i} of {m}."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select

from benchshop.contracts.{m} import {cls}Changed
from benchshop.modules.{m}.models import items
{extra}
log = logging.getLogger(__name__)


@dataclass
class Step{i}:
    item_id: str
    quantity: int

    def run(self, session, publish) -> int:
        found = session.execute(select(items.c.quantity).where(items.c.id == self.item_id))
        total = (found.scalar() or 0) + self.quantity
        publish({cls}Changed(item_id=self.item_id, quantity=total))
        log.info("step {i}: %s", total)
        return total
'''


def generate(root: Path, files: int) -> Path:
    """Write a codebase of about ``files`` Python files in 50 modules; return its folder."""
    base = root / f"shop_{files}"
    package = base / "benchshop"
    (package / "contracts").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "contracts" / "__init__.py").write_text(
        "class Event:\n    type = ''\n\n\nclass Contract:\n    pass\n")
    per_module = max(3, files // MODULES - 2)  # the module's __init__ and models count too
    for index in range(MODULES):
        _module(package, f"m{index:02d}", per_module)
    (base / "carve.toml").write_text(
        '[project]\nmodules = "benchshop.modules"\nsource = "."\n'
        'shared = ["benchshop.contracts"]\nallowed_third_party = ["sqlalchemy"]\n')
    return base


def _module(package: Path, name: str, count: int) -> None:
    folder = package / "modules" / name
    folder.mkdir(parents=True)
    (package / "modules" / "__init__.py").write_text("")
    (folder / "__init__.py").write_text("")
    (folder / "models.py").write_text(MODELS.format(m=name))
    cls = name.capitalize()
    (package / "contracts" / f"{name}.py").write_text(CONTRACT.format(m=name, cls=cls))
    for i in range(count):
        extra = f"from benchshop.modules.{name}.step{i - 1} import Step{i - 1}\n" if i else ""
        if name == "m01" and i == 0:  # the planted violation both tools must report
            extra = "from benchshop.modules.m00.models import items as m00_items\n"
        (folder / f"step{i}.py").write_text(FILE.format(i=i, m=name, cls=cls, extra=extra))


def timed(args: list[str], cwd: Path) -> tuple[float, int]:
    """Wall time and exit code of one fresh process."""
    start = time.perf_counter()
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)
    return time.perf_counter() - start, done.returncode


def measure(root: Path, files: int, repeat: int) -> dict[str, float | int]:
    """Best-of-``repeat`` times of both tools on one generated codebase."""
    codebase = generate(root, files)
    config = root / f"importlinter_{files}.ini"
    subprocess.run([BIN / "carve", "lint", str(codebase), "--export-importlinter", str(config)],
                   check=True, capture_output=True)
    carve = [timed([str(BIN / "carve"), "lint", ".", "--format", "json"], codebase)
             for _ in range(repeat)]
    raw = [timed([str(BIN / "lint-imports"), "--no-cache", str(config)], codebase)
           for _ in range(repeat)]
    carve_s, raw_s = min(t for t, _ in carve), min(t for t, _ in raw)
    shutil.rmtree(codebase)
    return {"files": files, "carve_s": round(carve_s, 3),
            "lint_imports_s": round(raw_s, 3), "ratio": round(carve_s / raw_s, 3),
            "carve_exit": carve[0][1], "lint_imports_exit": raw[0][1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller codebases, under a minute")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--repeat", type=int, default=2, help="runs per tool, best kept")
    options = parser.parse_args()
    sizes = (500, 2000) if options.quick else (2000, 20000)
    with tempfile.TemporaryDirectory(prefix="carve-bench-lint-") as folder:
        results = [measure(Path(folder), files, options.repeat) for files in sizes]
    summary = {"benchmark": "lint", "modules": MODULES, "sizes": results,
               "ratio": results[-1]["ratio"], "goal": GOAL,
               "same_verdict": all(r["carve_exit"] == r["lint_imports_exit"] == 1
                                   for r in results)}
    if options.json:
        print(json.dumps(summary))
        return
    print(f"{'files':>7} {'carve lint':>11} {'lint-imports':>13} {'ratio':>6}  verdict")
    for r in results:
        verdict = "same" if r["carve_exit"] == r["lint_imports_exit"] else "DIFFERENT"
        print(f"{r['files']:>7} {r['carve_s']:>10.2f}s {r['lint_imports_s']:>12.2f}s "
              f"{r['ratio']:>6.2f}  {verdict}")
    print(f"ratio at {sizes[-1]} files: {summary['ratio']:.2f} (goal <= {GOAL})")


if __name__ == "__main__":
    main()
