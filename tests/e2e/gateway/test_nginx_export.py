"""The NGINX export is configuration NGINX itself accepts (``nginx -t``)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.processes import ROOT

ROUTES = {"routes": [
    {"prefix": "/api/v1/inventory", "mode": "canary", "service": "inventory", "percent": 25},
    {"prefix": "/api/v1/users", "mode": "shadow", "service": "users",
     "sticky": {"kind": "cookie", "name": "sid"}},
    {"prefix": "/api/v1/orders", "mode": "service", "service": "orders"},
    {"prefix": "/api/v1/notifications", "mode": "canary", "service": "orders", "percent": 0,
     "sticky": {"kind": "client"}},
    {"prefix": "/legacy", "mode": "retired"},
]}


def nginx_binary() -> str:
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None)
    assert found, ("nginx is required by this test and was not found: install it with "
                   "`apt-get install -y nginx` (tools/ci/services.sh does)")
    return found


def test_nginx_accepts_the_exported_configuration(tmp_path):
    routes = tmp_path / "routes.json"
    routes.write_text(json.dumps(ROUTES))
    exported = tmp_path / "carve.conf"
    command = [sys.executable, "-m", "migration.cli", "export", "nginx", "--routes", str(routes),
               "--service", "inventory=http://127.0.0.1:8001",
               "--service", "users=http://127.0.0.1:8002",
               "--service", "orders=http://127.0.0.1:8003", "--output", str(exported)]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True, timeout=60)
    (tmp_path / "logs").mkdir()
    main = tmp_path / "nginx.conf"
    main.write_text(f"pid {tmp_path}/nginx.pid;\nevents {{}}\nhttp {{\n"
                    f"    include {exported};\n}}\n")
    checked = subprocess.run([nginx_binary(), "-t", "-c", str(main), "-p", str(tmp_path),
                              "-e", "stderr"], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    assert "syntax is ok" in checked.stderr


def test_export_from_a_missing_route_file_is_one_line_and_exit_2(tmp_path):
    result = subprocess.run([sys.executable, "-m", "migration.cli", "export", "nginx",
                             "--routes", str(tmp_path / "nonexistent.json")],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert "nonexistent.json does not exist" in result.stderr
