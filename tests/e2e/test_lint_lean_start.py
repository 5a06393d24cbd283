"""``carve lint``'s lean start: the same output and exit code as typer, from one declaration.

``carve`` (``migration.cli.app:main``) runs a plain ``carve lint`` without typer; the
full path is forced here by calling the typer application itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
import typer.main

from migration.cli import lint as lint_cli
from migration.cli.lint_command import OPTIONS, lean_lint
from tests.support.shops import build_shop

BIN = Path(sys.executable).parent
# carve's entry point with the lean start turned off: typer reads every argument
FULL = ("import sys; from migration.cli import app, lint_command; sys.argv[0] = 'carve'; "
        "lint_command.lean_lint = lambda argv: None; app.main()")


def lean(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BIN / "carve", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


def full(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", FULL, *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=120)


def test_the_typer_command_takes_its_options_from_the_one_declaration() -> None:
    single = typer.Typer(add_completion=False)
    single.command("lint")(lint_cli.lint)
    params = {p.name: p for p in typer.main.get_command(single).params}
    assert set(params) == {"path", *OPTIONS}
    for name, option in OPTIONS.items():
        declared = option.flags[0].split("/") if option.kind is bool else option.flags
        assert [*params[name].opts, *params[name].secondary_opts] == list(declared), name
        assert params[name].default == option.default, name


@pytest.mark.parametrize("args", [
    ("--format", "json"),
    ("--format=github",),
    ("-f", "json", "--no-cache"),
    ("--strict",),
    (),
    ("--reason", "why"),  # a usage error: one line on stderr, exit 2
])
def test_the_lean_start_prints_and_exits_as_typer_does(tmp_path: Path, args: tuple[str]) -> None:
    codebase = build_shop("raw_sql", tmp_path)
    for run in (full, lean, lean):  # the lean runs: cold, then from the cache
        ran = run("lint", *args, codebase, cwd=tmp_path)
        if run is full:
            expected = ran
            assert expected.returncode in (1, 2), expected.stderr
        assert (ran.returncode, ran.stdout, ran.stderr) == (
            expected.returncode, expected.stdout, expected.stderr), run.__name__


def test_the_lean_start_sees_an_edit_after_a_cached_run(tmp_path: Path) -> None:
    codebase = build_shop("clean", tmp_path)
    assert lean("lint", "--format", "json", cwd=codebase).returncode == 0
    models = next((codebase / "shop_clean" / "modules" / "orders").rglob("models.py"))
    models.write_text(models.read_text() + '\nx = ForeignKey("customers_customers.id")\n')
    after = lean("lint", "--format", "json", cwd=codebase)
    assert after.returncode == 1 and '"data.foreign-key"' in after.stdout
    assert (after.returncode, after.stdout) == (
        (ran := full("lint", "--format", "json", cwd=codebase)).returncode, ran.stdout)


def test_the_lean_start_flushes_its_whole_report_before_it_exits(tmp_path: Path) -> None:
    """It ends without the interpreter's teardown: block-buffered output is flushed first."""
    codebase = build_shop("raw_sql", tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    for _ in range(2):  # cold, then from the cache
        ran = subprocess.run([BIN / "carve", "lint", "--format", "json"], capture_output=True,
                             text=True, cwd=codebase, env=env, timeout=120)
        assert ran.returncode == 1, ran.stderr
        assert [v["rule"] for v in json.loads(ran.stdout)["violations"]] == ["data.raw-sql"]


@pytest.mark.parametrize("argv", [
    [], ["modules"], ["--version"], ["lint", "--help"], ["lint", "-fjson"],
    ["lint", "--format", "xml"], ["lint", "--format", "json", "--format", "text"],
    ["lint", "one", "two"], ["lint", "--strict=yes"], ["lint", "--"], ["lint", "--reason"],
    ["lint", "--reason", "-x"], ["lint", "--unknown"],
])
def test_anything_else_is_left_to_typer(argv: list[str]) -> None:
    assert lean_lint(argv) is None
