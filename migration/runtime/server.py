"""The server binding: a FastAPI router generated from a contract.

Path, query and body parameters come from the operation's signature; the
response model from its return annotation; errors become problem bodies
(see :mod:`migration.runtime.problems`).

An implementation is synchronous (it waits on its database), so it runs in a
worker thread (:mod:`migration.runtime.worker_threads`, one hop cheaper than
anyio's). FastAPI would hop to a worker thread twice per request for a
synchronous endpoint, once to call it and once more to validate its answer; here
one hop does both: the answer is validated against the return annotation and
serialized in the thread, and FastAPI passes the finished response through.

An operation whose parameters are all plain path and query values (a string, a
number, a flag) has them validated by the route itself, with FastAPI's own fields,
instead of by FastAPI's dependency solver, which works out again on each request
what kind of parameter each one is. Anything that solver would do more (an
invalid or missing value, dependencies, a body, FastAPI's own telemetry) goes to
FastAPI's handler, so errors and behaviour are FastAPI's.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from copy import deepcopy
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request
from fastapi import routing as fastapi_routing
from fastapi.dependencies.models import Dependant
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import ResponseValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.utils import is_body_allowed_for_status_code
from pydantic import Json, TypeAdapter, ValidationError

from contracts.contract import Contract, OperationSpec, Parameter
from migration.runtime.worker_threads import WorkerThreads

try:  # FastAPI's own telemetry (0.16x): while it observes a request, its handler serves it
    from fastapi.telemetry import get_telemetry_data
except ImportError:  # pragma: no cover - a FastAPI without it
    def get_telemetry_data() -> Any:
        return None

Provider = Callable[[], Contract]
Handler = Callable[[Request], Awaitable[Response]]
#: FastAPI field annotations read straight from the request: one value, no reshaping.
_PLAIN = (str, int, float, bool)
_WORKERS = WorkerThreads(name="carve-binding")


def router_for(contract: type[Contract], provider: Provider) -> APIRouter:
    """A router serving every operation of ``contract`` at ``/api/v<version>/<name>``.

    ``provider`` returns the implementation to call; it is looked up per request
    so that the binding behind it can change without rebuilding the router.
    """
    router = APIRouter(prefix=contract.prefix(), tags=[contract.name],
                       route_class=OperationRoute)
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


class OperationRoute(fastapi_routing.APIRoute):
    """An operation's route: FastAPI's handler, behind a shorter way for plain parameters."""

    def get_route_handler(self) -> Handler:
        full = super().get_route_handler()
        dependant = _solved_dependant(self)
        fields = _plain_fields(dependant)
        if fields is None or dependant.call is None:
            return full
        return _plain_handler(full, dependant.call, fields)


def _solved_dependant(route: fastapi_routing.APIRoute) -> Dependant:
    """The dependant FastAPI's handler solves for ``route``.

    FastAPI 0.16x builds an included route's handler for the route as included (the
    dependencies of ``include_router`` and of the app added); older versions copy
    the route, so its own dependant is that one.
    """
    current = getattr(fastapi_routing, "_effective_route_context_var", None)
    context = current.get() if current is not None else None
    if context is not None and getattr(context, "original_route", None) is route:
        return context.dependant
    return route.dependant


def _plain_fields(dependant: Dependant) -> tuple[tuple[Any, str, tuple[str, str]], ...] | None:
    """``(field, name, location)`` of each parameter, if all are plain path or query values.

    None when FastAPI's solver has more to do than read and validate them: a body,
    headers, cookies, dependencies, the request or the response as an argument, or a
    parameter that is a list, a model, JSON or read under another name.
    """
    if (dependant.dependencies or dependant.body_params or dependant.header_params
            or dependant.cookie_params or dependant.request_param_name
            or dependant.websocket_param_name or dependant.http_connection_param_name
            or dependant.response_param_name or dependant.background_tasks_param_name
            or dependant.security_scopes_param_name):
        return None
    located = [("path", f) for f in dependant.path_params] + [
        ("query", f) for f in dependant.query_params]
    fields = []
    for location, field in located:
        info = field.field_info
        if (info.annotation not in _PLAIN or any(type(item) is Json for item in info.metadata)
                or field.alias != field.name or info.validation_alias is not None):
            return None
        fields.append((field, field.name, (location, field.name)))
    return tuple(fields)


def _plain_handler(full: Handler, call: Callable[..., Awaitable[Response]],
                   fields: tuple[tuple[Any, str, tuple[str, str]], ...]) -> Handler:
    """Validate each value with FastAPI's field and call the endpoint; else FastAPI's handler.

    A value that is missing where required, or invalid, goes to ``full``, which validates
    all of them again and answers FastAPI's 422 (every error, its telemetry and log).
    """

    async def handle(request: Request) -> Response:
        if get_telemetry_data() is not None:
            return await full(request)
        values: dict[str, Any] = {}
        for field, name, loc in fields:
            given = (request.path_params if loc[0] == "path" else request.query_params).get(name)
            if given is None:
                if field.field_info.is_required() or field.field_info.validate_default:
                    return await full(request)
                values[name] = deepcopy(field.default)
                continue
            value, errors = field.validate(given, values, loc=loc)
            if errors:
                return await full(request)
            values[name] = value
        return await call(**values)

    return handle


def _endpoint(spec: OperationSpec, provider: Provider) -> Callable[..., Any]:
    answer = _answer(spec)

    def respond(kwargs: dict[str, Any]) -> Response:
        return answer(getattr(provider(), spec.name)(**kwargs))

    async def endpoint(**kwargs: Any) -> Response:
        return await _WORKERS.run(respond, kwargs)

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
