"""Benchmark: the gateway with every feature on against NGINX proxy_pass and the backend direct.

The same minimal backend is hit directly, through NGINX (``proxy_pass``, keep-alive
upstream), through ``carve run gateway``, through ``carve run gateway --engine nginx``
(NGINX carrying the traffic with carve's features, carve steering it and reading its
access log), through the same job done with aiohttp's client (full runs only) and through
the least a Python proxy can do (``floor_proxy.py``: uvloop and httptools, no features),
which shows what this machine allows any Python data plane.
carve's route is a sticky canary taking every user (so each request is bucketed by its
``x-user-id``, recorded in the canary's SLO window and the service's breaker, and counted
in the metrics), and every request carries a ``traceparent`` the gateway continues: every
target gets the same requests. One worker each, the same wrk load (``-t1 -c32``); then
carve, the engine and NGINX again with ``--workers`` processes each (carve's ``--workers``,
which is the engine's NGINX workers too, NGINX's ``worker_processes`` with ``reuseport``) to
show how each scales with the machine's cores.
Every target is up at once and the wrk runs alternate between them for a few rounds, so a
slow spell of the machine is shared; the figures are medians over the rounds. wrk and NGINX
come from Debian and are installed when missing.

    python tools/bench/gateway.py [--quick] [--json] [--seconds N] [--rounds N] [--workers N]

``ratio`` in ``--json`` is carve's requests/s over NGINX's, one worker each (carve's own
data plane); ``nginx_engine_ratio`` the same for ``--engine nginx``;
``ratio_workers`` and ``nginx_engine_ratio_workers`` the same with ``--workers`` each,
and ``scaling`` each one's requests/s with ``--workers`` over its own with one.
``*_added_p50_ms_at_reference_speed`` is an added p50 scaled to the speed of the machine
the goals were set on (at 32 connections p50 is about 32 / throughput). ``one_at_a_time``
has the direct backend, NGINX, carve, the engine and the floor under one connection
(``wrk -c1``, once each after the rounds), and ``carve_added_p50_ms_one_at_a_time`` what
the carve hop adds then, without requests queueing for a proxy's CPU. Each target's
``cpu_us`` (``user_us`` + ``system_us``) is the CPU time its processes spent per request
during its timed runs, read from ``/proc``; ``cpu_ratio`` is carve's over NGINX's.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from migration.gateway.nginx_engine import find_nginx  # noqa: E402
from tests.support.processes import free_port  # noqa: E402

NGINX_CONF = """worker_processes {workers};
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    upstream backend {{ server 127.0.0.1:{backend}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{port} reuseport;
        location / {{
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""


def ensure_tools(programs: tuple[str, ...] = ("wrk", "nginx")) -> None:
    """``programs`` from Debian (each package named as its program), installed when missing."""
    missing = [p for p in programs if not program_path(p)]
    if not missing:
        return
    print(f"installing {' '.join(missing)} from Debian …", file=sys.stderr)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=env,
                   stdout=subprocess.DEVNULL)


def program_path(program: str) -> str | None:
    return shutil.which(program) or next(
        (p for p in (f"/usr/sbin/{program}", f"/usr/bin/{program}") if Path(p).exists()), None)


def wait_ready(url: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


@contextmanager
def process(command: list[str], ready: str, env: dict[str, str] | None = None):
    proc = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **(env or {})},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(ready)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def uvicorn_app(app: str, port: int, env: dict[str, str] | None = None):
    return process([sys.executable, "-m", "uvicorn", app, "--port", str(port), "--loop",
                    "uvloop", "--http", "httptools", "--no-access-log", "--log-level",
                    "warning"], f"http://127.0.0.1:{port}/", env)


# Sent by wrk with every request, to every target: the canary's sticky key and a trace.
HEADERS = ("x-user-id: user-42", "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-"
           "00f067aa0ba902b7-01")
# carve's route: a canary with every user inside (bucketed, SLO window, breaker, metrics).
CARVE_ROUTES = {"routes": [{"prefix": "/", "mode": "canary", "service": "svc", "percent": 100,
                            "sticky": {"kind": "header", "name": "x-user-id"}}]}


def wrk(url: str, seconds: int, pid: int, connections: int = 32,
        warm_up: bool = True, settle: float = 0.0) -> dict[str, float]:
    """Requests/s, p50 and p99 (ms) of one wrk run, and the CPU time (µs) the target's
    processes (``pid`` and its descendants) spent per request, read ``settle`` seconds
    after the run (work a target does just after its requests, as reading a log, is its)."""
    headers = [arg for header in HEADERS for arg in ("-H", header)]
    load = ["-t1", f"-c{connections}"]
    if warm_up:
        subprocess.run([program_path("wrk"), *load, "-d1s", *headers, url], capture_output=True)
    before = cpu_seconds(pid)
    out = subprocess.run([program_path("wrk"), *load, f"-d{seconds}s", "--latency", *headers, url],
                         capture_output=True, text=True, check=True).stdout
    time.sleep(settle)
    user, system = (b - a for a, b in zip(before, cpu_seconds(pid), strict=True))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    return {"rps": rps, "p50_ms": _latency(out, "50%"), "p99_ms": _latency(out, "99%"),
            "cpu_us": round((user + system) / requests * 1e6, 2),
            "user_us": round(user / requests * 1e6, 2),
            "system_us": round(system / requests * 1e6, 2),
            "errors": errors(out)}


def errors(out: str) -> int:
    """Answers that were not 2xx or 3xx, and socket errors, in a wrk report."""
    answers = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                        out)
    return sum(int(n) for found in (answers, sockets) if found for n in found.groups())


def cpu_seconds(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of ``pid`` and every process descended from it (NGINX's
    workers, carve's), from ``/proc``."""
    parents: dict[int, int] = {}
    times: dict[int, tuple[int, int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = int(fields[11]), int(fields[12])
    tree, grew = {pid}, True
    while grew:
        more = {child for child, parent in parents.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(times[p][0] for p in tree if p in times) / tick,
            sum(times[p][1] for p in tree if p in times) / tick)


def _latency(out: str, percentile: str) -> float:
    value, unit = re.search(rf"{percentile}\s+([\d.]+)(us|ms|s)", out).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


TARGETS = ("direct", "nginx", "carve", "carve_nginx", "aiohttp_proxy", "python_floor",
           "nginx_workers", "carve_workers", "carve_nginx_workers")
LIGHT_TARGETS = ("direct", "nginx", "carve", "carve_nginx", "python_floor")
# carve with NGINX as its data plane reads NGINX's access log four times a second.
SETTLE = {"carve_nginx": 0.6, "carve_nginx_workers": 0.6}
# The backend's direct throughput on the machine the goals were set on. With 32 requests in
# flight and every core busy, p50 is about 32 / throughput, so latencies scale with the
# machine's speed: the added p50 is also given as it would be at that speed.
REFERENCE_DIRECT_RPS = 51_000


def run(seconds: int, rounds: int, workers: int, quick: bool) -> dict[str, object]:
    """Every target up at once, then ``rounds`` rounds of one wrk run per target in turn.

    Alternating keeps a slow spell of the machine from landing on one target only; each
    target's figures are the medians over the rounds.
    """
    ensure_tools()
    targets = [t for t in TARGETS if not (quick and t == "aiohttp_proxy")]
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
    ports: dict[str, int] = {}
    pids: dict[str, int] = {}  # whose CPU time is each target's
    with ExitStack() as stack, tempfile.TemporaryDirectory() as scratch:
        backend = ports["direct"] = free_port()
        pids["direct"] = stack.enter_context(
            uvicorn_app("tools.bench.bench_backend:app", backend)).pid
        for name, count in (("nginx", 1), ("nginx_workers", workers)):
            port = ports[name] = free_port()
            folder = Path(scratch) / name
            folder.mkdir()
            conf = folder / "nginx.conf"
            conf.write_text(NGINX_CONF.format(dir=folder, backend=backend, port=port,
                                              workers=count))
            pids[name] = stack.enter_context(process(
                [find_nginx(), "-c", str(conf), "-p", str(folder), "-e", "stderr", "-g",
                 "daemon off;"], f"http://127.0.0.1:{port}/")).pid
        routes = Path(scratch) / "routes.json"
        routes.write_text(json.dumps(CARVE_ROUTES))
        for name, count in (("carve", 1), ("carve_workers", workers)):
            port = ports[name] = free_port()
            pids[name] = stack.enter_context(process(
                [sys.executable, "-m", "migration.cli", "run", "gateway", "--port", str(port),
                 "--monolith", f"http://127.0.0.1:{backend}", "--workers", str(count),
                 "--service", f"svc=http://127.0.0.1:{backend}", "--routes", str(routes)],
                f"http://127.0.0.1:{port}/_carve/healthz", {"CARVE_ADMIN_TOKEN": "bench"})).pid
        for name, count in (("carve_nginx", 1), ("carve_nginx_workers", workers)):
            port = ports[name] = free_port()
            pids[name] = stack.enter_context(process(
                [sys.executable, "-m", "migration.cli", "run", "gateway", "--port", str(port),
                 "--engine", "nginx", "--workers", str(count), "--monolith",
                 f"http://127.0.0.1:{backend}", "--service", f"svc=http://127.0.0.1:{backend}",
                 "--routes", str(routes)],
                f"http://127.0.0.1:{port}/_carve/healthz", {"CARVE_ADMIN_TOKEN": "bench"})).pid
        if "aiohttp_proxy" in targets:
            port = ports["aiohttp_proxy"] = free_port()
            pids["aiohttp_proxy"] = stack.enter_context(uvicorn_app(
                "tools.bench.aiohttp_proxy:app", port,
                {"BENCH_UPSTREAM": f"http://127.0.0.1:{backend}"})).pid
        port = ports["python_floor"] = free_port()
        pids["python_floor"] = stack.enter_context(process(
            [sys.executable, "tools/bench/floor_proxy.py", str(port), str(backend)],
            f"http://127.0.0.1:{port}/")).pid
        windows: dict[str, dict] = {}
        for _ in range(rounds):
            for name in targets:
                runs[name].append(wrk(f"http://127.0.0.1:{ports[name]}/item", seconds,
                                      pids[name], settle=SETTLE.get(name, 0.0)))
                if name in ("carve", "carve_nginx"):  # before the 30 s window moves past
                    windows[name] = httpx.get(
                        f"http://127.0.0.1:{ports[name]}/_carve/routes",
                        headers={"authorization": "Bearer bench"},
                        timeout=5).json()["routes"][0]["slo_window"]
        # One request at a time: the latency a hop adds without 32 requests queueing for
        # the proxy's CPU (at -c32, p50 is about 32 / throughput).
        one_at_a_time = {name: wrk(f"http://127.0.0.1:{ports[name]}/item", seconds, pids[name],
                                   connections=1, warm_up=False, settle=SETTLE.get(name, 0.0))
                         for name in LIGHT_TARGETS}
    return {"runs": runs, "canary_windows": windows, "one_at_a_time": one_at_a_time,
            **{name: _medians(results) for name, results in runs.items()}}


def _medians(results: list[dict[str, float]]) -> dict[str, float]:
    """Medians of the rates and latencies; errors are counted over every round."""
    medians = {key: round(statistics.median(r[key] for r in results), 3)
               for key in results[0] if key != "errors"}
    return {**medians, "errors": sum(r["errors"] for r in results)}


def summary(results: dict[str, object], rounds: int, workers: int) -> dict[str, object]:
    direct, nginx, carve = results["direct"], results["nginx"], results["carve"]
    runs = results["runs"]
    added = [c["p50_ms"] - d["p50_ms"] for c, d in zip(runs["carve"], runs["direct"],
                                                          strict=True)]
    return {
        "benchmark": "gateway", "load": "wrk -t1 -c32", "rounds": rounds,
        "workers": workers, "cores": os.cpu_count(),
        **{name: results[name] for name in TARGETS if name in results},
        # What each carve target's canary SLO window saw (its evidence it was on).
        "canary_windows": results["canary_windows"],
        "ratio": round(carve["rps"] / nginx["rps"], 3),
        # carve steering NGINX as its data plane (--engine nginx), every feature on.
        "nginx_engine_ratio": round(results["carve_nginx"]["rps"] / nginx["rps"], 3),
        "nginx_engine_cpu_ratio": round(results["carve_nginx"]["cpu_us"] / nginx["cpu_us"], 3),
        "nginx_engine_added_p50_ms": round(results["carve_nginx"]["p50_ms"] - direct["p50_ms"],
                                           3),
        "ratio_workers": round(results["carve_workers"]["rps"]
                               / results["nginx_workers"]["rps"], 3),
        "nginx_engine_ratio_workers": round(results["carve_nginx_workers"]["rps"]
                                            / results["nginx_workers"]["rps"], 3),
        "scaling": {"carve": round(results["carve_workers"]["rps"] / carve["rps"], 3),
                    "nginx": round(results["nginx_workers"]["rps"] / nginx["rps"], 3),
                    "carve_nginx": round(results["carve_nginx_workers"]["rps"]
                                         / results["carve_nginx"]["rps"], 3)},
        # CPU per request: what each proxy costs the machine (the backend's own is
        # "direct"). It moves less than the rates with where the scheduler puts three busy
        # processes on two cores, but it does move (caches are shared): 8-35% between runs.
        "cpu_ratio": round(carve["cpu_us"] / nginx["cpu_us"], 3),
        "python_floor_cpu_ratio": round(results["python_floor"]["cpu_us"] / nginx["cpu_us"],
                                        3),
        "carve_added_p50_ms": round(carve["p50_ms"] - direct["p50_ms"], 3),
        "one_at_a_time": results["one_at_a_time"],
        **{f"{name}_added_p50_ms_one_at_a_time": round(
            results["one_at_a_time"][name]["p50_ms"]
            - results["one_at_a_time"]["direct"]["p50_ms"], 3)
           for name in LIGHT_TARGETS if name != "direct"},
        "nginx_added_p50_ms": round(nginx["p50_ms"] - direct["p50_ms"], 3),
        "carve_added_p50_ms_by_round": [round(a, 3) for a in added],
        **{f"{name}_added_p50_ms_at_reference_speed": round(
            (results[target]["p50_ms"] - direct["p50_ms"]) * direct["rps"]
            / REFERENCE_DIRECT_RPS, 3)
           for name, target in (("carve", "carve"), ("nginx_engine", "carve_nginx"),
                                ("nginx", "nginx"))},
        **({"aiohttp_ratio": round(results["aiohttp_proxy"]["rps"] / nginx["rps"], 3)}
           if "aiohttp_proxy" in results else {}),
        # What no Python proxy does better on this machine (tools/bench/floor_proxy.py).
        "python_floor_ratio": round(results["python_floor"]["rps"] / nginx["rps"], 3),
        "python_floor_added_p50_ms": round(
            results["python_floor"]["p50_ms"] - direct["p50_ms"], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="2 rounds of 2 s per target, no aiohttp target (under a minute)")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument("--seconds", type=int, default=None, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=None, help="rounds over the targets")
    parser.add_argument("--workers", type=int, default=2,
                        help="processes each for the scaling targets (default 2)")
    args = parser.parse_args()
    rounds = args.rounds or (2 if args.quick else 3)
    report = summary(run(args.seconds or (2 if args.quick else 10), rounds, args.workers,
                         args.quick), rounds, args.workers)
    if args.json:
        print(json.dumps(report))
        return
    direct = report["direct"]["p50_ms"]
    print(f"{'target':<16}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'+p50 ms':>9}"
          f"{'CPU µs/req (user+sys)':>26}")
    for name in (t for t in TARGETS if t in report):
        row = report[name]
        print(f"{name:<16}{row['rps']:>10.0f}{row['p50_ms']:>9.2f}{row['p99_ms']:>9.2f}"
              f"{row['p50_ms'] - direct:>9.2f}{row['cpu_us']:>11.1f} ({row['user_us']:.1f}"
              f" + {row['system_us']:.1f})")
    print(f"medians of {rounds} rounds; carve's added p50 by round: "
          f"{report['carve_added_p50_ms_by_round']}")
    print(f"ratio carve/nginx = {report['ratio']}  (goal ≥ 0.8); carve adds "
          f"{report['carve_added_p50_ms']} ms at p50 (goal ≤ 0.3)")
    scaling = report["scaling"]
    print(f"with {args.workers} workers each: carve/nginx = {report['ratio_workers']}, "
          f"--engine nginx/nginx = {report['nginx_engine_ratio_workers']}; scaling over one "
          f"worker: carve {scaling['carve']}, nginx {scaling['nginx']}, --engine nginx "
          f"{scaling['carve_nginx']} ({report['cores']} cores, shared with wrk and the "
          f"backend)")
    light = report["one_at_a_time"]
    print("one request at a time (wrk -c1): p50 " + ", ".join(
        f"{name} {light[name]['p50_ms']:.3f} ms" for name in LIGHT_TARGETS)
        + f"; carve adds {report['carve_added_p50_ms_one_at_a_time']} ms, NGINX "
        f"{report['nginx_added_p50_ms_one_at_a_time']} ms")
    print(f"CPU per request, carve/nginx = {report['cpu_ratio']} (the floor: "
          f"{report['python_floor_cpu_ratio']}); direct is the backend's own")
    print(f"carve --engine nginx: ratio {report['nginx_engine_ratio']}, adds "
          f"{report['nginx_engine_added_p50_ms']} ms at p50, CPU/request "
          f"{report['nginx_engine_cpu_ratio']} of NGINX's (its log reader included)")
    print(f"the canary windows: {report['canary_windows']}")
    if failed := {name: report[name]["errors"] for name in TARGETS
                  if name in report and report[name]["errors"]}:
        # A target answering errors fast would look fast: its figures are not comparable.
        print(f"errors (non-2xx/3xx answers and socket errors, all rounds): {failed}")
    print(f"this machine's backend does {report['direct']['rps']:.0f} req/s direct; scaled to "
          f"{REFERENCE_DIRECT_RPS} (the machine the goals were set on), the added p50 is: "
          f"carve {report['carve_added_p50_ms_at_reference_speed']} ms, --engine nginx "
          f"{report['nginx_engine_added_p50_ms_at_reference_speed']} ms, NGINX "
          f"{report['nginx_added_p50_ms_at_reference_speed']} ms")


if __name__ == "__main__":
    main()
