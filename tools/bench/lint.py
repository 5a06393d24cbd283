"""Benchmark: ``carve lint`` against raw ``lint-imports`` with the equivalent contracts.

Generates codebases of 500, 2,000 and 20,000 files in 50 modules (500 and 2,000 with
``--quick``) into a temporary folder, with one cross-module import planted so both
tools must find it, then times both tools as a user runs them, each a fresh process,
in the same run, rounds interleaving the tools, medians of the rounds kept:

- cold: each tool's cache is empty (the first run; each writes its cache);
- warm: the same again, the tree unchanged (a developer's next run);
- checkout: the caches kept but every file rewritten with the same content, new
  modification times (CI restoring its cache onto a fresh checkout).

``--json`` prints one object; ``ratio`` is carve's time over lint-imports' for the worst
size of the cold runs, ``warm_ratio`` and ``checkout_ratio`` the same for the others; the
goal is at most 1.0.

    python tools/bench/lint.py [--quick] [--json] [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODULES = 50
GOAL = 1.0
PHASES = ("cold", "warm", "checkout")
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


def measure(root: Path, files: int, repeat: int) -> dict[str, object]:
    """Median times of both tools, cold, warm and after a checkout, on one codebase."""
    codebase = generate(root, files)
    config = root / f"importlinter_{files}.ini"
    subprocess.run([BIN / "carve", "lint", str(codebase), "--export-importlinter", str(config)],
                   check=True, capture_output=True)
    grimp_cache = root / f"importlinter_cache_{files}"
    tools = {
        "carve": ([str(BIN / "carve"), "lint", ".", "--format", "json"], codebase / ".carve"),
        "lint_imports": ([str(BIN / "lint-imports"), "--cache-dir", str(grimp_cache),
                          str(config)], grimp_cache),
    }
    times: dict[tuple[str, str], list[float]] = {}
    exits: set[int] = set()
    for _ in range(repeat):
        for tool, (args, cache) in tools.items():
            shutil.rmtree(cache, ignore_errors=True)
            for phase in PHASES:
                if phase == "checkout":
                    _new_mtimes(codebase)
                elapsed, code = timed(args, codebase)
                times.setdefault((tool, phase), []).append(elapsed)
                exits.add(code)
    shutil.rmtree(codebase)
    result: dict[str, object] = {"files": files, "exit_codes": sorted(exits)}
    for phase in PHASES:
        carve_s = statistics.median(times["carve", phase])
        raw_s = statistics.median(times["lint_imports", phase])
        result[phase] = {"carve_s": round(carve_s, 3), "lint_imports_s": round(raw_s, 3),
                         "ratio": round(carve_s / raw_s, 3),
                         "carve_runs": [round(t, 3) for t in times["carve", phase]],
                         "lint_imports_runs": [round(t, 3) for t in times["lint_imports", phase]]}
    return result


def _new_mtimes(codebase: Path) -> None:
    """Every file gets a new modification time, its content unchanged (a fresh checkout)."""
    later = time.time_ns() + 10**9
    for directory, _, names in os.walk(codebase):
        for name in names:
            os.utime(os.path.join(directory, name), ns=(later, later))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller codebases, under a minute")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--repeat", type=int, default=3, help="rounds per size, median kept")
    options = parser.parse_args()
    sizes = (500, 2000) if options.quick else (500, 2000, 20000)
    with tempfile.TemporaryDirectory(prefix="carve-bench-lint-") as folder:
        results = [measure(Path(folder), files, options.repeat) for files in sizes]
    summary: dict[str, object] = {"benchmark": "lint", "modules": MODULES, "sizes": results}
    for phase in PHASES:
        key = "ratio" if phase == "cold" else f"{phase}_ratio"
        summary[key] = max(r[phase]["ratio"] for r in results)  # type: ignore[index]
    summary |= {"goal": GOAL, "same_verdict": all(r["exit_codes"] == [1] for r in results)}
    if options.json:
        print(json.dumps(summary))
        return
    print(f"{'files':>7} {'run':>9} {'carve lint':>11} {'lint-imports':>13} {'ratio':>6}")
    for r in results:
        for phase in PHASES:
            p = r[phase]  # type: ignore[index]
            print(f"{r['files']:>7} {phase:>9} {p['carve_s']:>10.2f}s "
                  f"{p['lint_imports_s']:>12.2f}s {p['ratio']:>6.2f}")
    verdict = "the same" if summary["same_verdict"] else "DIFFERENT"
    print(f"worst ratio: cold {summary['ratio']:.2f}, warm {summary['warm_ratio']:.2f}, "
          f"checkout {summary['checkout_ratio']:.2f} (goal <= {GOAL}); verdicts {verdict}")


if __name__ == "__main__":
    main()
