"""Errors a contract declares: each has an HTTP status and a stable code.

Every binding raises the same subclass: the local binding raises it directly,
the server binding turns it into a problem body, and the client binding turns
the problem body back into the subclass registered under its ``code``.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ContractError(Exception):
    """Base of every error a caller of a contract can handle."""

    status_code: ClassVar[int] = 400
    code: ClassVar[str] = "contract.error"
    title: ClassVar[str] = "Contract error"
    _registry: ClassVar[dict[str, type[ContractError]]] = {}

    def __init__(self, detail: str = "", **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "code" in vars(cls):
            ContractError._registry[cls.code] = cls

    @classmethod
    def for_code(cls, code: str) -> type[ContractError] | None:
        """The subclass declared with this code, if any contract declares it."""
        return cls._registry.get(code)

    def problem(self) -> dict[str, Any]:
        """The RFC 9457 problem body for this error."""
        return {
            "type": f"urn:carve:problem:{self.code}",
            "title": self.title,
            "status": self.status_code,
            "detail": self.detail,
            "code": self.code,
            **self.extra,
        }


class RequestInvalid(ContractError):
    """The request does not match the contract's shapes."""

    status_code = 422
    code = "request.invalid"
    title = "Request is invalid"


class ServiceUnavailable(ContractError):
    """The service behind a remote binding could not answer."""

    status_code = 503
    code = "service.unavailable"
    title = "Service unavailable"
