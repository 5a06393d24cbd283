"""What the gateway adds to, removes from and passes on with each request and response."""

from __future__ import annotations

from binascii import hexlify
from dataclasses import dataclass
from random import getrandbits

# RFC 9110 7.6.1: meaningful for one connection only, never forwarded. ``expect`` is answered
# by the server the client talks to; ``proxy-connection`` is a widespread non-standard one.
HOP_BY_HOP = frozenset({
    b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te",
    b"trailer", b"transfer-encoding", b"upgrade", b"proxy-connection", b"expect",
})
# Set by the gateway itself from what it knows, never trusted from the client as is.
_REPLACED = frozenset({b"host", b"content-length", b"x-forwarded-proto", b"x-forwarded-host",
                       b"x-forwarded-for", b"x-request-id", b"traceparent"})


@dataclass(slots=True)
class Inbound:
    """A client request's headers, sorted into what is forwarded and what the gateway uses."""

    headers: list[tuple[bytes, bytes]]
    host: bytes
    forwarded_for: bytes
    request_id: bytes
    traceparent: bytes
    content_length: int | None
    chunked: bool
    sticky_value: bytes | None
    traced: bool = False  # traceparent is the gateway's own span: forward it as it is


def read_inbound(scope: dict, sticky_header: bytes | None) -> Inbound:
    """One pass over the client's headers."""
    forwarded: list[tuple[bytes, bytes]] = []
    host = forwarded_for = request_id = traceparent = b""
    content_length: int | None = None
    chunked = False
    sticky_value: bytes | None = None
    connection_tokens: set[bytes] = set()
    for name, value in scope["headers"]:
        if name == sticky_header:
            sticky_value = value
        if name in HOP_BY_HOP or name in _REPLACED:
            if name == b"host":
                host = value
            elif name == b"content-length":
                content_length = int(value) if value.isdigit() else -1
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"x-forwarded-for":
                forwarded_for = value
            elif name == b"x-request-id":
                request_id = value
            elif name == b"traceparent":
                traceparent = value
            elif name == b"connection":
                connection_tokens.update(t.strip().lower() for t in value.split(b","))
            continue
        forwarded.append((name, value))
    if connection_tokens:
        # Headers named in Connection are hop-by-hop too (RFC 9110 7.6.1).
        forwarded = [(n, v) for n, v in forwarded if n not in connection_tokens]
    return Inbound(forwarded, host, forwarded_for, request_id or new_request_id(),
                   traceparent, content_length, chunked, sticky_value)


def new_request_id() -> bytes:
    """An ``X-Request-Id`` for a request that came without one."""
    return _hex(128)


def child_traceparent(traceparent: bytes) -> bytes:
    """The W3C trace context for the upstream: the same trace, the gateway's span as parent."""
    around = around_parent_id(traceparent)
    if around is not None:
        return around[0] + new_span_id() + around[1]
    ids = _hex(192)  # a new trace and the gateway's span, from one draw
    return b"00-" + ids[:32] + b"-" + ids[32:] + b"-01"


def around_parent_id(traceparent: bytes) -> tuple[bytes, bytes] | None:
    """A valid ``traceparent``'s parts before and after its parent id (its version and
    trace id; its flags), which a child keeps; ``None`` when it is not one to continue."""
    if len(traceparent) == 55 and traceparent.count(b"-") == 3 \
            and traceparent[2:3] == traceparent[35:36] == traceparent[52:53] == b"-" \
            and not traceparent.translate(None, _LOWER_HEX_AND_DASH):
        return traceparent[:36], traceparent[52:]
    return None


# W3C trace context: its fields are lower-case hex; anything else starts a new trace.
_LOWER_HEX_AND_DASH = b"0123456789abcdef-"


def new_span_id() -> bytes:
    """The gateway's own span id, as the parent id of the context it sends upstream."""
    return _hex(64)


def _hex(bits: int) -> bytes:
    # Identifiers, not secrets: the Mersenne Twister spares a system call per request.
    return hexlify(getrandbits(bits).to_bytes(bits >> 3, "little"))


def target(scope: dict) -> bytes:
    """The request target as the client sent it: raw path and query."""
    raw = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string")
    return raw + b"?" + query if query else raw


def request_head(method: str, target: bytes, inbound: Inbound, scope: dict,
                 upstream_host: bytes, body_length: int | None) -> bytes:
    """The request line and headers sent upstream; ``body_length`` None means chunked."""
    before, after = header_block(method, inbound, scope, upstream_host, body_length)
    trace = inbound.traceparent if inbound.traced else child_traceparent(inbound.traceparent)
    return join_head(method.encode(), target, before, inbound.request_id, trace, after)


def header_block(method: str, inbound: Inbound, scope: dict, upstream_host: bytes,
                 body_length: int | None) -> tuple[bytes, bytes]:
    """The headers sent upstream, in two parts around the two that change with every
    request (its id and its trace context): what the same client's next request with the
    same headers to the same upstream can be sent with again (see :func:`join_head`)."""
    client = scope.get("client")
    client_addr = client[0].encode() if client else b""
    xff = inbound.forwarded_for + b", " + client_addr if inbound.forwarded_for else client_addr
    before = b"".join((b" HTTP/1.1\r\nhost: ", upstream_host, b"\r\nx-forwarded-for: ", xff,
                       b"\r\nx-forwarded-proto: ", scope.get("scheme", "http").encode(),
                       b"\r\nx-forwarded-host: ", inbound.host, b"\r\nx-request-id: "))
    lines = []
    if body_length is None:
        lines.append(b"\r\ntransfer-encoding: chunked")
    elif body_length or method not in ("GET", "HEAD", "DELETE", "OPTIONS"):
        lines += [b"\r\ncontent-length: ", str(body_length).encode()]
    for name, value in inbound.headers:
        lines += [b"\r\n", name, b": ", value]
    lines.append(b"\r\n\r\n")
    return before, b"".join(lines)


def join_head(method: bytes, target: bytes, before: bytes, request_id: bytes,
              traceparent: bytes, after: bytes) -> bytes:
    """The request line and the :func:`header_block` parts, with this request's id and the
    trace context it goes upstream with."""
    return b"".join((method, b" ", target, before, request_id, b"\r\ntraceparent: ",
                     traceparent, after))


def response_headers(upstream: list[tuple[bytes, bytes]], upstream_name: bytes,
                     request_id: bytes, origin: bytes) -> list[tuple[bytes, bytes]]:
    """The upstream's response headers less hop-by-hop ones, plus the gateway's own.

    A ``Location`` that points at the upstream's own ``origin`` (it built the URL from the
    Host header the gateway sent) becomes a path, so the client comes back through the
    gateway instead of going round it, as NGINX's ``proxy_redirect default`` does.
    """
    tokens: set[bytes] = set()
    headers = [(b"x-carve-upstream", upstream_name), (b"x-request-id", request_id)]
    for name, value in upstream:
        if name in HOP_BY_HOP:
            if name == b"connection":
                tokens.update(t.strip().lower() for t in value.split(b","))
            continue
        if name == b"location" and value.startswith(origin):
            rest = value[len(origin):]
            if not rest or rest[:1] in b"/?#":
                value = rest if rest[:1] == b"/" else b"/" + rest
        if name != b"x-request-id":
            headers.append((name, value))
    if tokens:
        headers = [(n, v) for n, v in headers if n not in tokens]
    return headers
