"""The gateway's span per request, when tracing is on (``carve run gateway`` with an exporter).

The span continues the client's trace (its ``traceparent``, if any) and is the
parent of the upstream's: the request goes out with the span's own context, so
gateway, monolith or service, outbox, queue and worker make one trace.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import propagate
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from migration.gateway.forwarding import Inbound
from migration.gateway.routes import Route
from migration.gateway.traffic_metrics import UNROUTED
from migration.runtime.tracing import TRACEPARENT, tracer


class RequestSpan:
    """The span of one request, told what answered it."""

    def __init__(self, span: Span) -> None:
        self.span = span

    def answered(self, outcome: tuple[str, int] | None) -> None:
        """Record the upstream and status (None: refused or the client went away)."""
        if outcome is None:
            return
        upstream, status = outcome
        self.span.set_attribute("carve.upstream", upstream)
        self.span.set_attribute("http.response.status_code", status)
        if status >= 500:
            self.span.set_status(Status(StatusCode.ERROR))


@contextmanager
def request_span(scope: dict, route: Route | None, inbound: Inbound) -> Iterator[RequestSpan]:
    """A server span for the request; ``inbound`` then carries the span's own context."""
    parent = propagate.extract({TRACEPARENT: inbound.traceparent.decode("latin-1")})
    label = route.prefix if route else UNROUTED
    with tracer().start_as_current_span(
            f"{scope['method']} {label}", context=parent, kind=SpanKind.SERVER,
            attributes={"http.request.method": scope["method"], "url.path": scope["path"],
                        "carve.route": label}) as span:
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        inbound.traceparent, inbound.traced = carrier[TRACEPARENT].encode(), True
        yield RequestSpan(span)
