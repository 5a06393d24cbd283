"""The server binding: a FastAPI router generated from a contract.

Path, query and body parameters come from the operation's signature; the
response model from its return annotation; errors become problem bodies
(see :mod:`migration.runtime.problems`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query

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
    def endpoint(**kwargs: Any) -> Any:
        return getattr(provider(), spec.name)(**kwargs)

    endpoint.__name__ = spec.name
    endpoint.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [_fastapi_parameter(p) for p in spec.parameters]
    )
    return endpoint


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

