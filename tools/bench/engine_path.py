"""Benchmark: NGINX's own work per proxied GET as carve's engine, against plain ``proxy_pass``.

``tools/bench/gateway.py`` measures requests/s and CPU time on two cores shared by wrk,
the backend and the proxy: its figures move with the machine (the engine's ratio was
0.73-0.92 on one day's machine, 0.80-0.98 on another's). This one counts what NGINX itself
executes per request, with valgrind's callgrind: instructions, the same from run to run
whatever else the machine does, so that a change to the engine's configuration is judged
by one run (ADR 0017 does the same for carve's own data plane with ``gateway_path.py``).

Two configurations of one NGINX, each in one process (``master_process off``):

- the engine: the configuration ``carve run gateway --engine nginx`` writes
  (``NginxEngine.render``) for the system bench's route, a sticky canary taking every user,
  with every feature on (request id, trace context continued with a new span, the service's
  answer handed to the monolith when it fails, the access log carve reads, the refused-path
  check);
- NGINX: plain ``proxy_pass`` to a keep-alive upstream, as in ``gateway.py``.

Each serves ``N`` and then ``4N`` GETs on one keep-alive connection, with the system bench's
headers, from a fresh start under callgrind; the difference between the two runs' counts
over ``3N`` is the work of one request, start-up and shut-down cancelled out. The upstreams
(the monolith and the service) are another NGINX, not counted, that answers at once and
echoes the trace context it was sent. Every answer is checked (the service's, with a new
request id each time, the client's trace continued with a new span) and so is the engine's
access log (one line per request, the service's 200), so a broken path cannot look cheap.
What the kernel does for NGINX (system calls) is not counted: ``gateway.py``'s ``cpu_us``
has it.

    python tools/bench/engine_path.py [--quick] [--json] [--requests N]

``ratio`` in ``--json`` is the engine's instructions per request over plain NGINX's.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from migration.gateway.exports.spec import Upstream  # noqa: E402
from migration.gateway.nginx_config import EngineSetup  # noqa: E402
from migration.gateway.nginx_engine import NginxEngine  # noqa: E402
from migration.gateway.routes import Route, RouteTable  # noqa: E402
from tests.support.processes import free_port  # noqa: E402
from tools.bench.gateway import (  # noqa: E402
    CARVE_ROUTES,
    HEADERS,
    NGINX_CONF,
    ensure_tools,
    program_path,
)

# The upstreams: the monolith and the service, one NGINX answering at once, uncounted.
UPSTREAMS_CONF = """worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    server {{
        listen 127.0.0.1:{monolith};
        listen 127.0.0.1:{service};
        location / {{
            add_header x-seen-traceparent $http_traceparent;
            default_type application/json;
            return 200 '{{"item": 42}}';
        }}
    }}
}}
"""
_TRACE = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-01")
_TOTALS = re.compile(rb"^(?:summary|totals): (\d+)", re.MULTILINE)


def counted(binary: str, folder: Path, config: Path, port: int, requests: int,
            check: bool) -> int:
    """Instructions NGINX executed, under callgrind in one process, from its start to its
    stop, serving ``requests`` GETs on one connection (checked as the engine's when
    ``check``)."""
    out = folder / "callgrind.out"
    out.unlink(missing_ok=True)
    nginx = subprocess.Popen(  # noqa: S603 - our own tools and arguments
        [program_path("valgrind"), "--tool=callgrind", f"--callgrind-out-file={out}", binary,
         "-p", str(folder), "-c", str(config), "-e", str(folder / "stderr.log"),
         "-g", "daemon off; master_process off;"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        connection = _connect(port, nginx)
        request_ids = set()
        for _ in range(requests):
            connection.request("GET", "/item", headers=dict(h.split(": ", 1) for h in HEADERS))
            answer = connection.getresponse()
            answer.read()
            if answer.status != 200:
                raise SystemExit(f"NGINX answered {answer.status}")
            if check:
                request_ids.add(_checked(answer))
        connection.close()
        if check and len(request_ids) != requests:
            raise SystemExit(f"{requests} requests got {len(request_ids)} distinct request ids")
    finally:
        _stop(nginx)
    found = _TOTALS.search(out.read_bytes())
    if found is None:
        raise SystemExit(f"callgrind wrote no total to {out}")
    return int(found.group(1))


def _stop(nginx: subprocess.Popen[bytes]) -> None:
    """Stop NGINX: it flushes its log as it exits, then callgrind writes its count.

    The signal is sent again each second: one sent just after the last answer was, in some
    runs, never acted on (NGINX in one process under valgrind slept on, nothing left to
    wake it); a second one always was.
    """
    for _ in range(60):
        nginx.terminate()
        try:
            nginx.wait(timeout=1)
            return
        except subprocess.TimeoutExpired:
            continue
    nginx.kill()
    raise SystemExit("NGINX did not stop under callgrind")


def _connect(port: int, nginx: subprocess.Popen[bytes]) -> http.client.HTTPConnection:
    """A connection to NGINX once it listens (valgrind takes a few seconds to start it)."""
    deadline = time.monotonic() + 60
    while True:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            connection.connect()
            return connection
        except OSError:
            if nginx.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("NGINX did not start under callgrind") from None
            time.sleep(0.1)


def _checked(answer: http.client.HTTPResponse) -> str:
    """The engine's answer is the service's, and the trace went on: its request id."""
    client = _TRACE.fullmatch(HEADERS[1].split(": ", 1)[1])
    seen = _TRACE.fullmatch(answer.getheader("x-seen-traceparent") or "")
    if answer.getheader("x-carve-upstream") != "svc" or seen is None \
            or seen.group(1) != client.group(1) or seen.group(2) == client.group(2):
        raise SystemExit(f"the engine's answer is not the service's continuing the trace: "
                         f"{answer.getheaders()}")
    return answer.getheader("x-request-id") or ""


def engine_config(folder: Path, port: int, monolith: int, service: int) -> Path:
    """The configuration ``carve run gateway --engine nginx`` writes for the bench's route."""
    upstreams = {"monolith": Upstream.from_url("monolith", f"http://127.0.0.1:{monolith}"),
                 "svc": Upstream.from_url("svc", f"http://127.0.0.1:{service}")}
    # carve's own gateway, which NGINX hands what it cannot do, is not called by these GETs.
    setup = EngineSetup("127.0.0.1", port, folder, free_port(), upstreams, {})
    for path in setup.temp_dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    table = RouteTable([Route(**route) for route in CARVE_ROUTES["routes"]], 1)
    _, text = NginxEngine(setup, program_path("nginx")).render(table)
    config = folder / "nginx.conf"
    config.write_text(text)
    return config


def _log_lines(folder: Path) -> list[list[str]]:
    path = folder / "access.log"
    lines = path.read_text().splitlines() if path.exists() else []
    return [line.split("\t") for line in lines]


def measure(requests: int) -> dict[str, object]:
    ensure_tools(("nginx", "valgrind"))
    binary = program_path("nginx")
    runs = (requests, 4 * requests)
    report: dict[str, object] = {"benchmark": "engine_path", "requests": list(runs)}
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        monolith, service = free_port(), free_port()
        (root / "upstreams").mkdir()
        upstreams_conf = root / "upstreams" / "nginx.conf"
        upstreams_conf.write_text(UPSTREAMS_CONF.format(dir=root / "upstreams",
                                                        monolith=monolith, service=service))
        backend = subprocess.Popen(  # noqa: S603 - our own tools and arguments
            [binary, "-p", str(root / "upstreams"), "-c", str(upstreams_conf), "-e", "stderr",
             "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for name in ("engine", "nginx"):
                counts = []
                for n in runs:
                    folder = root / f"{name}-{n}"
                    folder.mkdir()
                    port = free_port()
                    if name == "engine":
                        config = engine_config(folder, port, monolith, service)
                    else:
                        config = folder / "nginx.conf"
                        config.write_text(NGINX_CONF.format(dir=folder, backend=service,
                                                            port=port, workers=1))
                    counts.append(counted(binary, folder, config, port, n, name == "engine"))
                    if name == "engine":
                        lines = _log_lines(folder)
                        if len(lines) != n or any(f[:3] != ["/", "svc", "200"] for f in lines):
                            raise SystemExit(f"the engine's access log has {len(lines)} lines "
                                             f"for {n} requests, or one not the service's 200")
                report[f"{name}_instructions_per_request"] = round(
                    (counts[1] - counts[0]) / (runs[1] - runs[0]))
                report[f"{name}_instructions_by_run"] = counts
        finally:
            backend.terminate()
            backend.wait(timeout=10)
    report["ratio"] = round(report["engine_instructions_per_request"]
                            / report["nginx_instructions_per_request"], 3)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 and 1,200 requests")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument("--requests", type=int, default=None,
                        help="the first run's requests (the second serves four times as many)")
    args = parser.parse_args()
    if args.requests is not None and args.requests < 1:
        parser.error("--requests takes a positive number")
    report = measure(args.requests or (300 if args.quick else 1000))
    if args.json:
        print(json.dumps(report))
        return
    first, second = report["requests"]
    print(f"Instructions NGINX executes per proxied GET (callgrind, {first:,} and {second:,} "
          f"requests on one connection, the difference):")
    print(f"  carve's engine, every feature on   {report['engine_instructions_per_request']:>8,}")
    print(f"  NGINX, plain proxy_pass            {report['nginx_instructions_per_request']:>8,}")
    print(f"ratio engine/nginx = {report['ratio']}")


if __name__ == "__main__":
    main()
