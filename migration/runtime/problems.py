"""Problem bodies (RFC 9457) for every error an HTTP binding can answer with."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from contracts.errors import ContractError

PROBLEM_MEDIA_TYPE = "application/problem+json"


def problem_response(body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    """A JSON response carrying a problem body with its status."""
    return JSONResponse(
        body, status_code=body["status"], media_type=PROBLEM_MEDIA_TYPE, headers=headers
    )


def problem(status: int, code: str, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    """Build a problem body."""
    return {
        "type": f"urn:carve:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }


async def _contract_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ContractError)
    retry_after = getattr(exc, "retry_after", None)
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return problem_response(exc.problem(), headers=headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(part) for part in first["loc"])
    detail = f"{where}: {first['msg']}" if where else first["msg"]
    return problem_response(
        problem(422, "request.invalid", "Request is invalid", detail, errors=errors)
    )


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "http.not_found", 405: "http.method_not_allowed"}.get(
        exc.status_code, f"http.{exc.status_code}"
    )
    body = problem(exc.status_code, code, str(exc.detail), str(exc.detail))
    return problem_response(body, headers=getattr(exc, "headers", None))


async def _unexpected_error(_request: Request, exc: Exception) -> JSONResponse:
    # Starlette logs the exception after this answer; the caller learns nothing internal.
    body = problem(500, "server.error", "Internal server error",
                   f"the server failed to answer ({type(exc).__name__}); see its log")
    return problem_response(body)


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error of the app a problem body, unexpected ones included."""
    app.add_exception_handler(Exception, _unexpected_error)
    app.add_exception_handler(ContractError, _contract_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
