"""Traces with OpenTelemetry: on when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set, free otherwise.

With an exporter (or an SDK tracer provider a test installs), HTTP apps get the
FastAPI instrumentation's server spans, the client binding a client span per call,
the relay a span per relayed row and the worker a span per applied message; the
W3C context travels in HTTP headers, in the outbox's ``headers`` column and in the
queue message's headers, so one request is one trace from the monolith to the
worker. Without one, no span is made; the caller's ``traceparent`` (or a new one)
is still carried along, so logs and downstream services share the trace id.
See docs/adr/0011-run-and-observe.md.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import context, propagate, trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags

TRACEPARENT = "traceparent"
TRACER = "carve"
_configured: list[bool] = []


def configure_tracing(service: str, environ: Mapping[str, str] | None = None) -> bool:
    """Export spans over OTLP/HTTP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (once a process).

    ``OTEL_SERVICE_NAME`` overrides ``service``. Returns whether spans are recorded.
    """
    env = os.environ if environ is None else environ
    if env.get("OTEL_EXPORTER_OTLP_ENDPOINT") and not _configured and not tracing_on():
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        name = env.get("OTEL_SERVICE_NAME") or service
        provider = TracerProvider(resource=Resource.create({"service.name": name}))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(provider)
        _configured.append(True)
    return tracing_on()


def tracing_on() -> bool:
    """Whether spans are recorded (an SDK tracer provider is installed)."""
    provider = trace.get_tracer_provider()
    return type(provider).__module__.startswith("opentelemetry.sdk")


def tracer() -> trace.Tracer:
    """carve's tracer (a no-op one while tracing is off)."""
    return trace.get_tracer(TRACER)


def instrument_app(app: Any) -> None:
    """Server spans for a FastAPI app when tracing is on; the bare context carrier otherwise."""
    if tracing_on():
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,readyz,metrics")
    else:
        app.add_middleware(TraceContextMiddleware)


@contextmanager
def client_span(operation: str, method: str, path: str) -> Iterator[None]:
    """A client span around one call of the client binding (nothing while tracing is off)."""
    if not tracing_on():
        yield
        return
    with tracer().start_as_current_span(operation, kind=SpanKind.CLIENT, attributes={
            "http.request.method": method, "url.path": path}):
        yield


def trace_headers() -> dict[str, str]:
    """The current trace context as W3C headers (a new trace when there is none)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    if TRACEPARENT not in carrier:
        carrier[TRACEPARENT] = f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"
    return carrier


def current_trace_id() -> str | None:
    """The hex trace id of the current context, if any (for log lines)."""
    span_context = trace.get_current_span().get_span_context()
    return format(span_context.trace_id, "032x") if span_context.is_valid else None


@contextmanager
def continued(headers: Mapping[str, Any] | None, name: str, kind: SpanKind,
              **attributes: str) -> Iterator[None]:
    """A span continuing the trace in ``headers`` (a message's, an outbox row's).

    Off, it only makes that context current, so what it calls carries the trace on.
    """
    parent = propagate.extract({k: v for k, v in (headers or {}).items() if isinstance(v, str)})
    token = context.attach(parent)
    try:
        if tracing_on():
            with tracer().start_as_current_span(name, kind=kind, attributes=attributes):
                yield
        else:
            yield
    finally:
        context.detach(token)


def parse_traceparent(value: str | None) -> tuple[str, str, str] | None:
    """``(trace_id, parent_id, flags)`` of a valid W3C traceparent, else None."""
    span_context = trace.get_current_span(
        propagate.extract({TRACEPARENT: value or ""})).get_span_context()
    if not span_context.is_valid:
        return None
    return (format(span_context.trace_id, "032x"), format(span_context.span_id, "016x"),
            format(span_context.trace_flags, "02x"))


class TraceContextMiddleware:
    """ASGI middleware while tracing is off: the caller's trace context (or a new one) is
    current for the request, so calls and events it causes carry the same trace id."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = dict(scope.get("headers") or []).get(TRACEPARENT.encode())
        parent = propagate.extract({TRACEPARENT: raw.decode("latin-1")} if raw else {})
        if not trace.get_current_span(parent).get_span_context().is_valid:
            parent = trace.set_span_in_context(NonRecordingSpan(SpanContext(
                int(secrets.token_hex(16), 16), int(secrets.token_hex(8), 16), is_remote=False,
                trace_flags=TraceFlags(TraceFlags.SAMPLED))))
        token = context.attach(parent)
        try:
            await self.app(scope, receive, send)
        finally:
            context.detach(token)
