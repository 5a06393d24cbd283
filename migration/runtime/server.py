"""The server binding: a FastAPI router generated from a contract.

Path, query and body parameters come from the operation's signature; the
response model from its return annotation; errors become problem bodies
(see :mod:`migration.runtime.problems`).

An implementation is synchronous (it waits on its database), so it runs in the
worker threads. FastAPI would hop to a worker thread twice per request for a
synchronous endpoint, once to call it and once more to validate its answer; here
one hop does both: the answer is validated against the return annotation and
serialized in the thread, and FastAPI passes the finished response through.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import ResponseValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.utils import is_body_allowed_for_status_code
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool

from contracts.contract import Contract, OperationSpec, Parameter

Provider = Callable[[], Contract]


def router_for(contract: type[Contract], provider: Provider) -> APIRouter:
    """A router serving every operation of ``contract`` at ``/api/v<version>/<name>``.

    ``provider`` returns the implementation to call; it is looked up per request
    so that the binding behind it can change without rebuilding the router.
    """
    router = APIRouter(prefix=contract.prefix(), tags=[contract.name])
    for spec in contract.operations():
        router.add_api_route(
            spec.path,
            _endpoint(spec, provider),
            methods=[spec.method],
            status_code=spec.status_code,
            response_model=spec.returns,
            operation_id=f"{contract.name}.{spec.name}",
            summary=spec.summary.splitlines()[0],
            description=spec.summary,
            responses=_error_responses(),
        )
    return router


def _endpoint(spec: OperationSpec, provider: Provider) -> Callable[..., Any]:
    answer = _answer(spec)

    def respond(kwargs: dict[str, Any]) -> Response:
        return answer(getattr(provider(), spec.name)(**kwargs))

    async def endpoint(**kwargs: Any) -> Response:
        return await run_in_threadpool(respond, kwargs)

    endpoint.__name__ = spec.name
    endpoint.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [_fastapi_parameter(p) for p in spec.parameters]
    )
    return endpoint


def _answer(spec: OperationSpec) -> Callable[[Any], Response]:
    """What FastAPI does with an endpoint's answer, done in the worker thread.

    The answer is validated as FastAPI validates against a response model
    (``from_attributes``; an instance of the declared model passes as it is) and dumped
    to JSON by the same adapter; one that breaks the contract raises FastAPI's own
    ``ResponseValidationError``, answered as a 500 problem like any unexpected error.
    """
    status = spec.status_code
    if not is_body_allowed_for_status_code(status):
        return lambda _result: Response(status_code=status)
    if spec.returns is None:
        return lambda result: JSONResponse(jsonable_encoder(result), status_code=status)
    adapter: TypeAdapter[Any] = TypeAdapter(spec.returns)

    def answer(result: Any) -> Response:
        try:
            value = adapter.validate_python(result, from_attributes=True)
        except ValidationError as exc:
            errors = [{**error, "loc": ("response", *error["loc"])}
                      for error in exc.errors(include_url=False)]
            raise ResponseValidationError(errors=errors, body=result) from None
        return Response(adapter.dump_json(value, by_alias=True), status_code=status,
                        media_type="application/json")

    return answer


def _fastapi_parameter(param: Parameter) -> inspect.Parameter:
    marker: Any = {"path": Path(), "query": Query(), "body": Body()}[param.location]
    default = inspect.Parameter.empty if param.required else param.default
    return inspect.Parameter(
        param.name,
        inspect.Parameter.KEYWORD_ONLY,
        annotation=Annotated[param.annotation, marker],
        default=default,
    )


def _error_responses() -> dict[int | str, dict[str, Any]]:
    return {
        "4XX": {"description": "A problem body: type, title, status, detail, code"},
        "5XX": {"description": "A problem body: type, title, status, detail, code"},
    }

