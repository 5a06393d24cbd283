"""Logs as JSON lines with the request id and the trace id, when ``CARVE_LOG_FORMAT=json``.

The request id is the caller's ``X-Request-Id`` (the gateway sets one on every request
it forwards) or a new one, echoed on the response; the trace id is the current trace's
(``migration.runtime.tracing``), so a log line leads to its trace and back.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from migration.runtime.tracing import current_trace_id

REQUEST_ID = "x-request-id"
FORMAT_VARIABLE = "CARVE_LOG_FORMAT"
_request_id: ContextVar[str | None] = ContextVar("carve_request_id", default=None)


def json_logs(environ: Mapping[str, str] | None = None) -> bool:
    """Whether logs are JSON lines (``CARVE_LOG_FORMAT=json``)."""
    env = os.environ if environ is None else environ
    return env.get(FORMAT_VARIABLE, "").lower() == "json"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, request and trace ids."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(), "logger": record.name,
            "message": record.getMessage(),
            "request_id": _request_id.get(), "trace_id": current_trace_id(),
        }
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def log_config(level: str = "INFO") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` (and uvicorn ``log_config``) writing JSON lines."""
    handler = {"class": "logging.StreamHandler", "formatter": "json",
               "stream": "ext://sys.stdout"}
    return {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"json": handler},
        "root": {"handlers": ["json"], "level": level},
        "loggers": {name: {"handlers": [], "propagate": True}
                    for name in ("uvicorn", "uvicorn.error", "uvicorn.access")},
    }


def configure_json_logs(level: str = "INFO") -> None:
    """Make every logger of this process write JSON lines."""
    import logging.config

    logging.config.dictConfig(log_config(level))


class RequestIdMiddleware:
    """ASGI middleware: the request's id (the caller's ``X-Request-Id`` or a new one) is
    current while it is handled, and echoed on the response."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(REQUEST_ID.encode(), b"")
        request_id = given.decode("latin-1")[:200] or uuid.uuid4().hex
        token = _request_id.set(request_id)

        async def send_with_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = [*(message.get("headers") or []),
                           (REQUEST_ID.encode(), request_id.encode("latin-1"))]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            _request_id.reset(token)
