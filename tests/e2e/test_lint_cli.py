"""``carve lint`` and ``carve init`` as a user runs them: exit codes, formats, export."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.shops import Shop, build_shop

FIXTURES = Path(__file__).parents[1] / "fixtures"
BIN = Path(sys.executable).parent


def carve(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BIN / "carve", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


def test_exit_codes_clean_violations_and_usage_errors(tmp_path: Path, shop: Shop) -> None:
    assert carve("lint", shop("clean")).returncode == 0
    assert carve("lint", shop("raw_sql")).returncode == 1
    missing = carve("lint", tmp_path)
    assert missing.returncode == 2
    assert "modules package" in missing.stderr and "Traceback" not in missing.stderr
    assert carve("lint", "--format", "xml", shop("clean")).returncode == 2


def test_a_module_file_that_is_not_valid_python_is_a_usage_error(tmp_path: Path) -> None:
    """Named with its line, exit 2, no traceback: with and without the cache, in any format."""
    folder = build_shop("clean", tmp_path)
    broken = next(folder.rglob("modules/*/*.py"))
    broken.write_text(broken.read_text() + "\ndef f(:\n")
    for args in (["--no-cache"], [], ["--format", "json"]):
        result = carve("lint", *args, folder)
        assert result.returncode == 2, result.stderr
        assert f"{broken}, line" in result.stderr and "Traceback" not in result.stderr


def test_json_output_is_one_document(shop: Shop) -> None:
    result = carve("lint", "--format", "json", shop("unknown_event"))
    document = json.loads(result.stdout)
    assert document["violations"][0]["rule"] == "events.unknown"
    assert result.returncode == 1


def test_exported_importlinter_contracts_give_the_same_verdict(
    tmp_path: Path, shop: Shop
) -> None:
    for codebase, verdict in (("clean", 0), ("direct_import", 1), ("indirect_import", 1)):
        config = tmp_path / f"{codebase}.ini"
        assert carve("lint", shop(codebase), "--export-importlinter", config).returncode == 0
        raw = subprocess.run([BIN / "lint-imports", "--no-cache", str(config)],
                             capture_output=True, text=True, cwd=shop(codebase), timeout=120)
        assert raw.returncode == verdict, raw.stdout + raw.stderr
        assert carve("lint", shop(codebase)).returncode == verdict


def test_init_writes_a_config_that_lint_accepts_and_refuses_to_overwrite(tmp_path: Path) -> None:
    codebase = build_shop("foreign_key", tmp_path)
    (codebase / "carve.toml").unlink()
    created = carve("init", codebase)
    assert created.returncode == 0, created.stderr
    text = (codebase / "carve.toml").read_text()
    assert 'modules = "shop_foreign_key.modules"' in text
    assert 'shared = [\n    "shop_foreign_key.contracts",\n]' in text
    assert carve("lint", codebase).returncode == 1  # the foreign key is still found
    again = carve("init", codebase)
    assert again.returncode == 2 and "--force" in again.stderr
    assert carve("init", codebase, "--force").returncode == 0


def test_analyze_writes_the_picture_and_prints_the_order(tmp_path: Path) -> None:
    codebase = Path(shutil.copytree(FIXTURES / "coupled", tmp_path / "coupled"))
    result = carve("analyze", "--graph", tmp_path / "modules.svg", codebase)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "modules.svg").read_text().startswith("<svg")
    assert "extraction order" in result.stdout
    assert result.stdout.index("1. shipping") < result.stdout.index("4. billing")
    refused = carve("analyze", "--graph", tmp_path / "modules.png", codebase)
    assert refused.returncode == 2 and ".svg" in refused.stderr


def test_init_on_a_missing_folder_says_so(tmp_path: Path) -> None:
    result = carve("init", tmp_path / "nope")
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {tmp_path / 'nope'}: no such directory"


def test_analyze_refuses_an_unwritable_graph_and_an_unknown_date_in_one_line(
    tmp_path: Path,
) -> None:
    missing = carve("analyze", "--graph", tmp_path / "nodir" / "x.svg", FIXTURES / "clean")
    assert missing.returncode == 2
    assert missing.stderr.strip() == (f"error: cannot write {tmp_path / 'nodir' / 'x.svg'}: "
                                      f"no such folder {tmp_path / 'nodir'}")
    undated = carve("analyze", "--since", "notadate", FIXTURES / "clean")
    assert undated.returncode == 2
    assert undated.stderr.startswith("error: --since 'notadate': expected a date YYYY-MM-DD")
    assert "Traceback" not in undated.stderr


def test_a_reason_without_update_baseline_is_a_usage_error() -> None:
    result = carve("lint", "--reason", "x", FIXTURES / "clean")
    assert result.returncode == 2
    assert result.stderr.strip() == ("error: --reason explains new baseline entries: "
                                     "use it with --update-baseline")


def test_updating_the_baseline_of_a_clean_codebase_writes_no_file(tmp_path: Path) -> None:
    codebase = Path(shutil.copytree(FIXTURES / "clean", tmp_path / "clean"))
    result = carve("lint", "--update-baseline", codebase)
    assert result.returncode == 0, result.stderr
    assert "nothing to baseline" in result.stdout
    assert not (codebase / "carve-baseline.toml").exists()


def test_cached_and_uncached_runs_print_the_same_and_no_cache_writes_nothing(
    tmp_path: Path,
) -> None:
    codebase = build_shop("raw_sql", tmp_path)
    uncached = carve("lint", "--no-cache", "--format", "json", codebase)
    assert not (codebase / ".carve").exists()
    cold, warm = (carve("lint", "--format", "json", codebase) for _ in range(2))
    assert (codebase / ".carve" / "cache" / "lint" / "findings.json").exists()
    for run in (cold, warm):
        assert (run.returncode, run.stdout, run.stderr) == (
            uncached.returncode, uncached.stdout, uncached.stderr)
    assert uncached.returncode == 1
