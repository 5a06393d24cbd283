"""The direct path: plain GETs relayed on callbacks, over real sockets, against scripted upstreams.

Each test serves the gateway with its own HTTP server in the test's event loop and counts
what the direct path took, so that a request answered through the ASGI path instead would
not pass unnoticed. The upstreams are raw asyncio servers whose answer a path chooses.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx

from migration.gateway.bootstrap import build_gateway
from migration.gateway.gateway_settings import GatewaySettings
from migration.gateway.http1 import Cycle
from migration.gateway.proxy import Gateway
from migration.gateway.routes import Route, RouteMode, RouteTable
from migration.gateway.upstream import Timeouts
from tests.fakes import MemoryToggleStore
from tests.support.raw_http import read_responses, run
from tests.support.serving import serving

BIG = 200 * 1024


@dataclass
class Upstream:
    """A scripted HTTP/1.1 upstream; the request path picks the answer.

    ``/fail`` (a 503) and ``/silent`` (no answer) are a service's: the monolith answers them.
    """

    name: str
    connections: int = 0
    requests: list[str] = field(default_factory=list)
    heads: list[bytes] = field(default_factory=list)  # each request's head as it came
    drop_reused: bool = False  # close a connection when its second request arrives
    url: str = ""
    last_event_sent: float = 0.0  # /events: when the last event went out
    cut_off: asyncio.Event = field(default_factory=asyncio.Event)  # the gateway hung up

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        served = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if self.drop_reused and served:
                    return  # as a kept-alive connection closed by the upstream's idle timer
                path = head.split(b" ", 2)[1].decode()
                self.requests.append(path)
                self.heads.append(head)
                served += 1
                if not await self.answer(path, reader, writer):
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            self.cut_off.set()
            return
        finally:
            writer.close()

    async def answer(self, path: str, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> bool:
        """Write the answer ``path`` asks for; False to close the connection after it."""
        body = self.name.encode()
        fails = self.name != "monolith"  # the monolith answers what the service fails
        if fails and path.startswith("/fail"):
            writer.write(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\n\r\nbusy")
        elif path.startswith("/split"):
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(body))
            await writer.drain()
            await asyncio.sleep(0.05)
            writer.write(body)
        elif path.startswith("/events"):
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                         b"transfer-encoding: chunked\r\n\r\n")
            for n in range(3):
                event = b"data: %d\n\n" % n
                writer.write(b"%x\r\n%b\r\n" % (len(event), event))
                await writer.drain()
                self.last_event_sent = asyncio.get_running_loop().time()
                await asyncio.sleep(0.2)
            writer.write(b"0\r\n\r\n")
        elif path.startswith("/hints"):
            writer.write(b"HTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\n\r\n")
            await writer.drain()
            await asyncio.sleep(0.05)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhints")
        elif path.startswith("/trailers"):
            writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
                         b"5\r\nhello\r\n0\r\nx-checksum: 1\r\n\r\n")
        elif path.startswith("/extra"):
            # A second answer nobody asked for, after the first one.
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfirst")
            await writer.drain()
            await asyncio.sleep(0.05)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nstale")
        elif path.startswith("/slow-big"):
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % (3 * BIG))
            for _ in range(30):
                writer.write(b"x" * (BIG // 10))
                await writer.drain()
                await asyncio.sleep(0.05)
        elif path.startswith("/redirect"):
            # A redirect built from the Host the gateway sent, and a header that the
            # Connection header makes hop-by-hop.
            writer.write(b"HTTP/1.1 302 Found\r\nlocation: %b/next\r\nconnection: x-hop\r\n"
                         b"x-hop: secret\r\ncontent-length: 0\r\n\r\n" % self.url.encode())
        elif path.startswith("/big"):
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % BIG + b"x" * BIG)
        elif path.startswith("/cut"):
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc")
            await writer.drain()
            return False
        elif path.startswith("/stall"):
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc")
            await self.until_hung_up(reader)
            return False
        elif fails and path.startswith("/silent"):
            await self.until_hung_up(reader)
            return False
        else:
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nx-from: %b\r\n"
                         b"content-length: %d\r\n\r\n%b" % (body, len(body), body))
        await writer.drain()
        return True

    async def until_hung_up(self, reader: asyncio.StreamReader) -> None:
        """Wait (5 s at most) for the gateway to close the connection."""
        try:
            if await asyncio.wait_for(reader.read(1), 5) == b"":
                self.cut_off.set()
        except TimeoutError:
            pass


@dataclass
class Running:
    url: str
    port: int
    gateway: Gateway
    monolith: Upstream
    service: Upstream
    taken: list[str]


@asynccontextmanager
async def gateway(mode: RouteMode = RouteMode.SERVICE, percent: int = 0,
                  drop_reused: bool = False, timeout: float = 0.3,
                  graceful_seconds: float = 10.0) -> AsyncIterator[Running]:
    """A gateway with route ``/`` in ``mode`` between a scripted monolith and service."""
    monolith, service = Upstream("monolith"), Upstream("inventory", drop_reused=drop_reused)
    servers = [await asyncio.start_server(u.handle, "127.0.0.1", 0) for u in (monolith, service)]
    for upstream, server in zip((monolith, service), servers, strict=True):
        upstream.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    settings = GatewaySettings(monolith_url=monolith.url, services={"inventory": service.url},
                               timeouts=Timeouts(connect=1.0, read=timeout, total=timeout))
    route = Route(prefix="/", mode=mode, service="inventory", percent=percent)
    gw = build_gateway(settings, MemoryToggleStore(RouteTable([route])))
    taken: list[str] = []

    def direct(cycle: Cycle) -> bool:
        took = gw.direct(cycle)
        if took:
            taken.append(cycle.scope["path"])
        return took

    try:
        async with serving(gw, direct=direct, graceful_seconds=graceful_seconds) as port:
            yield Running(f"http://127.0.0.1:{port}", port, gw, monolith, service, taken)
    finally:
        for server in servers:
            server.close()


async def more(reader: asyncio.StreamReader) -> bytes:
    """The next bytes from the gateway, which must not close the connection first."""
    data = await asyncio.wait_for(reader.read(65536), 5)
    assert data, "the gateway closed the connection"
    return data


async def warm_connection(running: Running
                          ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A raw connection to the gateway after one answered request (see :func:`warmed`)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
    writer.write(b"GET /warm-up HTTP/1.1\r\nhost: x\r\n\r\n")
    await read_responses(reader, 1)
    running.taken.clear()
    return reader, writer


async def warmed(client: httpx.AsyncClient, running: Running) -> None:
    """One request first, so an upstream connection is idle for the direct path to take."""
    assert (await client.get("/warm-up")).status_code == 200
    running.taken.clear()


def warm_gets(*paths: str, mode: RouteMode = RouteMode.SERVICE,
              **options) -> tuple[Running, list[httpx.Response]]:
    """GETs of ``paths`` in turn on one client connection, after :func:`warmed`."""
    async def scenario():
        async with gateway(mode, **options) as running, \
                httpx.AsyncClient(base_url=running.url) as client:
            await warmed(client, running)
            return running, [await client.get(path) for path in paths]

    return run(scenario())


def test_a_plain_get_is_relayed_directly_with_the_same_answer_as_the_asgi_path():
    async def scenario():
        async with gateway() as running, httpx.AsyncClient(base_url=running.url) as client:
            first = await client.get("/api/items?x=1")  # no idle connection yet: ASGI path
            second = await client.get("/api/items?x=1", headers={"x-request-id": "r-2"})
            metrics = running.gateway.metrics.render({})
        return running, first, second, metrics

    running, first, second, metrics = run(scenario())
    assert running.taken == ["/api/items"]  # the second, on the connection the first left
    assert running.service.requests == ["/api/items?x=1"] * 2
    assert running.service.connections == 1
    for answer in (first, second):
        assert answer.status_code == 200 and answer.text == "inventory"
        assert answer.headers["x-carve-upstream"] == "inventory"
        assert answer.headers["x-from"] == "inventory"
    assert second.headers["x-request-id"] == "r-2"
    assert sorted(first.headers) == sorted(second.headers)
    assert ('carve_gateway_requests_total{route="/",upstream="inventory",status="200"} 2'
            in metrics)


def test_a_redirect_and_connection_named_headers_get_the_same_treatment_on_both_paths():
    async def scenario():
        async with gateway() as running, \
                httpx.AsyncClient(base_url=running.url, follow_redirects=False) as client:
            first = await client.get("/redirect")  # no idle connection yet: ASGI path
            second = await client.get("/redirect")
        return running, first, second

    running, first, second = run(scenario())
    assert running.taken == ["/redirect"]
    for answer in (first, second):
        assert answer.status_code == 302
        assert answer.headers["location"] == "/next"  # back through the gateway
        assert "x-hop" not in answer.headers and "connection" not in answer.headers
    assert sorted(first.headers) == sorted(second.headers)


def repeated_gets(headers: dict[str, str]) -> tuple[Running, list[httpx.Response]]:
    """Three GETs of /api/items with the same ``headers`` on one connection, after
    :func:`warmed` (with them too): each a repeat of the connection's last headers."""
    async def scenario():
        async with gateway() as running, httpx.AsyncClient(base_url=running.url,
                                                           headers=headers) as client:
            await warmed(client, running)
            return running, [await client.get("/api/items") for _ in range(3)]

    return run(scenario())


def test_an_empty_request_id_gets_a_new_id_for_each_request_on_both_paths():
    running, answers = repeated_gets({"x-request-id": ""})
    assert running.taken == ["/api/items"] * 3  # the same headers each time
    ids = [answer.headers["x-request-id"] for answer in answers]
    assert all(ids) and len(set(ids)) == 3, ids


def sent_header(head: bytes, name: bytes) -> bytes:
    """One header's value in a request head the upstream received."""
    values = [line.split(b": ", 1)[1] for line in head.split(b"\r\n")[1:]
              if line.lower().startswith(name + b": ")]
    assert len(values) == 1, head
    return values[0]


def test_repeated_headers_still_give_each_request_its_own_span_and_id():
    """A connection's repeated headers are read once (their trace context checked once); each
    request still goes upstream with a span of its own and the id its answer carries."""
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    cases = {"valid": f"00-{trace}-00f067aa0ba902b7-01", "invalid": f"00-{trace}-short-01"}

    async def scenario():
        seen = {}
        async with gateway() as running:
            for name, traceparent in cases.items():
                async with httpx.AsyncClient(base_url=running.url,
                                             headers={"traceparent": traceparent}) as client:
                    await warmed(client, running)
                    first = len(running.service.heads)
                    answers = [await client.get("/api/items") for _ in range(3)]
                    seen[name] = answers, running.service.heads[first:]
        return running, seen

    running, seen = run(scenario())
    assert running.taken == ["/api/items"] * 3
    for name, (answers, heads) in seen.items():
        traces = [sent_header(head, b"traceparent").decode() for head in heads]
        ids = [sent_header(head, b"x-request-id").decode() for head in heads]
        assert ids == [answer.headers["x-request-id"] for answer in answers]
        assert len(set(ids)) == 3, ids
        assert all(len(t) == 55 and t.startswith("00-") and t.endswith("-01") for t in traces)
        assert len({t[36:52] for t in traces}) == 3, traces  # a new span each time
        if name == "valid":
            assert all(t[3:35] == trace and t[36:52] != "00f067aa0ba902b7" for t in traces)
        else:  # not a context to continue: a new trace for each request
            assert len({t[3:35] for t in traces}) == 3 and trace not in "".join(traces)


def test_a_client_request_id_is_kept_on_every_repeat():
    running, answers = repeated_gets({"x-request-id": "mine-1"})
    assert running.taken == ["/api/items"] * 3
    assert [a.headers["x-request-id"] for a in answers] == ["mine-1"] * 3
    assert [sent_header(h, b"x-request-id") for h in running.service.heads[-3:]] \
        == [b"mine-1"] * 3


def test_an_http_1_0_client_is_answered_directly_and_the_connection_closed():
    async def scenario():
        async with gateway() as running:
            reader, writer = await warm_connection(running)
            writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
            writer.write(b"GET /api/items HTTP/1.0\r\nhost: x\r\n\r\n")
            answer = await asyncio.wait_for(reader.read(), 5)  # to the end: it is closed
            writer.close()
        return running, answer

    running, answer = run(scenario())
    assert running.taken == ["/api/items"]
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and body == b"inventory"
    assert b"\r\nconnection: close" in head and b"\r\ncontent-length: 9" in head


def test_a_route_change_reaches_paths_whose_decision_was_kept():
    async def scenario():
        async with gateway(RouteMode.MONOLITH) as running, \
                httpx.AsyncClient(base_url=running.url) as client:
            await warmed(client, running)
            before = await client.get("/api/items")  # decided once for this table, and kept
            running.gateway.apply(RouteTable([Route(prefix="/", mode=RouteMode.SERVICE,
                                                    service="inventory")], 2))
            await client.get("/warm-up")  # the service's first connection (ASGI path)
            after = await client.get("/api/items")
        return running, before, after

    running, before, after = run(scenario())
    assert running.taken == ["/api/items", "/api/items"]
    assert before.headers["x-carve-upstream"] == "monolith"
    assert after.headers["x-carve-upstream"] == "inventory"


def test_a_body_that_arrives_after_its_head_is_waited_for_and_sent_in_one_answer():
    running, (answer,) = warm_gets("/split")
    assert running.taken == ["/split"]
    assert answer.status_code == 200 and answer.text == "inventory"


def test_a_large_body_is_streamed_on_by_a_task():
    running, (answer, after) = warm_gets("/big", "/after")
    assert running.taken == ["/big", "/after"]  # the connection went back to the pool
    assert answer.status_code == 200 and answer.content == b"x" * BIG
    assert after.text == "inventory"
    assert running.service.connections == 1


def test_a_service_5xx_is_answered_by_the_monolith_and_counted_by_the_breaker():
    running, (answer,) = warm_gets("/fail")
    failed_calls = running.gateway.pools["inventory"].breaker._failed
    assert running.taken == ["/fail"]
    assert answer.status_code == 200 and answer.text == "monolith"
    assert answer.headers["x-carve-fallback"] == "status_503"
    assert answer.headers["x-carve-upstream"] == "monolith"
    assert failed_calls == 1
    assert running.monolith.requests == ["/fail"]


def test_a_silent_service_times_out_and_the_monolith_answers():
    running, (answer,) = warm_gets("/silent")
    assert running.taken == ["/silent"]
    assert answer.status_code == 200 and answer.text == "monolith"
    assert answer.headers["x-carve-fallback"] == "gateway.upstream_timeout"


def test_a_body_cut_short_or_stalled_is_a_problem_not_half_a_body():
    async def scenario():
        async with gateway(RouteMode.MONOLITH) as running, \
                httpx.AsyncClient(base_url=running.url) as client:
            await warmed(client, running)
            cut = await client.get("/cut")
            await warmed(client, running)
            stalled = await client.get("/stall")
        return cut, stalled

    cut, stalled = run(scenario())
    assert cut.status_code == 502 and cut.json()["code"] == "gateway.upstream_unavailable"
    assert stalled.status_code == 504 and stalled.json()["code"] == "gateway.upstream_timeout"


def test_a_kept_alive_connection_the_upstream_closed_is_retried_on_a_new_one():
    running, (answer,) = warm_gets("/again", drop_reused=True)
    assert running.taken == ["/again"]
    assert answer.status_code == 200 and answer.text == "inventory"
    assert "x-carve-fallback" not in answer.headers
    assert running.service.connections == 2
    assert running.monolith.requests == []


def test_the_retry_after_a_closed_connection_does_not_take_another_stale_one():
    async def scenario():
        async with gateway(drop_reused=True) as running, \
                httpx.AsyncClient(base_url=running.url) as client:
            # Three at once: three upstream connections, each closed when it is used again.
            await asyncio.gather(*(client.get(f"/split-{n}") for n in range(3)))
            running.taken.clear()
            answer = await client.get("/again")
        return running, answer

    running, answer = run(scenario())
    assert running.taken == ["/again"]  # the direct path's try, then the ASGI path's one retry
    assert answer.status_code == 200 and answer.text == "inventory"
    assert "x-carve-fallback" not in answer.headers
    assert running.service.connections == 4
    assert running.monolith.requests == []


def test_a_canary_splits_directly_by_the_sticky_key():
    async def scenario():
        async with gateway(RouteMode.CANARY, percent=50) as running, \
                httpx.AsyncClient(base_url=running.url) as client:
            for user in range(4):  # a connection idle on each side
                await client.get("/warm-up", headers={"x-user-id": f"warm-{user}"})
            running.taken.clear()
            upstreams = {}
            for user in range(40):
                answer = await client.get("/api/items", headers={"x-user-id": f"user-{user}"})
                again = await client.get("/api/items", headers={"x-user-id": f"user-{user}"})
                assert answer.text == again.text
                upstreams[user] = answer.headers["x-carve-upstream"]
        return running, upstreams

    running, upstreams = run(scenario())
    assert len(running.taken) == 80
    assert 8 < sum(u == "inventory" for u in upstreams.values()) < 32


def test_pipelined_gets_are_answered_in_order_and_other_requests_go_the_asgi_way():
    async def scenario():
        async with gateway(RouteMode.MONOLITH) as running:
            reader, writer = await warm_connection(running)
            writer.write(b"GET /one HTTP/1.1\r\nhost: x\r\n\r\n"
                         b"POST /two HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\nhi"
                         b"GET /three HTTP/1.1\r\nhost: x\r\n\r\n"
                         b"GET /four HTTP/1.1\r\nhost: x\r\n\r\n"
                         b"GET /_carve/healthz HTTP/1.1\r\nhost: x\r\n\r\n")
            responses = await read_responses(reader, 5)
            writer.close()
        return running, responses.done

    running, done = run(scenario())
    assert running.taken == ["/one", "/three", "/four"]
    assert [status for status, _, _ in done] == [200] * 5
    assert [body for _, _, body in done[:4]] == [b"monolith"] * 4
    assert running.monolith.requests[-4:] == ["/one", "/two", "/three", "/four"]
    assert running.monolith.connections == 1


def test_a_client_gone_before_the_answer_leaves_no_error_and_the_gateway_serving(caplog):
    async def scenario():
        async with gateway(RouteMode.MONOLITH) as running, \
                httpx.AsyncClient(base_url=running.url) as client:
            await warmed(client, running)
            reader, writer = await warm_connection(running)
            writer.write(b"GET /split HTTP/1.1\r\nhost: x\r\n\r\n")
            await writer.drain()
            writer.close()  # before the upstream's body arrives
            await asyncio.sleep(0.2)
            after = await client.get("/after")
        return running, after

    with caplog.at_level(logging.WARNING, logger="carve.gateway"):
        running, after = run(scenario())
    assert "/split" in running.taken
    assert after.status_code == 200 and after.text == "monolith"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_stream_of_unknown_length_is_passed_on_as_it_comes():
    async def scenario():
        async with gateway() as running:
            reader, writer = await warm_connection(running)
            writer.write(b"GET /events HTTP/1.1\r\nhost: x\r\n\r\n")
            received = b""
            while b"data: 0" not in received:
                received += await more(reader)
            first_event_seen = asyncio.get_running_loop().time()
            while not received.endswith(b"0\r\n\r\n"):
                received += await more(reader)
            writer.close()
        return running, first_event_seen, received

    running, first_event_seen, received = run(scenario())
    assert running.taken == ["/events"]
    assert first_event_seen < running.service.last_event_sent  # not held until the end
    assert received.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"text/event-stream" in received and b"transfer-encoding: chunked" in received
    assert [f"data: {n}".encode() in received for n in range(3)] == [True] * 3


def test_an_interim_answer_is_not_taken_for_the_response():
    running, (hints, after) = warm_gets("/hints", "/after", mode=RouteMode.MONOLITH)
    assert running.taken == ["/hints", "/after"]
    assert hints.status_code == 200 and hints.text == "hints"
    assert after.status_code == 200 and after.text == "monolith"
    assert running.monolith.connections == 1


def test_statuses_are_counted_even_when_a_pipelined_request_reuses_the_connection_at_once():
    async def scenario():
        async with gateway() as running:
            reader, writer = await warm_connection(running)
            writer.write(b"GET /big HTTP/1.1\r\nhost: x\r\n\r\n"
                         b"GET /next HTTP/1.1\r\nhost: x\r\n\r\n")
            done = (await read_responses(reader, 2)).done
            writer.close()
            return running, done, running.gateway.metrics.render({})

    running, done, metrics = run(scenario())
    assert [status for status, _, _ in done] == [200, 200]
    assert ('carve_gateway_requests_total{route="/",upstream="inventory",status="200"} 3'
            in metrics)
    assert 'status="0"' not in metrics


def test_a_large_answer_for_a_client_gone_is_not_kept_open():
    async def scenario():
        async with gateway(RouteMode.MONOLITH) as running, \
                httpx.AsyncClient(base_url=running.url) as client:
            await warmed(client, running)
            reader, writer = await warm_connection(running)
            writer.write(b"GET /slow-big HTTP/1.1\r\nhost: x\r\n\r\n")
            await writer.drain()
            writer.close()
            await asyncio.wait_for(running.monolith.cut_off.wait(), 5)
            return running

    running = run(scenario())
    assert "/slow-big" in running.taken
    assert running.monolith.cut_off.is_set()


def test_stopping_cuts_exchanges_in_flight_and_says_so(caplog):
    async def scenario():
        async with gateway(timeout=5.0, graceful_seconds=0.2) as running:
            reader, writer = await warm_connection(running)
            running.service.requests.clear()
            writer.write(b"GET /silent HTTP/1.1\r\nhost: x\r\n\r\n")
            await writer.drain()
            while not running.service.requests:
                await asyncio.sleep(0.01)
            stopping = running  # the block ends with the exchange in flight
        await asyncio.wait_for(stopping.service.cut_off.wait(), 5)
        return stopping

    with caplog.at_level(logging.WARNING, logger="carve.gateway"):
        running = run(scenario())
    assert running.taken == ["/silent"]
    assert "1 request(s) cut short" in caplog.text


def test_trailers_stay_out_of_the_head_and_unasked_answers_are_not_passed_on():
    async def scenario():
        async with gateway(RouteMode.MONOLITH) as running, \
                httpx.AsyncClient(base_url=running.url) as client:
            await warmed(client, running)
            trailers = await client.get("/trailers")
            extra = await client.get("/extra")
            await asyncio.sleep(0.2)  # the unasked answer arrives on the idle connection
            after = await client.get("/after")
        return running, trailers, extra, after

    running, trailers, extra, after = run(scenario())
    assert trailers.text == "hello" and "x-checksum" not in trailers.headers
    assert extra.text == "first"
    assert after.status_code == 200 and after.text == "monolith"
    assert running.monolith.connections == 2  # the one out of step was dropped
