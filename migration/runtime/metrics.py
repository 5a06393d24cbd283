"""Prometheus metrics of an HTTP service: requests by route and status, and their latency.

Each app gets its own registry, so several apps in one process (tests, benchmarks)
never share or clash over counters.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE",
                      "CONNECT"})


class HttpMetrics:
    """The request counter and latency histogram of one service."""

    def __init__(self, service: str) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "carve_http_requests", "HTTP requests answered, by route and status.",
            ["service", "method", "route", "status"], registry=self.registry,
        )
        self.latency = Histogram(
            "carve_http_request_duration_seconds", "Time to answer an HTTP request.",
            ["service", "method", "route"], registry=self.registry,
        )
        self.service = service
        # Each label set's counter and histogram, looked up once: ``labels()`` takes a lock
        # and builds its key on every call, and the label sets of a service are few.
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request (a method HTTP does not define as ``OTHER``: a client
        choosing it cannot add label sets without end)."""
        if method not in _METHODS:
            method = "OTHER"
        key = (method, route, status)
        series = self._series.get(key)
        if series is None:
            series = self._series.setdefault(key, (
                self.requests.labels(self.service, method, route, str(status)),
                self.latency.labels(self.service, method, route)))
        series[0].inc()
        series[1].observe(seconds)

    def exposition(self) -> Response:
        """The metrics in the Prometheus text format."""
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class MetricsMiddleware:
    """ASGI middleware timing every HTTP request, labelled by its route template."""

    def __init__(self, app: Any, metrics: HttpMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), [500]

        async def send_recording_status(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_recording_status)
        finally:
            # The route template, not the raw path, keeps the label set small.
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.observe(scope["method"], route, status[0],
                                 time.perf_counter() - started)


def install_metrics(app: FastAPI, service: str) -> HttpMetrics:
    """Time every request of ``app`` and serve ``GET /metrics``."""
    metrics = HttpMetrics(service)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_api_route("/metrics", metrics.exposition, methods=["GET"], tags=["health"],
                      operation_id="metrics", include_in_schema=True,
                      summary="Metrics in the Prometheus text format.")
    return metrics
