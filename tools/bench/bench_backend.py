"""The benchmark's backend: the smallest ASGI app, so the proxies' cost is what shows."""

BODY = b'{"sku":"sku-1","available":true}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope, receive, send):  # noqa: D103 - ASGI entry point
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
