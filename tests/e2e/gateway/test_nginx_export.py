"""The NGINX export is configuration NGINX itself accepts (``nginx -t``) and runs as meant."""

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from migration.gateway.nginx_engine import find_nginx
from migration.runtime.errors import ConfigError
from tests.support.processes import ROOT, free_port

ROUTES = {"routes": [
    {"prefix": "/api/v1/inventory", "mode": "canary", "service": "inventory", "percent": 25},
    {"prefix": "/api/v1/users", "mode": "shadow", "service": "users",
     "sticky": {"kind": "cookie", "name": "sid"}},
    {"prefix": "/api/v1/orders", "mode": "service", "service": "orders"},
    {"prefix": "/api/v1/notifications", "mode": "canary", "service": "orders", "percent": 0,
     "sticky": {"kind": "client"}},
    {"prefix": "/legacy", "mode": "retired"},
]}
SERVICES = {"inventory": "http://127.0.0.1:8001", "users": "http://127.0.0.1:8002",
            "orders": "http://127.0.0.1:8003"}
# Tables the export once turned into configuration NGINX refused, one defect each: the
# monolith's URL and the routes.
V4, V6 = "http://127.0.0.1:8000", "http://[::1]:8000"
EDGE_CASES = {
    "percents-past-two-decimals": (V4, [
        {"prefix": "/a", "mode": "canary", "service": "inventory", "percent": 33.333},
        {"prefix": "/b", "mode": "canary", "service": "inventory", "percent": 0.001},
        {"prefix": "/c", "mode": "canary", "service": "inventory", "percent": 99.999}]),
    "route-on-root": (V4, [
        {"prefix": "/", "mode": "canary", "service": "inventory", "percent": 5}]),
    "names-that-spell-alike": (V4, [
        {"prefix": "/a", "mode": "service", "service": "my-svc"},
        {"prefix": "/b", "mode": "canary", "service": "my_svc", "percent": 10},
        {"prefix": "/c", "mode": "shadow", "service": "My_Svc"}]),
    "ipv6-upstreams": (V6, [{"prefix": "/a", "mode": "service", "service": "v6"}]),
    "cookie-and-header-names": (V4, [
        {"prefix": "/a", "mode": "canary", "service": "inventory", "percent": 50,
         "sticky": {"kind": "cookie", "name": "my.sid"}},
        {"prefix": "/b", "mode": "canary", "service": "inventory", "percent": 50,
         "sticky": {"kind": "header", "name": "x_user"}}]),
}
EDGE_SERVICES = {"inventory": "http://127.0.0.1:8001", "my-svc": "http://127.0.0.1:8002",
                 "my_svc": "http://127.0.0.1:8003", "My_Svc": "http://127.0.0.1:8004",
                 "v6": "http://[::1]:8005"}


def nginx_binary() -> str:
    try:
        return find_nginx()
    except ConfigError as exc:  # fails, never skips: tools/ci/services.sh installs it
        pytest.fail(f"NGINX is required by this test: {exc}")


def export(tmp_path: Path, routes: list[dict], monolith: str, services: dict[str, str],
           listen: int = 8080) -> Path:
    """``carve export nginx`` of this table into a file, as a user runs it."""
    (tmp_path / "routes.json").write_text(json.dumps({"routes": routes}))
    exported = tmp_path / "carve.conf"
    command = [sys.executable, "-m", "migration.cli", "export", "nginx",
               "--routes", str(tmp_path / "routes.json"), "--monolith", monolith,
               "--listen", str(listen), "--output", str(exported)]
    for name, url in services.items():
        command += ["--service", f"{name}={url}"]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True, timeout=60)
    return exported


def main_config(tmp_path: Path, exported: Path) -> Path:
    """An nginx.conf that includes the export, with every file NGINX writes under tmp_path."""
    (tmp_path / "logs").mkdir(exist_ok=True)
    temp = "".join(f"    {kind}_temp_path {tmp_path}/{kind};\n"
                   for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    main = tmp_path / "nginx.conf"
    main.write_text(f"pid {tmp_path}/nginx.pid;\nevents {{}}\nhttp {{\n    access_log off;\n"
                    f"{temp}    include {exported};\n}}\n")
    return main


def nginx_test(tmp_path: Path, exported: Path) -> None:
    checked = subprocess.run([nginx_binary(), "-t", "-c", str(main_config(tmp_path, exported)),
                              "-p", str(tmp_path), "-e", "stderr"],
                             capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    assert "syntax is ok" in checked.stderr


def test_nginx_accepts_the_exported_configuration(tmp_path):
    nginx_test(tmp_path, export(tmp_path, ROUTES["routes"], "http://127.0.0.1:8000", SERVICES))


@pytest.mark.parametrize("case", sorted(EDGE_CASES))
def test_nginx_accepts_the_export_of_tables_it_once_refused(tmp_path, case):
    monolith, routes = EDGE_CASES[case]
    services = {name: url for name, url in EDGE_SERVICES.items()
                if any(route.get("service") == name for route in routes)}
    nginx_test(tmp_path, export(tmp_path, routes, monolith, services))


@contextmanager
def running_nginx(tmp_path: Path, exported: Path, url: str) -> Iterator[None]:
    """NGINX in the foreground on the export, answering ``url``, until the block ends."""
    process = subprocess.Popen([nginx_binary(), "-c", str(main_config(tmp_path, exported)),
                                "-p", str(tmp_path), "-e", "stderr", "-g", "daemon off;"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 10
        while not answers(url):
            assert process.poll() is None, process.communicate()[0]
            assert time.monotonic() < deadline, f"{url} did not answer within 10s"
            time.sleep(0.05)
        yield
    finally:
        process.terminate()
        process.wait(timeout=10)


def answers(url: str) -> bool:
    try:
        httpx.get(url, timeout=1)
    except httpx.HTTPError:
        return False
    return True


def test_nginx_keeps_users_apart_by_a_cookie_whose_name_has_a_dot(tmp_path, monolith_url,
                                                                    inventory_url):
    # Read as $cookie_my followed by ".sid", every user had one key and one side.
    routes = [{"prefix": "/a", "mode": "canary", "service": "inventory", "percent": 50,
               "sticky": {"kind": "cookie", "name": "my.sid"}}]
    port = free_port()
    exported = export(tmp_path, routes, monolith_url, {"inventory": inventory_url}, port)
    url = f"http://127.0.0.1:{port}/a/x"
    with running_nginx(tmp_path, exported, url):
        sides = {user: httpx.get(url, cookies={"my.sid": f"user-{user}"}, timeout=5)
                 .headers["x-carve-upstream"] for user in range(24)}
        again = {user: httpx.get(url, cookies={"my": "x", "my.sid": f"user-{user}"},
                                 timeout=5).headers["x-carve-upstream"] for user in range(24)}
    assert set(sides.values()) == {"inventory", "monolith"}
    assert again == sides


def test_export_from_a_missing_route_file_is_one_line_and_exit_2(tmp_path):
    result = subprocess.run([sys.executable, "-m", "migration.cli", "export", "nginx",
                             "--routes", str(tmp_path / "nonexistent.json")],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert "nonexistent.json does not exist" in result.stderr


def test_export_of_an_upstream_with_a_base_path_is_one_line_naming_it(tmp_path):
    (tmp_path / "routes.json").write_text(json.dumps(ROUTES))
    result = subprocess.run([sys.executable, "-m", "migration.cli", "export", "nginx",
                             "--routes", str(tmp_path / "routes.json"),
                             "--service", "users=http://127.0.0.1:8002/base"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "upstream users" in result.stderr and "base path" in result.stderr


@pytest.mark.parametrize(("extra", "says"), [
    (["-o", "/nonexistent-dir/x.conf"], "cannot write"),
    (["--listen", "99999"], "--listen"),
])
def test_export_mistakes_are_a_clear_message_and_exit_2(tmp_path, extra, says):
    (tmp_path / "routes.json").write_text(json.dumps({"routes": ROUTES["routes"][-1:]}))
    result = subprocess.run([sys.executable, "-m", "migration.cli", "export", "nginx",
                             "--routes", str(tmp_path / "routes.json"), *extra],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and says in result.stderr
    assert "Traceback" not in result.stderr
