"""The same data-plane job done with aiohttp's client: the alternative the ADR measured.

Forwards method, path, query, headers (hop-by-hop stripped) and a streamed body through one
shared ``aiohttp.ClientSession`` with a keep-alive pool, and streams the answer back.
"""

import os

import aiohttp

from migration.gateway.forwarding import HOP_BY_HOP

UPSTREAM = os.environ.get("BENCH_UPSTREAM", "http://127.0.0.1:8000")
_session: aiohttp.ClientSession | None = None


async def app(scope, receive, send):  # noqa: D103 - ASGI entry point
    global _session
    if scope["type"] != "http":
        return
    if _session is None:
        _session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=256, keepalive_timeout=30),
            auto_decompress=False, skip_auto_headers=("User-Agent", "Accept-Encoding"))
    headers = [(k.decode(), v.decode()) for k, v in scope["headers"]
               if k not in HOP_BY_HOP and k != b"host"]
    url = UPSTREAM + scope["path"] + ("?" + scope["query_string"].decode()
                                      if scope["query_string"] else "")
    message = await receive()
    async with _session.request(scope["method"], url, headers=headers,
                                data=message.get("body") or None) as response:
        out = [(k.lower(), v) for k, v in response.raw_headers if k.lower() not in HOP_BY_HOP]
        out.append((b"x-carve-upstream", b"service"))
        await send({"type": "http.response.start", "status": response.status, "headers": out})
        async for chunk in response.content.iter_any():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
