"""Benchmark: the gateway's Python work per proxied GET, in one process, against the floor's.

``tools/bench/gateway.py`` measures the whole system: wrk, the backend, the kernel and the
proxy share two cores, so its figures move by 20-30% with where the scheduler puts three
busy processes. This one measures only what carve's data plane itself costs per request,
with nothing else running: the gateway is built as ``carve run gateway`` builds it (every
feature on: the same sticky canary route, SLO window, breaker, metrics, request id and
``traceparent`` as the system bench), and each request goes through its HTTP server's
protocol and its upstream connection as bytes, over transports that only record what is
written. The baseline is the floor proxy (``tools/bench/floor_proxy.py``: uvloop and
httptools, no features) driven by the same bytes in the same way. CPU time per request,
median of rounds; each answer is checked (status, upstream, the continued trace) so a
broken path cannot look fast.

    python tools/bench/gateway_path.py [--quick] [--json] [--requests N] [--rounds N]
                                       [--only carve|floor]

``ratio`` in ``--json`` is carve's microseconds per request over the floor's. ``--only``
runs one side, for counting its instructions: under ``valgrind --tool=callgrind`` with
``PYTHONHASHSEED=0``, two runs of ``--only carve --rounds 1`` with ``--requests`` 1000 and
6000 differ by 5,000 requests' worth, the same figure from run to run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import uvloop

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from migration.gateway.bootstrap import build_gateway  # noqa: E402
from migration.gateway.gateway_settings import GatewaySettings  # noqa: E402
from migration.gateway.http1 import Connections, HttpProtocol  # noqa: E402
from migration.gateway.store import open_store  # noqa: E402
from migration.gateway.upstream import UpstreamConnection  # noqa: E402
from tools.bench import floor_proxy  # noqa: E402
from tools.bench.gateway import CARVE_ROUTES  # noqa: E402

TRACE = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
# What wrk sends in tools/bench/gateway.py, and what the minimal backend answers there.
REQUEST = (b"GET /item HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nx-user-id: user-42\r\n"
           b"traceparent: " + TRACE + b"\r\n\r\n")
RESPONSE = (b"HTTP/1.1 200 OK\r\ndate: Sun, 06 Dec 2026 19:00:00 GMT\r\nserver: uvicorn\r\n"
            b"content-length: 12\r\ncontent-type: application/json\r\n\r\n"
            b'{"item": 42}')


class Recorder:
    """A transport that keeps the last bytes written and tells ``written`` of each write."""

    def __init__(self, written: Callable[[bytes], None] | None = None) -> None:
        self.written = written
        self.last = b""
        self.writes = 0
        self.closed = False

    def write(self, data: bytes) -> None:  # noqa: D102
        self.last = data
        self.writes += 1
        if self.written is not None:
            self.written(data)

    def is_closing(self) -> bool:  # noqa: D102
        return False

    def get_extra_info(self, name: str, default: object = None) -> object:  # noqa: D102
        return ("127.0.0.1", 50000) if name in ("peername", "sockname") else default

    def pause_reading(self) -> None:  # noqa: D102
        pass

    def resume_reading(self) -> None:  # noqa: D102
        pass

    def close(self) -> None:  # noqa: D102
        self.closed = True


WARM_UP = 2000  # requests before the timed rounds


def exchange(server: asyncio.Protocol, upstream: asyncio.Protocol,
             sent: list[bytes]) -> Callable[[], None]:
    """One proxied GET: the request's bytes to the proxy's server side, and, once they went
    upstream (from the callback: ``sent`` has them), the response's bytes to its upstream
    side. An IndexError here means the request did not go upstream at once."""
    def one() -> None:
        server.data_received(REQUEST)
        sent.pop()
        upstream.data_received(RESPONSE)

    return one


def timed(one: Callable[[], None], requests: int, rounds: int) -> list[float]:
    """CPU microseconds per request of each round, after a warm-up."""
    for _ in range(WARM_UP):
        one()
    per_round = []
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(requests):
            one()
        per_round.append((time.process_time() - started) / requests * 1e6)
    return per_round


async def carve(requests: int, rounds: int) -> tuple[list[float], dict[str, object]]:
    """carve's gateway, every feature on, one client and one upstream connection."""
    loop = asyncio.get_running_loop()
    with tempfile.TemporaryDirectory() as scratch:
        routes = Path(scratch) / "routes.json"
        routes.write_text(json.dumps(CARVE_ROUTES))
        backend = "http://127.0.0.1:9"  # never connected to: the upstream is a Recorder
        gateway = build_gateway(GatewaySettings(monolith_url=backend, services={"svc": backend},
                                                routes=str(routes)), open_store(str(routes)))
        await gateway.start()
        try:
            sent: list[bytes] = []
            upstream = UpstreamConnection()
            upstream.connection_made(Recorder(sent.append))
            upstream.idle = True
            gateway.pools["svc"]._idle.append(upstream)  # noqa: SLF001 - a connection made here
            client = Recorder()
            server = HttpProtocol(gateway, Connections(5.0, {}), loop, gateway.direct)
            server.connection_made(client)

            one = exchange(server, upstream, sent)
            one()
            check(client.last, upstream)
            figures = timed(one, requests, rounds)
            # The timed requests (a connection's repeats, read from its kept headers) were
            # answered like the first, each once, and each counted as the service's 200.
            check(client.last, upstream)
            sent_all = 1 + WARM_UP + requests * rounds
            counted = sum(statuses.get("200", 0) for route_label, name, statuses, _ in
                          gateway.metrics.snapshot()["series"] if name == "svc")
            if client.closed or upstream.transport.closed:  # type: ignore[union-attr]
                raise SystemExit("a connection was closed while measuring")
            if client.writes != sent_all or counted != sent_all:
                raise SystemExit(f"{sent_all} requests sent, {client.writes} answers written, "
                                 f"{counted} counted as the service's")
            route = gateway.table.match("/item")  # its window: the last 30 s of them
            window = gateway.failover.window(route).verdict(route.slo)
            return figures, {"answers": client.writes, "canary_window_requests": window.requests}
        finally:
            await gateway.stop()


def check(answer: bytes, upstream: UpstreamConnection) -> None:
    """The answer came from the service, with the gateway's request id; the request that went
    upstream continued the client's trace with a span of the gateway's own."""
    if not answer.startswith(b"HTTP/1.1 200 OK\r\n") or b"x-carve-upstream: svc\r\n" not in answer \
            or not answer.endswith(b'{"item": 42}') or b"x-request-id: " not in answer:
        raise SystemExit(f"carve's answer is not the service's: {answer!r}")
    head = upstream.transport.last  # type: ignore[union-attr]
    trace = head.split(b"\r\ntraceparent: ", 1)[-1].split(b"\r\n", 1)[0]
    if not head.startswith(b"GET /item HTTP/1.1\r\n") or trace[:36] != TRACE[:36] \
            or trace[36:52] == TRACE[36:52] or len(trace) != len(TRACE):
        raise SystemExit(f"the request sent upstream does not continue the trace: {head!r}")


async def floor(requests: int, rounds: int) -> list[float]:
    """The featureless floor proxy, the same bytes through its two protocols."""
    loop = asyncio.get_running_loop()
    idle: list[floor_proxy.Upstream] = []
    sent: list[bytes] = []
    upstream = floor_proxy.Upstream(idle)
    upstream.connection_made(Recorder(sent.append))  # type: ignore[arg-type]
    idle.append(upstream)
    client = Recorder()
    server = floor_proxy.Client(loop, 9, idle)
    server.connection_made(client)  # type: ignore[arg-type]

    one = exchange(server, upstream, sent)
    one()
    if not client.last.startswith(b"HTTP/1.1 200 OK\r\n"):
        raise SystemExit(f"the floor's answer is wrong: {client.last!r}")
    return timed(one, requests, rounds)


async def measure(requests: int, rounds: int, only: str | None) -> dict[str, object]:
    report: dict[str, object] = {"benchmark": "gateway_path", "requests": requests,
                                 "rounds": rounds}
    if only != "floor":
        carve_rounds, seen = await carve(requests, rounds)
        report |= {"carve_us_per_request": round(statistics.median(carve_rounds), 2),
                   "carve_us_by_round": [round(r, 2) for r in carve_rounds], **seen}
    if only != "carve":
        floor_rounds = await floor(requests, rounds)
        report |= {"floor_us_per_request": round(statistics.median(floor_rounds), 2),
                   "floor_us_by_round": [round(r, 2) for r in floor_rounds]}
    if only is None:
        report["ratio"] = round(statistics.median(carve_rounds)
                                / statistics.median(floor_rounds), 2)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds of 20,000 requests")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument("--requests", type=int, default=None, help="requests per round")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (median kept)")
    parser.add_argument("--only", choices=("carve", "floor"), default=None,
                        help="one side only (no ratio), e.g. to count its instructions")
    args = parser.parse_args()
    if (args.requests is not None and args.requests < 1) or \
            (args.rounds is not None and args.rounds < 1):
        parser.error("--requests and --rounds take a positive number")
    requests = args.requests or (20_000 if args.quick else 100_000)
    report = uvloop.run(measure(requests, args.rounds or (3 if args.quick else 5), args.only))
    if args.json:
        print(json.dumps(report))
        return
    print(f"CPU per proxied GET, in one process ({requests:,} requests a round, median of "
          f"{report['rounds']} rounds):")
    if "carve_us_per_request" in report:
        print(f"  carve, every feature on   {report['carve_us_per_request']:>7.2f} µs   "
              f"rounds {report['carve_us_by_round']}")
    if "floor_us_per_request" in report:
        print(f"  the floor, no features    {report['floor_us_per_request']:>7.2f} µs   "
              f"rounds {report['floor_us_by_round']}")
    if "ratio" in report:
        print(f"ratio carve/floor = {report['ratio']}; the canary window recorded "
              f"{report['canary_window_requests']} requests")


if __name__ == "__main__":
    main()
