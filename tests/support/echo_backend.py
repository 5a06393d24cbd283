"""A small ASGI upstream for gateway tests: it reports what reached it.

``BACKEND_NAME`` names it in every answer; ``BACKEND_STATUS`` makes every answer that
status (an upstream in trouble). Paths: ``/slow?ms=N`` waits, ``/redirect`` answers 302
to its own address, ``/download?mb=N`` streams
N MiB, ``/json`` answers a document with a volatile ``generated_at``; anything else echoes
method, path, query, headers and the number of body bytes (counted, never held).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from urllib.parse import parse_qs

NAME = os.environ.get("BACKEND_NAME", "backend")
STATUS = int(os.environ.get("BACKEND_STATUS", "200"))


async def app(scope, receive, send):  # noqa: D103 - ASGI entry point
    if scope["type"] != "http":
        return
    query = parse_qs(scope["query_string"].decode())
    size = 0
    more = True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    path = scope["path"]
    if path == "/slow":
        await asyncio.sleep(int(query.get("ms", ["100"])[0]) / 1000)
    if path == "/redirect":  # to the upstream's own address, as a naive app writes it
        host, port = scope["server"]
        await send({"type": "http.response.start", "status": 302,
                    "headers": [(b"location", f"http://{host}:{port}/moved".encode()),
                                (b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})
        return
    if path == "/download":
        await _download(send, int(query.get("mb", ["1"])[0]))
        return
    if path == "/json":
        document = {"name": NAME, "items": [1, 2, 3], "generated_at": time.time()}
    else:
        document = {"upstream": NAME, "method": scope["method"], "path": path,
                    "query": scope["query_string"].decode(), "body_bytes": size,
                    "headers": {k.decode(): v.decode() for k, v in scope["headers"]}}
    body = json.dumps(document).encode()
    status = 200 if path == "/ready" else STATUS
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"x-backend", NAME.encode()),
                            (b"connection", b"keep-alive, x-secret-hop"),
                            (b"x-secret-hop", b"must not pass")]})
    await send({"type": "http.response.body", "body": body})


async def _download(send, megabytes: int) -> None:
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/octet-stream")]})
    chunk = b"x" * (1024 * 1024)
    for _ in range(megabytes):
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})
