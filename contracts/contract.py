"""Contracts: the operations a module offers, declared once, bound three ways.

A contract is a class whose methods are decorated with :func:`operation`. The
method bodies are only docstrings: the implementation lives in the module
(local binding), in a generated FastAPI router (server binding) or in a
generated HTTP client (client binding).
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel

F = TypeVar("F", bound=Callable[..., Any])

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


@dataclass(frozen=True)
class Parameter:
    """One argument of an operation and where it travels over HTTP."""

    name: str
    annotation: Any
    location: str  # "path", "query" or "body"
    default: Any = inspect.Parameter.empty

    @property
    def required(self) -> bool:
        return self.default is inspect.Parameter.empty


@dataclass(frozen=True)
class OperationSpec:
    """What :func:`operation` records about one contract method."""

    name: str
    method: str
    path: str
    status_code: int
    idempotent: bool
    summary: str
    parameters: tuple[Parameter, ...]
    returns: Any

    @property
    def body(self) -> Parameter | None:
        return next((p for p in self.parameters if p.location == "body"), None)


def operation(
    method: str, path: str, *, status_code: int = 200, idempotent: bool | None = None
) -> Callable[[F], F]:
    """Mark a contract method as an operation served at ``method path``.

    Idempotency defaults from the HTTP method; the client binding retries only
    idempotent operations.
    """
    verb = method.upper()

    def mark(func: F) -> F:
        func.__carve_operation__ = {  # type: ignore[attr-defined]
            "method": verb,
            "path": path,
            "status_code": status_code,
            "idempotent": verb in _IDEMPOTENT_METHODS if idempotent is None else idempotent,
        }
        return func

    return mark


class Contract:
    """Base class of every module contract: a name, a version and operations."""

    name: ClassVar[str]
    version: ClassVar[int] = 1

    @classmethod
    def prefix(cls) -> str:
        """The URL prefix every binding serves this contract under."""
        return f"/api/v{cls.version}/{cls.name}"

    @classmethod
    def operations(cls) -> tuple[OperationSpec, ...]:
        """The contract's operations, in declaration order."""
        contract = _contract_class(cls)
        return tuple(
            _spec_of(contract, attr_name, func)
            for attr_name, func in vars(contract).items()
            if hasattr(func, "__carve_operation__")
        )


def _contract_class(cls: type[Contract]) -> type[Contract]:
    """The class in the MRO that declares the operations (implementations subclass it)."""
    for klass in cls.__mro__:
        if any(hasattr(v, "__carve_operation__") for v in vars(klass).values()):
            return klass
    return cls


def _spec_of(contract: type, attr_name: str, func: Callable[..., Any]) -> OperationSpec:
    marks = func.__carve_operation__  # type: ignore[attr-defined]
    hints = typing.get_type_hints(func, include_extras=True)
    path_names = _path_names(marks["path"])
    params = []
    for p in list(inspect.signature(func).parameters.values())[1:]:
        annotation = hints.get(p.name, Any)
        params.append(
            Parameter(p.name, annotation, _location(p.name, annotation, path_names, marks),
                      p.default)
        )
    bodies = [p for p in params if p.location == "body"]
    if len(bodies) > 1:
        raise TypeError(f"{contract.__name__}.{attr_name}: at most one body model is allowed")
    return OperationSpec(
        name=attr_name,
        method=marks["method"],
        path=marks["path"],
        status_code=marks["status_code"],
        idempotent=marks["idempotent"],
        summary=inspect.getdoc(func) or attr_name.replace("_", " "),
        parameters=tuple(params),
        returns=hints.get("return", None),
    )


def _location(name: str, annotation: Any, path_names: set[str], marks: dict[str, Any]) -> str:
    if name in path_names:
        return "path"
    if marks["method"] in _BODY_METHODS and _is_model(annotation):
        return "body"
    return "query"


def _is_model(annotation: Any) -> bool:
    return inspect.isclass(annotation) and issubclass(annotation, BaseModel)


def _path_names(path: str) -> set[str]:
    return {part[1:-1].split(":")[0] for part in path.split("/") if part.startswith("{")}
