"""W3C trace context: carry ``traceparent`` from an incoming request to every outgoing call.

The middleware keeps the request's trace (or starts one) in a context variable;
the client binding sends a child of it with every call it makes.
"""

from __future__ import annotations

import re
import secrets
from contextvars import ContextVar
from typing import Any

TRACEPARENT = "traceparent"
_FORMAT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_current: ContextVar[str | None] = ContextVar("carve_traceparent", default=None)


def new_traceparent() -> str:
    """A traceparent that starts a new, sampled trace."""
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


def parse_traceparent(value: str | None) -> tuple[str, str, str] | None:
    """``(trace_id, parent_id, flags)`` of a valid traceparent, else None."""
    match = _FORMAT.match((value or "").strip().lower())
    if not match or set(match.group(1)) == {"0"} or set(match.group(2)) == {"0"}:
        return None
    return match.group(1), match.group(2), match.group(3)


def current_traceparent() -> str | None:
    """The traceparent of the request being handled, if any."""
    return _current.get()


def outgoing_traceparent() -> str:
    """The traceparent for an outgoing call: a child of the current trace, or a new trace."""
    parsed = parse_traceparent(current_traceparent())
    if parsed is None:
        return new_traceparent()
    trace_id, _parent, flags = parsed
    return f"00-{trace_id}-{secrets.token_hex(8)}-{flags}"


class TraceContextMiddleware:
    """ASGI middleware: adopt the caller's traceparent (or start one), echo it back."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(TRACEPARENT.encode())
        value = incoming.decode("latin-1") if incoming else None
        traceparent = value if parse_traceparent(value) else new_traceparent()
        token = _current.set(traceparent)

        async def send_with_trace(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                headers.append((TRACEPARENT.encode(), traceparent.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_trace)
        finally:
            _current.reset(token)
