"""The CLI as a user meets it: output, JSON, and one clear line for every mistake."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.support.processes import ROOT


def carve(
    *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real command line as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "migration.cli", *args], cwd=cwd, capture_output=True, text=True,
        env={**os.environ, **(env or {})}, timeout=60,
    )


def test_version() -> None:
    result = carve("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("carve ")


def test_tables_keep_the_names_a_user_types_next_whole_in_80_columns() -> None:
    narrow = {"COLUMNS": "80"}
    modules = carve("modules", env=narrow).stdout
    analysis = carve("analyze", env=narrow).stdout
    for name in ("notifications", "inventory"):
        assert f"│ {name}" in modules and f"│ {name}" in analysis


def test_modules_json_lists_the_four_modules() -> None:
    result = carve("modules", "--json")
    assert result.returncode == 0, result.stderr
    modules = {m["name"]: m for m in json.loads(result.stdout)}
    assert sorted(modules) == ["inventory", "notifications", "orders", "users"]
    assert modules["orders"]["publishes"] == ["order.created", "order.confirmed",
                                              "order.rejected"]
    assert modules["orders"]["uses"] == ["users", "inventory"]
    assert {c["event"] for c in modules["inventory"]["consumes"]} == {"order.created"}
    assert "inventory_stock" in modules["inventory"]["tables"]
    assert {"method": "POST", "name": "place_order", "path": "/api/v1/orders"} in (
        modules["orders"]["operations"]
    )


def test_db_upgrade_then_status(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    assert carve("db", "upgrade", "users", env=env).returncode == 0
    status = json.loads(carve("db", "status", "--json", env=env).stdout)
    current = {row["module"]: row["current"] for row in status}
    assert current == {"inventory": None, "notifications": None, "orders": None,
                       "users": next(r["head"] for r in status if r["module"] == "users")}
    assert current["users"] is not None


def _one_line_error(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    message = " ".join(lines)
    for part in expected:
        assert part in message, message


def test_unknown_module(tmp_path: Path) -> None:
    result = carve("db", "upgrade", "payments",
                   env={"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"})
    _one_line_error(result, "unknown module 'payments'", "inventory, notifications")
    assert result.returncode == 2


def test_malformed_config(tmp_path: Path) -> None:
    (tmp_path / "carve.toml").write_text("[modules.users]\nbinding = 'nearby'\n")
    result = carve("modules", "--config", str(tmp_path / "carve.toml"))
    _one_line_error(result, "carve.toml", "modules.users.binding")


def test_unreachable_database_names_the_url() -> None:
    result = carve("db", "upgrade",
                   env={"DATABASE_URL": "postgresql://carve:secret@127.0.0.1:1/nowhere"})
    _one_line_error(result, "cannot reach database", "127.0.0.1:1/nowhere")
    assert "secret" not in result.stderr


def test_an_unknown_revision_is_one_line(tmp_path: Path) -> None:
    result = carve("db", "upgrade", "users", "--revision", "bogus",
                   env={"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"})
    _one_line_error(result, "module 'users'", "revision 'bogus'")


def test_modules_reports_the_binding_the_monolith_would_use() -> None:
    result = carve("modules", "--json", env={"CARVE_INVENTORY_BINDING": "remote"})
    assert result.returncode == 0, result.stderr
    bindings = {m["name"]: m["binding"] for m in json.loads(result.stdout)}
    assert bindings == {"inventory": "remote", "notifications": "local", "orders": "local",
                        "users": "local"}
    bogus = carve("modules", env={"CARVE_INVENTORY_BINDING": "bogus"})
    _one_line_error(bogus, "CARVE_INVENTORY_BINDING='bogus'", "expected one of local, remote")
    assert bogus.returncode == 2


def test_a_port_out_of_range_is_refused() -> None:
    for command in (["run", "monolith", "--port", "99999"],
                    ["run", "service", "inventory", "--port", "70000"],
                    ["run", "gateway", "--port", "99999"],
                    ["run", "monolith", "--port", "0"]):
        result = carve(*command)
        assert result.returncode == 2, command
        assert "--port" in result.stderr and "Traceback" not in result.stderr, command


def test_a_busy_port_is_one_line_before_anything_is_migrated(tmp_path: Path) -> None:
    database = tmp_path / "never.db"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        for command in (["run", "monolith", "--port", port],
                        ["run", "service", "inventory", "--path",
                         str(ROOT / "extracted" / "inventory-service"), "--port", port]):
            result = carve(*command, env={"DATABASE_URL": f"sqlite:///{database}"})
            _one_line_error(result, f"cannot listen on 127.0.0.1:{port}", "in use")
            assert result.returncode == 2
            assert len(result.stderr.strip().splitlines()) == 1, result.stderr
            assert "migrated" not in result.stdout
    assert not database.exists()
