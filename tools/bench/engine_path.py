"""Benchmark: NGINX's own work per proxied GET as carve's engine, against plain ``proxy_pass``.

``tools/bench/gateway.py`` measures requests/s and CPU time on two cores shared by wrk,
the backend and the proxy: its figures move with the machine (the engine's ratio was
0.73-0.92 on one day's machine, 0.80-0.98 on another's). This one counts what NGINX itself
executes per request, with valgrind's callgrind: instructions, the same from run to run
whatever else the machine is doing, so that a change to the engine's configuration is judged
by one run (ADR 0017 does the same for carve's own data plane with ``gateway_path.py``).

Two configurations of one NGINX, each in one process (``master_process off``):

- the engine: the configuration ``carve run gateway --engine nginx`` writes
  (``NginxEngine.render``) for the system bench's route, a sticky canary taking every user,
  with every feature on (request id, trace context continued with a new span, the service's
  answer handed to the monolith when it fails, the access log carve reads, the refused-path
  check);
- NGINX: plain ``proxy_pass`` to a keep-alive upstream, as in ``gateway.py``.

Each serves ``N`` and then ``4N`` GETs from one client, one at a time on keep-alive
connections (NGINX's default closes one after 1,000 requests, as under wrk: a new
connection per 1,000 requests for both configurations), with the system bench's headers,
from a fresh start under callgrind; the difference between the two runs' counts over ``3N``
is the work of one request, start-up and shut-down cancelled out. The upstreams (the
monolith and the service) are another NGINX, not counted, that answers at once, keeps its
connections, and logs the request id and trace context each request came with (its
answers are the same for both configurations). Every answer is
checked, so that a broken path cannot look cheap: the engine's is the service's body, with
a new request id each time, the one the service was sent, and the client's trace continued
with a new span; plain NGINX's passes the client's trace as it came; and the engine's
access log has one line per request, the service's 200. What the kernel does for NGINX
(system calls) is not counted: ``gateway.py``'s ``cpu_us`` has it. The count is the same
from run to run for one build of NGINX and its libraries, whatever the machine's load or
speed; another build counts differently.

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
from migration.gateway.nginx_engine import EngineFailed, NginxEngine, find_nginx  # noqa: E402
from migration.gateway.routes import Route, RouteTable  # noqa: E402
from tests.support.processes import free_port  # noqa: E402
from tools.bench.gateway import (  # noqa: E402
    CARVE_ROUTES,
    HEADERS,
    NGINX_CONF,
    ensure_tools,
    process,
    program_path,
)

# The upstreams: the monolith and the service, one NGINX answering at once, uncounted, which
# logs the request id and trace context each request came with (its answers are the same
# for both configurations measured).
UPSTREAMS_CONF = """worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    log_format seen '$http_x_request_id $http_traceparent';
    access_log {dir}/seen.log seen;
    keepalive_requests 1000000;
    server {{
        listen 127.0.0.1:{monolith};
        listen 127.0.0.1:{service};
        location / {{
            default_type application/json;
            return 200 '{{"item": 42}}';
        }}
    }}
}}
"""
BODY = b'{"item": 42}'
_TRACE = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-01")
_SENT = dict(header.split(": ", 1) for header in HEADERS)  # what wrk sends in gateway.py
_CLIENT_TRACE = _TRACE.fullmatch(_SENT["traceparent"])
_TOTALS = re.compile(rb"^(?:summary|totals): (\d+)", re.MULTILINE)


def counted(binary: str, folder: Path, config: Path, port: int, requests: int,
            engine: bool, seen: Path) -> int:
    """Instructions NGINX executed, under callgrind in one process, from its start to its
    stop, serving ``requests`` GETs (each checked as the engine's when ``engine``, else as
    plain NGINX's, with what the upstreams logged in ``seen``)."""
    logged = seen.stat().st_size
    out = folder / "callgrind.out"
    out.unlink(missing_ok=True)
    nginx = subprocess.Popen(
        [program_path("valgrind"), "--tool=callgrind", f"--callgrind-out-file={out}", binary,
         "-p", str(folder), "-c", str(config), "-e", str(folder / "stderr.log"),
         "-g", "daemon off; master_process off;"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        connection = _connect(port, nginx, folder)
        request_ids: list[str] = []
        for _ in range(requests):
            connection.request("GET", "/item", headers=_SENT)
            answer = connection.getresponse()
            body = answer.read()
            if answer.status != 200 or body != BODY:
                raise SystemExit(f"{folder.name}: NGINX answered {answer.status} {body[:200]!r}"
                                 f"{_last_error(folder)}")
            if engine:
                if answer.getheader("x-carve-upstream") != "svc":
                    raise SystemExit(f"{folder.name}: the engine's answer is not the "
                                     f"service's: {answer.getheaders()}")
                request_ids.append(answer.getheader("x-request-id") or "")
        connection.close()
        with seen.open() as upstream_log:
            upstream_log.seek(logged)
            sent = [line.split(" ") for line in upstream_log.read().splitlines()]
        _check_sent(folder.name, sent, request_ids if engine else None, requests)
    finally:
        stopped = _stop(nginx)
    if not stopped:
        raise SystemExit(f"{folder.name}: NGINX did not stop under callgrind")
    found = _TOTALS.search(out.read_bytes())
    if found is None:
        raise SystemExit(f"{folder.name}: callgrind wrote no total to {out}")
    return int(found.group(1))


def _stop(nginx: subprocess.Popen[bytes]) -> bool:
    """Stop NGINX (it flushes its log as it exits, then callgrind writes its count); False
    when it had to be killed, its count lost.

    The signal is sent again each second: one sent just after the last answer was, in some
    runs, never acted on (NGINX in one process under valgrind slept on, nothing left to
    wake it); a second one always was.
    """
    for _ in range(60):
        nginx.terminate()
        try:
            nginx.wait(timeout=1)
            return True
        except subprocess.TimeoutExpired:
            continue
    nginx.kill()
    nginx.wait()
    return False


def _last_error(folder: Path) -> str:
    """NGINX's last complaint in ``folder``, for a message."""
    said = [line for name in ("stderr.log", "error.log") if (folder / name).exists()
            for line in (folder / name).read_text().splitlines() if line.strip()]
    return f" (NGINX: {said[-1]})" if said else ""


def _connect(port: int, nginx: subprocess.Popen[bytes],
             folder: Path) -> http.client.HTTPConnection:
    """A connection to NGINX once it listens (valgrind takes a few seconds to start it)."""
    deadline = time.monotonic() + 60
    while True:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            connection.connect()
            return connection
        except OSError:
            if nginx.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{folder.name}: NGINX did not start under callgrind"
                                 f"{_last_error(folder)}") from None
            time.sleep(0.1)


def _check_sent(run: str, sent: list[list[str]], request_ids: list[str] | None,
                requests: int) -> None:
    """What the upstreams were sent (``sent``: each request's id and trace context, as they
    logged it): through the engine (``request_ids``, those its answers gave), a new id for
    each request, the one the client was given, and the client's trace continued with a
    new span; through plain NGINX, the client's trace context as it came."""
    if len(sent) != requests:
        raise SystemExit(f"{run}: the upstreams logged {len(sent)} requests for {requests}")
    if request_ids is None:
        if any(trace != _SENT["traceparent"] for _, trace in sent):
            raise SystemExit(f"{run}: plain NGINX changed the trace context it was sent")
        return
    for (request_id, trace), answered in zip(sent, request_ids, strict=True):
        span = _TRACE.fullmatch(trace)
        if request_id != answered or span is None \
                or span.group(1) != _CLIENT_TRACE.group(1) \
                or span.group(2) == _CLIENT_TRACE.group(2):
            raise SystemExit(f"{run}: the service was sent {request_id} {trace}, the client "
                             f"was answered with {answered}: not the same request id, or "
                             f"the trace not continued")
    if len(set(request_ids)) != requests:
        raise SystemExit(f"{run}: {requests} requests got {len(set(request_ids))} distinct "
                         "request ids")


def engine_config(binary: str, folder: Path, port: int, monolith: int,
                  service: int) -> Path:
    """The configuration ``carve run gateway --engine nginx`` writes for the bench's route."""
    upstreams = {"monolith": Upstream.from_url("monolith", f"http://127.0.0.1:{monolith}"),
                 "svc": Upstream.from_url("svc", f"http://127.0.0.1:{service}")}
    # carve's own gateway, which NGINX hands what it cannot do, is not called by these GETs.
    setup = EngineSetup("127.0.0.1", port, folder, free_port(), upstreams, {})
    for path in setup.temp_dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    table = RouteTable([Route(**route) for route in CARVE_ROUTES["routes"]], 1)
    engine = NginxEngine(setup, binary)
    _, text = engine.render(table)
    config = folder / "nginx.conf"
    config.write_text(text)
    try:
        engine.check(config)  # nginx -t, as carve has it check every configuration it writes
    except EngineFailed as exc:
        raise SystemExit(f"{folder.name}: {exc}") from None
    return config


def _log_lines(folder: Path) -> list[list[str]]:
    path = folder / "access.log"
    lines = path.read_text().splitlines() if path.exists() else []
    return [line.split("\t") for line in lines]


def measure(requests: int) -> dict[str, object]:
    ensure_tools(("nginx", "valgrind"))
    binary = find_nginx()  # the NGINX carve itself runs
    runs = (requests, 4 * requests)
    report: dict[str, object] = {"benchmark": "engine_path", "requests": list(runs)}
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        monolith, service = free_port(), free_port()
        while service == monolith:
            service = free_port()
        (root / "upstreams").mkdir()
        upstreams_conf = root / "upstreams" / "nginx.conf"
        upstreams_conf.write_text(UPSTREAMS_CONF.format(dir=root / "upstreams",
                                                        monolith=monolith, service=service))
        seen = root / "upstreams" / "seen.log"
        with process([binary, "-p", str(root / "upstreams"), "-c", str(upstreams_conf), "-e",
                      "stderr", "-g", "daemon off;"], f"http://127.0.0.1:{service}/"):
            for name in ("engine", "nginx"):
                counts = []
                for n in runs:
                    folder = root / f"{name}-{n}"
                    folder.mkdir()
                    port = free_port()
                    if name == "engine":
                        config = engine_config(binary, folder, port, monolith, service)
                    else:
                        config = folder / "nginx.conf"
                        config.write_text(NGINX_CONF.format(dir=folder, backend=service,
                                                            port=port, workers=1))
                    counts.append(counted(binary, folder, config, port, n, engine=name == "engine",
                                         seen=seen))
                    if name == "engine":
                        lines = _log_lines(folder)
                        if len(lines) != n or any(f[:3] != ["/", "svc", "200"] for f in lines):
                            raise SystemExit(f"{folder.name}: the engine's access log has "
                                             f"{len(lines)} lines for {n} requests, or one "
                                             "not the service's 200")
                report[f"{name}_instructions_per_request"] = round(
                    (counts[1] - counts[0]) / (runs[1] - runs[0]))
                report[f"{name}_instructions_by_run"] = counts
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
          f"requests one at a time, the difference):")
    print(f"  carve's engine, every feature on   {report['engine_instructions_per_request']:>8,}")
    print(f"  NGINX, plain proxy_pass            {report['nginx_instructions_per_request']:>8,}")
    print(f"ratio engine/nginx = {report['ratio']}")


if __name__ == "__main__":
    main()
