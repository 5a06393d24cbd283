"""Problem bodies (RFC 9457) the gateway answers with itself, written straight to ASGI."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from migration.gateway.gateway_settings import GATEWAY
from migration.runtime.problems import PROBLEM_MEDIA_TYPE, problem

Send = Callable[[dict], Awaitable[None]]


async def send_problem(send: Send, status: int, code: str, title: str, detail: str,
                       upstream: str = GATEWAY, request_id: bytes = b"",
                       headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """Answer with a problem body; ``X-Carve-Upstream`` says whose failure it was."""
    body = json.dumps(problem(status, code, title, detail)).encode()
    all_headers = [(b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                   (b"content-length", str(len(body)).encode()),
                   (b"x-carve-upstream", upstream.encode())]
    if request_id:
        all_headers.append((b"x-request-id", request_id))
    await send({"type": "http.response.start", "status": status,
                "headers": all_headers + (headers or [])})
    await send({"type": "http.response.body", "body": body})
