"""Shadow mode: the monolith answers; the same request goes to the service in the background."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Coroutine, Mapping

from migration.gateway.body import RequestBody
from migration.gateway.call_record import CallRecord
from migration.gateway.exchange import exchange, forward, read_whole
from migration.gateway.failover import SAFE
from migration.gateway.forwarding import Inbound, target
from migration.gateway.gateway_settings import MONOLITH
from migration.gateway.problem_replies import Send
from migration.gateway.routes import Route
from migration.gateway.shadow_diff import ShadowRecorder, compare
from migration.gateway.upstream import UpstreamError, UpstreamPool


class ShadowMode:
    """Answers shadowed routes from the monolith and compares the service's answers."""

    def __init__(self, pools: Mapping[str, UpstreamPool], recorder: ShadowRecorder,
                 spawn: Callable[[Coroutine], object], clock: Callable[[], float],
                 capture_bytes: int, concurrency: int) -> None:
        self._pools = pools  # by name, the monolith's under MONOLITH
        self._recorder = recorder
        self._spawn = spawn  # runs a mirror in the background
        self._clock = clock
        self._capture_bytes = capture_bytes  # of each answer, for the comparison
        self._concurrency = concurrency  # mirrors at once; past it, requests are not mirrored
        self.mirrors = 0  # in flight

    async def answer(self, route: Route, scope: dict, inbound: Inbound, body: RequestBody,
                     send: Send) -> int:
        """Answer from the monolith; mirror the request to the service when the route allows."""
        capture: list[bytes] = []
        status = await forward(self._pools[MONOLITH], scope, inbound, body, send,
                               capture=capture, capture_bytes=self._capture_bytes)
        method = scope["method"]
        mirror = (method in SAFE or route.shadow.mirror_unsafe) and body.replayable
        if mirror and capture:
            if self.mirrors >= self._concurrency:
                self._recorder.stats(route.prefix).dropped += 1
            else:
                self._spawn(self._mirror(route, scope, inbound, body.content, status,
                                         capture[0]))
        return status

    async def _mirror(self, route: Route, scope: dict, inbound: Inbound, content: bytes,
                      monolith_status: int, monolith_body: bytes) -> None:
        """Send the same request to the service in the background and compare the answers."""
        self.mirrors += 1
        try:
            service_status, differences = await self._service_answer(
                route, scope, inbound, content, monolith_status, monolith_body)
        finally:
            self.mirrors -= 1
        self._recorder.record(route.prefix, scope["method"], scope["path"], monolith_status,
                              service_status, differences)

    async def _service_answer(self, route: Route, scope: dict, inbound: Inbound,
                              content: bytes, monolith_status: int,
                              monolith_body: bytes) -> tuple[int | None, list[str]]:
        """The service's status (None: not answered) and what differs."""
        pool = self._pools.get(route.service or "")
        if pool is None or not pool.breaker.allow():
            return None, ["service not called: unknown service or breaker open"]
        mirrored = dataclasses.replace(inbound, headers=[*inbound.headers,
                                                         (b"x-carve-shadow", b"1")])
        call = CallRecord(pool, None, self._clock)
        try:
            conn = await exchange(pool, scope["method"], target(scope), mirrored, scope,
                                  RequestBody.replay(content))
            status = conn.status  # read first: once released, the connection serves others
            service_body = await read_whole(conn, pool, self._capture_bytes)
        except (UpstreamError, TimeoutError) as exc:
            call.finish(True)
            return None, [f"service failed: {exc or type(exc).__name__}"]
        except BaseException:
            call.cut_short()  # the gateway stopping: a probe must always end
            raise
        call.finish(status >= 500)
        return status, compare(monolith_status, monolith_body, status, service_body,
                               route.shadow.ignore_fields)
